"""``POST /subjects/{subject}/erase``: erase a data subject of the caller's tenant (an admin action)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field

from datastrata.api.contract import problems
from datastrata.runtime import Runtime
from datastrata.security.auth import principal_of
from datastrata.tenancy.erasure import SUBJECT_MAX, erase

router = APIRouter(tags=["tenancy"])
SubjectPath = Annotated[
    str, Path(min_length=1, max_length=SUBJECT_MAX, description="A data subject, e.g. user:u1 or customer:C-1")
]


class EraseIn(BaseModel):
    """Why the subject is erased (recorded with the erasure)."""

    reason: str = Field("", max_length=500, description="e.g. the request's reference")


class ErasedOut(BaseModel):
    """What an erasure did."""

    tenant: str
    subject: str
    key_deleted: bool = Field(description="False: no key was held (nothing of this subject was sealed)")
    cleared: dict[str, int] = Field(description="Rows cleared per declared column, `table.column`")
    copies: dict[str, str] = Field(description="Each holder of copies (a cache) and whether it dropped them")
    token: int = Field(description="The position of the SubjectErased event (a consistency token)")
    log: str


@router.post("/subjects/{subject}/erase", response_model=ErasedOut, responses=problems(403, 422))
def post_erase(request: Request, subject: SubjectPath, body: EraseIn | None = None) -> ErasedOut:
    """Erase a subject: its key is deleted (sealed fields read "[erased]"), its columns are cleared, recorded."""
    runtime: Runtime = request.app.state.runtime
    actor = principal_of(request).key_id
    done = erase(runtime, subject, actor=actor, reason=(body or EraseIn()).reason)
    return ErasedOut(**done.to_dict())
