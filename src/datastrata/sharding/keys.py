"""Shard keys: the one way a str, bytes or int key becomes bytes, its 64-bit hash, its order and its JSON form."""

from __future__ import annotations

from typing import Any

import xxhash

from datastrata.core.errors import ValidationError

#: A key a router takes: text (UTF-8), raw bytes, or a signed 64-bit integer.
Key = str | bytes | int
#: The longest encoded key a router takes, in bytes.
KEY_MAX_BYTES = 1024
#: The key types, by the name a router's dict records.
KEY_TYPES: dict[str, type] = {"str": str, "bytes": bytes, "int": int}
_INT_MIN = -(2**63)
_INT_MAX = 2**63 - 1
_SIGN = 1 << 63
_hash = xxhash.xxh3_64_intdigest


def key_type(key: object, *, field: str = "key") -> str:
    """Return the type name of `key` (``str``, ``bytes`` or ``int``); anything else is refused."""
    if isinstance(key, bool) or not isinstance(key, (str, bytes, int)):
        raise ValidationError(f"{field} must be text, bytes or a whole number; got {type(key).__name__}", field=field)
    return "str" if isinstance(key, str) else "bytes" if isinstance(key, bytes) else "int"


def encode_key(key: Key, *, field: str = "key") -> bytes:
    """Return `key`'s bytes: text as UTF-8, bytes as they are, an int as 8 big-endian bytes with the sign bit
    flipped (so byte order is numeric order); refuse other types, ints outside 64 bits and over-long keys."""
    if isinstance(key, str):
        try:
            data = key.encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationError(f"{field} must be valid Unicode text (no lone surrogates)", field=field) from None
    elif isinstance(key, bytes):
        data = key
    elif isinstance(key, int) and not isinstance(key, bool):
        if not _INT_MIN <= key <= _INT_MAX:
            raise ValidationError(
                f"{field} must be a signed 64-bit whole number ({_INT_MIN}..{_INT_MAX}); got {key}", field=field
            )
        return ((key + _SIGN) & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "big")
    else:
        key_type(key, field=field)
        raise AssertionError("unreachable")  # key_type raised
    if len(data) > KEY_MAX_BYTES:
        raise ValidationError(
            f"{field} must be at most {KEY_MAX_BYTES} bytes once encoded (it is refused, not truncated); "
            f"got {len(data)}",
            field=field,
        )
    return data


def hash_key(key: Key, seed: int = 0) -> int:
    """Return the 64-bit xxh3 hash of `key`'s encoding (the same in every process: no salt)."""
    return _hash(encode_key(key), seed)


def hash_bytes(data: bytes, seed: int = 0) -> int:
    """Return the 64-bit xxh3 hash of `data`."""
    return _hash(data, seed)


def key_to_json(key: Key) -> Any:
    """Return `key` as JSON: text and ints as themselves, bytes as ``{"hex": "…"}``."""
    return {"hex": key.hex()} if isinstance(key, bytes) else key


def key_from_json(value: Any, *, field: str) -> Key:
    """Return the key a JSON value names (the inverse of :func:`key_to_json`), checked like any key."""
    if isinstance(value, dict) and set(value) == {"hex"} and isinstance(value["hex"], str):
        try:
            key: Key = bytes.fromhex(value["hex"])
        except ValueError:
            raise ValidationError(
                f"{field} must be hex digits in {{'hex': …}}; got {value['hex'][:40]!r}", field=field
            ) from None
    elif isinstance(value, (str, int)) and not isinstance(value, bool):
        key = value
    else:
        raise ValidationError(
            f"{field} must be text, a whole number or {{'hex': '…'}} for bytes; got {str(value)[:40]!r}", field=field
        )
    encode_key(key, field=field)
    return key
