"""`POST /design`: the design advisor over HTTP."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict

from datastrata.design.advisor import design
from datastrata.design.loading import parse_spec
from datastrata.design.render_json import report_to_json
from datastrata.design.render_md import render_markdown


class DesignReportOut(BaseModel):
    """The design report: per bounded context its strategies, technologies, schema and cost."""

    model_config = ConfigDict(extra="allow")

    system: str
    contexts: list[dict[str, Any]]


router = APIRouter()


@router.post(
    "/design",
    summary="Design a system from its requirements spec",
    response_model=DesignReportOut,
    responses={200: {"content": {"text/markdown": {"schema": {"type": "string"}}}}},
)
def post_design(
    spec: Annotated[dict[str, Any], Body(description="The requirements spec, as JSON.")],
    format: Annotated[Literal["md", "json"], Query(description="Response format.")] = "json",
) -> Response:
    """Return the design report as JSON (default) or Markdown; a bad spec raises ValidationError (422)."""
    report = design(parse_spec(spec))
    if format == "md":
        return PlainTextResponse(render_markdown(report), media_type="text/markdown; charset=utf-8")
    return JSONResponse(report_to_json(report))
