"""The HTTP side of the idempotency rule: the ``Idempotency-Key`` header or the body's ``event_id``, never two."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header
from pydantic import BaseModel, Field

from datastrata.core.errors import ValidationError
from datastrata.writes.idempotency import MAX_KEY

#: Printable ASCII, not starting with a space: what a client may choose as a key.
KEY_PATTERN = r"^[!-~][ -~]*$"
_HELP = (
    "Idempotency key: a retry with the same key and content returns the stored result and writes nothing; "
    "other content under the key is refused (409). Kept for at least 24 hours."
)

EventIdField = Annotated[str | None, Field(default=None, min_length=1, max_length=MAX_KEY, pattern=KEY_PATTERN)]


class Keyed(BaseModel):
    """A command body that may carry its idempotency key as ``event_id`` (or send the header instead)."""

    event_id: EventIdField = Field(default=None, description=_HELP)


@dataclass(frozen=True, slots=True)
class CommandKey:
    """The ``Idempotency-Key`` header of a command request, to reconcile with the body's ``event_id``."""

    header: str | None

    def with_body(self, body: str | None) -> str | None:
        """Return the request's key; a header and a body key that differ are refused (422)."""
        if self.header is not None and body is not None and self.header != body:
            raise ValidationError(
                f"the Idempotency-Key header {self.header!r} and the body's event_id {body!r} differ; "
                "send the key once, or the same key in both",
                field="Idempotency-Key",
            )
        return self.header if self.header is not None else body


def _command_key(
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", min_length=1, max_length=MAX_KEY, pattern=KEY_PATTERN, description=_HELP),
    ] = None,
) -> CommandKey:
    return CommandKey(idempotency_key)


#: The dependency every command route takes: ``key.with_body(body.event_id)`` is the command's key.
KeyHeader = Annotated[CommandKey, Depends(_command_key)]
