"""The first sealed envelope (read only): ``"$personal": {"subject", "paths", "sealed"}``, a nested JSON object.

Events appended before the compact envelope (:mod:`datastrata.tenancy.sealing`, format 2) hold their personal
values as ``sealed``: base64 of a nonce and the AES-GCM ciphertext of ``{"v": [values]}``, with the tenant and the
subject as associated data; ``paths`` lists where each value goes. Nothing writes this format any more; every read
still opens it (or shows it erased), and a move or an export carries it as stored.
"""

from __future__ import annotations

import binascii
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from datastrata.core import codec
from datastrata.tenancy.personal import ERASED, masked


def subject_v1(envelope: dict[str, Any]) -> str:
    """The subject whose key sealed a first-format envelope."""
    return str(envelope.get("subject"))


def open_v1(cipher: AESGCM, tenant: str, payload: dict[str, Any], envelope: dict[str, Any]) -> bool:
    """Put the values of a first-format envelope back into `payload` and drop it; False (payload untouched) when
    `cipher` is not the key they were sealed with."""
    data = binascii.a2b_base64(envelope["sealed"])
    aad = f"{tenant}\x1f{subject_v1(envelope)}".encode()
    try:
        values: list[Any] = codec.loads(cipher.decrypt(data[:12], data[12:], aad))["v"]
    except InvalidTag:
        return False
    _restore(payload, envelope, values)
    return True


def erase_v1(payload: dict[str, Any], envelope: dict[str, Any]) -> None:
    """Mark the sealed fields of a first-format envelope erased in `payload` and drop it."""
    _restore(payload, envelope, None)


def _restore(payload: dict[str, Any], envelope: dict[str, Any], values: list[Any] | None) -> None:
    del payload["$personal"]
    paths = envelope.get("paths", ())
    for n, path in enumerate(paths):
        node: Any = payload
        for step in path[:-1]:
            node = node[step]
        last = path[-1]
        node[last] = masked(node[last], ERASED) if values is None else values[n]
