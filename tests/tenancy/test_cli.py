"""``datastrata tenants`` and the root ``--tenant``: fail closed once tenants exist; --json shapes; no secrets."""

from __future__ import annotations

import base64
import json

import pytest
from typer.testing import CliRunner

from datastrata.cli import app
from datastrata.runtime import LocationSpec, Runtime
from datastrata.tenancy import models
from datastrata.tenancy.secrets import KEY_VARIABLE

runner = CliRunner()
SILO = "postgresql://acme_owner:s3cret-pw@db.acme.example:5432/acme"


class _SiloAt:
    """A dedicated-infrastructure provisioner naming the server `--store` gives."""

    def provision(self, runtime: Runtime, tenant: str, *, store: str | None = None) -> LocationSpec | None:
        return LocationSpec(f"{tenant}-silo", store or "", "", "")

    def destroy(self, runtime: Runtime, tenant: str, spec: LocationSpec | None) -> None:
        """Nothing was made."""


def ds(store: str, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--store", store, *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def test_after_tenants_add_a_command_with_no_tenant_exits_non_zero_naming_tenant(sqlite_url: str) -> None:
    assert ds(sqlite_url, "portfolio", "deposit", "P1", "100")[0] == 0  # one tenant: as before
    code, out, _ = ds(sqlite_url, "tenants", "add", "acme", "--tier", "indie")
    assert code == 0 and out.startswith("added acme") and "1 TB" in out
    code, out, err = ds(sqlite_url, "portfolio", "deposit", "P1", "100")
    assert code == 2 and "--tenant" in err and "DATASTRATA_TENANT" in err and out == ""
    assert ds(sqlite_url, "--tenant", "acme", "portfolio", "deposit", "P9", "7")[0] == 0
    code, out, _ = ds(sqlite_url, "portfolio", "state", "P9", "--json", env={"DATASTRATA_TENANT": "acme"})
    assert code == 0 and json.loads(out)["cash"] == "7.00"
    assert ds(sqlite_url, "--tenant", "Not Valid", "portfolio", "state", "P9")[0] == 2
    code, out, _ = ds(sqlite_url, "tenants", "show", "acme", "--json")
    assert code == 0 and json.loads(out)["usage"]["bytes"] > 0


def test_json_shapes_of_add_list_show_and_keys(sqlite_url: str) -> None:
    code, out, _ = ds(sqlite_url, "tenants", "add", "acme", "--tier", "indie", "--json")
    added = json.loads(out)
    assert code == 0 and set(added) == {
        "tenant",
        "tier",
        "model",
        "state",
        "epoch",
        "location",
        "usage",
        "monthly_usd",
        "sla_percent",
        "rate",
        "created_at",
        "updated_at",
    }
    assert added["rate"] == {"per_second": 20.0, "burst": 40} and added["usage"]["quota_bytes"] == 10**12
    listed = json.loads(ds(sqlite_url, "tenants", "list", "--json")[1])
    assert [t["tenant"] for t in listed] == ["acme"] and listed[0] == json.loads(
        ds(sqlite_url, "tenants", "show", "acme", "--json")[1]
    )
    code, out, _ = ds(sqlite_url, "tenants", "keys", "create", "acme", "--role", "editor", "--json")
    key = json.loads(out)
    assert code == 0 and (key["tenant"], key["role"], key["state"]) == ("acme", "editor", "active")
    assert key["key"].startswith(key["key_id"] + ".")
    code, out, _ = ds(sqlite_url, "tenants", "keys", "revoke", key["key_id"], "--json")
    assert code == 0 and json.loads(out)["state"] == "revoked"
    code, out, _ = ds(sqlite_url, "tenants", "set-tier", "acme", "--tier", "enterprise", "--json")
    assert code == 0 and json.loads(out)["usage"]["quota"] == "unlimited"
    code, out, err = ds(sqlite_url, "tenants", "keys", "create", "nobody", "--role", "viewer")
    assert code == 2 and "not in the catalogue" in err and out == ""
    code, _, err = ds(sqlite_url, "tenants", "show", "nobody")
    assert code == 2 and "no tenant 'nobody'" in err
    code, _, err = ds(sqlite_url, "tenants", "add", "beta", "--tier", "gold")
    assert code == 2 and "tier must be one of" in err
    assert [t["tenant"] for t in json.loads(ds(sqlite_url, "tenants", "list", "--json")[1])] == ["acme"]


def test_a_silo_password_is_never_printed(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(models.PROVISIONERS, "dedicated-infrastructure", _SiloAt())
    monkeypatch.delenv(KEY_VARIABLE)
    code, _, err = ds(sqlite_url, "tenants", "add", "acme", "--tier", "enterprise", "--store", SILO)
    assert code == 2 and KEY_VARIABLE in err and "s3cret" not in err  # no key: refused before anything is stored
    monkeypatch.setenv(KEY_VARIABLE, base64.urlsafe_b64encode(b"k" * 32).decode())
    outputs = [
        ds(sqlite_url, "tenants", "add", "acme", "--tier", "enterprise", "--store", SILO),
        ds(sqlite_url, "tenants", "list"),
        ds(sqlite_url, "tenants", "list", "--json"),
        ds(sqlite_url, "tenants", "show", "acme"),
        ds(sqlite_url, "tenants", "show", "acme", "--json"),
    ]
    assert all(code == 0 for code, _, _ in outputs)
    assert all("s3cret" not in out + err for _, out, err in outputs)
    assert "acme_owner:***@db.acme.example" in outputs[3][1]
