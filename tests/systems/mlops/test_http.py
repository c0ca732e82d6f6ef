"""The pipeline over HTTP: commands answer 201 with their events, long work and restores 202, errors problem+json."""

from __future__ import annotations

import base64
from pathlib import Path

from datastrata.api import create_app
from datastrata.core.config import Settings
from datastrata.security.keys import KeyStore
from tests.conftest import ApiClient, finished_job


def test_the_pipeline_over_http(store_url: str, tmp_path: Path, api_client: ApiClient) -> None:
    settings = Settings(store=store_url, objects=f"file://{tmp_path / 'objects'}")
    with api_client(create_app(settings, worker=False)) as http:
        view = {"name": "customer", "entity": "customer_id", "features": {"spend": "float64"}}
        assert http.post("/mlops/feature-views", json=view).status_code == 201
        bad = http.post("/mlops/feature-views", json={**view, "name": "other", "features": {"spend": "decimal"}})
        assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
        changed = http.post("/mlops/feature-views", json={**view, "features": {"spend": "int64"}})
        assert changed.status_code == 409 and "new name" in changed.json()["detail"]
        rows = [
            {"customer_id": "a", "event_time": "2026-03-01T00:00:00Z", "spend": 2.0},
            {"customer_id": "a", "event_time": "2026-03-02T00:00:00Z", "spend": 4.0},
        ]
        ingested = http.post(
            "/mlops/feature-views/customer/values", json={"rows": rows}, headers={"Idempotency-Key": "v-1"}
        )
        assert ingested.status_code == 201 and ingested.json()["events"][0]["payload"]["parts"] == 2
        refused = http.post("/mlops/feature-views/customer/values", json={"rows": [{"customer_id": "a"}]})
        assert refused.status_code == 422 and "event_time" in refused.json()["detail"]
        job = finished_job(http, http.post("/mlops/materializations"))
        assert job["state"] == "succeeded" and job["result"]["parts"] == 2
        online = http.get("/mlops/feature-views/customer/online", params={"entity": ["a", "b"]}).json()
        assert [(o["status"], o["features"]) for o in online] == [("found", {"spend": 4.0}), ("missing", None)]
        labels = [{"customer_id": "a", "label_time": "2026-03-01T12:00:00Z", "label": 1}]
        training = http.post("/mlops/training-sets", json={"views": ["customer"], "labels": labels})
        assert training.status_code == 200 and training.json()["rows"][0]["spend"] == 2.0

        artifact = base64.b64encode(b"weights").decode()
        assert http.post("/mlops/models/churn/versions", json={"artifact_base64": artifact}).status_code == 201
        alias = http.put("/mlops/models/churn/aliases/champion", json={"version": 1})
        assert alias.status_code == 409 and "approve it first" in alias.json()["detail"]
        assert http.post("/mlops/models/churn/versions/1/stage", json={"stage": "approved"}).status_code == 200
        assert http.put("/mlops/models/churn/aliases/champion", json={"version": 1}).status_code == 200
        assert http.get("/mlops/models/churn/versions").json()[0]["aliases"] == ["champion"]
        assert http.get("/mlops/models/nope/versions").json() == []
        archived = finished_job(http, http.post("/mlops/archive"))
        assert archived["state"] == "succeeded" and archived["result"]["moved"] == []
        restore = http.post("/mlops/models/churn/versions/1/restore", json={"tier": "standard"})
        assert restore.status_code == 422 and "readable as it is" in restore.json()["detail"]
        capture = {"version": "champion", "inputs": [{"spend": 3.0}, {"spend": 5.0}], "predictions": [0.2, 0.4]}
        assert http.post("/mlops/inference/churn/batches", json=capture).status_code == 201
        missing = http.get("/mlops/inference/churn/drift", params={"feature": "spend", "baseline": "none"})
        assert missing.status_code == 404
        runtime = http.app.state.runtime  # type: ignore[attr-defined]
        _, key = KeyStore(runtime.db, clock=runtime.clock).create(role="editor", note="test")
        editor = {"Authorization": f"Bearer {key}"}
        assert http.post("/mlops/archive", headers=editor).status_code == 403  # spans tenants: an operator action
        accepted = http.post("/mlops/materializations", headers=editor)
        assert finished_job(http, accepted)["state"] == "succeeded"  # polled with the admin key (/jobs is admin)
        assert http.get("/mlops/models", headers={"Authorization": "Bearer nope"}).status_code == 401
