"""The platform over HTTP (a region header, problem+json) and from the shell (--tenant, --region, --json)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from typer.testing import CliRunner

from datastrata.api import create_app
from datastrata.cli import app
from datastrata.core.config import Settings
from tests.conftest import ApiClient, finished_job


def test_the_platform_over_http(sqlite_url: str, tmp_path: Path, api_client: ApiClient) -> None:
    settings = Settings(store=sqlite_url, objects=f"file://{tmp_path / 'objects'}")
    footage = base64.b64encode(b"raw").decode()
    asia = {"X-Datastrata-Region": "asia"}
    with api_client(create_app(settings, worker=False)) as http:
        body = {"item_id": "s1", "title": "Asia", "footage": footage, "regions": ["asia"], "budget": "150000000"}
        made = http.post("/content/items", json=body, headers={**asia, "Idempotency-Key": "u-1"})
        assert made.status_code == 201 and made.json()["events"][0]["payload"]["placement"] == "premium"
        again = http.post("/content/items", json=body, headers={**asia, "Idempotency-Key": "u-1"})
        assert again.status_code == 201 and again.json()["duplicate"]
        bad = http.post("/content/items", json={**body, "item_id": "s2", "budget": "1e9"}, headers=asia)
        assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
        assert http.get("/content/items/s1", headers={"X-Datastrata-Region": "europe"}).status_code == 404
        assert http.get("/content/items/s1").status_code == 404
        assert http.post("/content/items/s1/publish", json={}, headers=asia).status_code == 200
        item = http.get("/content/items/s1", headers=asia).json()
        assert item["stage"] == "published" and [r["bitrate"] for r in item["renditions"]] == [
            "15000k",
            "5000k",
            "2500k",
            "1000k",
        ]
        wrong = http.post("/content/items/s1/publish", json={}, headers=asia)
        assert wrong.status_code == 409 and "it can: archive" in wrong.json()["detail"]
        views = {"hour": "2020-01-01T10:00:00Z", "views": {"asia": 5}}
        assert http.post("/content/items/s1/views", json=views, headers=asia).status_code == 200
        assert http.get("/content/cost").json()["storage"]["STANDARD"]["objects"] == 1
        assert http.get("/content/shared/other-studio/s1/status").status_code == 404
        job = finished_job(http, http.post("/content/lifecycle"))
        assert job["state"] == "succeeded" and job["result"]["moved"] == []


def test_the_platform_from_the_shell(sqlite_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["content", "--store", sqlite_url, "--objects", f"file://{tmp_path / 'objects'}"]
    (tmp_path / "cut.mov").write_bytes(b"raw cut")

    def run(tenant: str, *args: str) -> tuple[int, str]:
        result = runner.invoke(app, [*base, "--tenant", tenant, *args])
        return result.exit_code, result.output

    code, out = run("madrid-studio", "upload", "f1", str(tmp_path / "cut.mov"), "--title", "Rodaje", "--json")
    assert code == 0 and json.loads(out)["events"][0]["payload"]["placement"] == "basic"
    code, out = run("madrid-studio", "grants", "add", "f1", "--to", "toronto-post", "--permission", "footage:write")
    assert code == 0 and json.loads(out)["state"] == "active"
    (tmp_path / "graded.mov").write_bytes(b"graded")
    code, out = run(
        "toronto-post", "grants", "footage", "f1", "--owner", "madrid-studio", "--put", str(tmp_path / "graded.mov")
    )
    assert code == 0 and "FootageReplaced" in out
    code, out = run("paris-management", "show", "f1", "--owner", "madrid-studio")
    assert code == 2 and "no item 'f1'" in out
    code, out = run("toronto-post", "grants", "list", "--json")
    assert code == 0 and [a["action"] for a in json.loads(out)["audit"]] == ["granted", "used:footage:write"]
    code, out = run("madrid-studio", "publish", "f1")
    assert code == 0 and "RenditionsRecorded" in out
    code, out = run("madrid-studio", "views", "f1", "--count", "eu=12", "--hour", "2026-01-01T10:00:00Z")
    assert code == 0 and "ViewsRecorded" in out
    code, out = run("madrid-studio", "views", "f1", "--count", "eu")
    assert code == 2 and "REGION=VIEWS" in out
    code, out = run("madrid-studio", "cost")
    assert code == 0 and "madrid-studio (indie, shared): 500" in out
    code, out = run("madrid-studio", "lifecycle", "run", "--json")
    assert code == 0 and json.loads(out)["moved"] == []
