"""The food system's personal data: a user's home position (subject ``user:<user_id>``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from datastrata.systems.food import domain
from datastrata.tenancy.personal import declare_personal, declare_personal_column

#: The subject prefix of a food user.
SUBJECT_PREFIX = "user:"


def user_subject(payload: Mapping[str, Any]) -> str:
    """The subject of a user event: ``user:<user_id>``."""
    return SUBJECT_PREFIX + str(payload["user_id"])


for _type in (domain.USER_REGISTERED, domain.USER_UPDATED):
    declare_personal(_type, ("lat", "lon"), subject=user_subject)
# The position columns are NOT NULL numbers: an erased user stands at 0, 0 (see docs/decisions.md).
for _column in ("lat", "lon"):
    declare_personal_column("food_users", _column, "user_id", erased=0.0, prefix=SUBJECT_PREFIX)
