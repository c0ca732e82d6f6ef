"""Where a studio's footage lives: ``tenants/<studio>/content/<stage>/<item>/footage-v<n>`` in its location's objects.

Under the tenant's own prefix, as every tenant object is (docs/tenancy.md), so a tenant's export, offboarding and move
find its footage; under it, the stage's prefix, which the stage's storage policy places (``policy.yaml``,
``archived.yaml``, run per studio by the lifecycle job). Footage stored before that layout keeps its recorded key
(``content/<stage>/<studio>/<item>/footage-v<n>``) until its next stage change.
"""

from __future__ import annotations


def tenant_prefix(tenant: str) -> str:
    """The prefix of every object of `tenant` in a location's object store."""
    return f"tenants/{tenant}/"


def footage_key(stage: str, tenant: str, item_id: str, version: int = 1) -> str:
    """Where a version of an item's footage lives in its stage's prefix (the policy's dataset of that stage).

    Each version has its own key, so a command that fails before its commit never touched the stored version.
    """
    return f"{tenant_prefix(tenant)}content/{stage}/{item_id}/footage-v{version}"


def footage_owner(key: str) -> tuple[str, str] | None:
    """The (studio, item) of a footage key, in either layout; None for any other key."""
    parts = key.split("/")
    if len(parts) == 6 and parts[0] == "tenants" and parts[2] == "content":
        return parts[1], parts[4]
    if len(parts) == 5 and parts[0] == "content":  # recorded before footage lived under the tenant's prefix
        return parts[2], parts[3]
    return None
