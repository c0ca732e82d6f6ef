"""Master data management: a bitemporal store of customers, products, suppliers and user-defined entity types."""

from datastrata.mdm.records import (
    MASTER_DATA_ACTIVATED,
    MASTER_DATA_CHANGED,
    AuditEntry,
    Change,
    MasterRecord,
    stream_id,
)
from datastrata.mdm.store import ChangeListener, MasterDataStore, activation_event_id
from datastrata.mdm.temporal import Period
from datastrata.mdm.types import BUILT_IN, CUSTOMER, PRODUCT, SUPPLIER, EntityType, FieldSpec, TypeRegistry

__all__ = [
    "BUILT_IN",
    "CUSTOMER",
    "MASTER_DATA_ACTIVATED",
    "MASTER_DATA_CHANGED",
    "PRODUCT",
    "SUPPLIER",
    "AuditEntry",
    "Change",
    "ChangeListener",
    "EntityType",
    "FieldSpec",
    "MasterDataStore",
    "MasterRecord",
    "Period",
    "TypeRegistry",
    "activation_event_id",
    "stream_id",
]
