"""The master data's personal data: a customer's name and contact details (subject ``customer:<entity_key>``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from datastrata.mdm.records import MASTER_DATA_ACTIVATED, MASTER_DATA_CHANGED
from datastrata.tenancy.personal import declare_personal, declare_personal_column, declare_personal_copies

if TYPE_CHECKING:
    from datastrata.runtime import Runtime

#: The subject prefix of a customer.
SUBJECT_PREFIX = "customer:"
#: The attributes of a customer that identify or reach a person (products and suppliers hold none).
PERSONAL_ATTRIBUTES = ("name", "email", "phone", "address")
_CUSTOMER = {"entity_type": "customer"}


def customer_subject(payload: Mapping[str, Any]) -> str | None:
    """The subject of a master-data event: ``customer:<key>`` for a customer, None for anything else."""
    if payload.get("entity_type") != "customer":
        return None
    return SUBJECT_PREFIX + str(payload["entity_key"])


def _in(*prefixes: str) -> tuple[str, ...]:
    return tuple(f"{p}.{a}" if p else a for p in prefixes for a in PERSONAL_ATTRIBUTES)


declare_personal(MASTER_DATA_CHANGED, _in("before", "after", "replaced.*.attributes"), subject=customer_subject)
declare_personal(MASTER_DATA_ACTIVATED, _in("attributes"), subject=customer_subject)
for _table, _column, _fields in (
    ("master_data_versions", "attributes", _in("")),
    ("master_data_current", "attributes", _in("")),
    ("master_data_audit", "before", _in("")),
    ("master_data_audit", "after", _in("")),
    ("master_data_audit", "replaced", _in("*.attributes")),
):
    declare_personal_column(_table, _column, "entity_key", fields=_fields, where=_CUSTOMER, prefix=SUBJECT_PREFIX)
declare_personal_column("masterdata_customer_copies", "attributes", "entity_key", fields=_in(""), prefix=SUBJECT_PREFIX)


def _drop_cached(runtime: Runtime, subject: str) -> bool:
    """Drop the cached customer record (the cache is shared: every process reads the store again)."""
    if not subject.startswith(SUBJECT_PREFIX):
        return False
    from datastrata.systems.masterdata.service import MasterDataService

    service: MasterDataService = runtime.service("masterdata", MasterDataService)
    service.reader.invalidate("customer", subject[len(SUBJECT_PREFIX) :])
    return True


declare_personal_copies("masterdata.cache", _drop_cached)
