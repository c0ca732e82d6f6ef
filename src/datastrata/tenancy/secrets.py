"""Secrets of the catalogue (a silo's store URL with its password): AES-GCM with a key from the environment.

The catalogue stores only ciphertext (``v1:`` + base64 of nonce and sealed bytes); the tenant id is the associated
data, so a ciphertext copied onto another tenant's row does not open. The key is 32 random bytes, base64 (or hex),
in ``DATASTRATA_TENANT_SECRET_KEY``; nothing here prints, logs or returns it. It is the one platform key: the
subject keys of erasure (:mod:`datastrata.tenancy.subject_keys`) are wrapped with it too.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Iterator
from contextlib import contextmanager

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from datastrata.core.errors import ConfigurationError

#: The environment variable holding the catalogue's key.
KEY_VARIABLE = "DATASTRATA_TENANT_SECRET_KEY"
_PREFIX = "v1:"
_NONCE = 12
_MAKE_ONE = 'python -c "import base64,secrets; print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())"'


def platform_cipher(purpose: str = "the catalogue keeps tenant store credentials encrypted with it") -> AESGCM:
    """The platform key as an AES-256-GCM cipher; refused, naming the variable, `purpose` and the fix, without it.

    The key is 32 bytes as base64 (44 characters) or as 64 hex digits.
    """
    text = os.environ.get(KEY_VARIABLE, "").strip()
    if not text:
        raise ConfigurationError(
            f"{KEY_VARIABLE} is not set: {purpose}; set it to 32 random bytes in base64 "
            f"(make one with: {_MAKE_ONE}) in every process of this store",
            field=KEY_VARIABLE,
        )
    try:
        raw = bytes.fromhex(text) if len(text) == 64 else base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ConfigurationError(
            f"{KEY_VARIABLE} must be 32 bytes in base64 (44 characters) or 64 hex digits; got {len(text)} "
            f"characters that are not; make one with: {_MAKE_ONE}",
            field=KEY_VARIABLE,
        )
    return AESGCM(raw)


def _key() -> AESGCM:
    return platform_cipher()


@contextmanager
def temporary_key() -> Iterator[None]:
    """Set a random platform key for the block when none is set (stores thrown away after it: the tour)."""
    if os.environ.get(KEY_VARIABLE, "").strip():
        yield
        return
    os.environ[KEY_VARIABLE] = base64.urlsafe_b64encode(os.urandom(32)).decode()
    try:
        yield
    finally:
        os.environ.pop(KEY_VARIABLE, None)


def require_key() -> None:
    """Refuse now, naming the variable, when the catalogue's key is missing or malformed (before making anything)."""
    _key()


def seal(tenant: str, plaintext: str) -> str:
    """Return `plaintext` encrypted for `tenant`'s catalogue row (a fresh nonce each time)."""
    nonce = os.urandom(_NONCE)
    sealed = _key().encrypt(nonce, plaintext.encode(), tenant.encode())
    return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()


def open_sealed(tenant: str, ciphertext: str) -> str:
    """Return the plaintext of `tenant`'s `ciphertext`; a wrong key or a row of another tenant is refused."""
    if not ciphertext.startswith(_PREFIX):
        raise ConfigurationError(f"tenant {tenant!r}: its stored credentials are not a v1 ciphertext")
    try:
        raw = base64.urlsafe_b64decode(ciphertext[len(_PREFIX) :])
        return _key().decrypt(raw[:_NONCE], raw[_NONCE:], tenant.encode()).decode()
    except (InvalidTag, binascii.Error, ValueError):
        raise ConfigurationError(
            f"tenant {tenant!r}: its stored credentials do not open with {KEY_VARIABLE}; "
            "set the key this catalogue was written with"
        ) from None
