"""Secrets never leave the process: URLs are shown with passwords and keys removed."""

from __future__ import annotations

import re
from collections.abc import Iterable

_USERINFO = re.compile(r"//([^:/@]+):[^@/]*@")
_SECRET_PARAM = re.compile(r"([?&](?:password|passwd|secret|token|key|sslpassword)=)[^&]*", re.IGNORECASE)
_ANY_USERINFO = re.compile(r"(//[^:/@\s]*):[^@\s]*@")
_KEYWORD = re.compile(r"\b(password|passwd|pwd|sslpassword)=('(?:[^'\\]|\\.)*'|[^&\s]*)", re.IGNORECASE)


def redact_url(url: str) -> str:
    """Return `url` with its password (user info or query parameter) replaced by ``***``."""
    return _SECRET_PARAM.sub(r"\1***", _USERINFO.sub(r"//\1:***@", url))


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Return free text (a tool's error, a message) with URL passwords, ``password=…`` and `secrets` as ``***``."""
    text = _KEYWORD.sub(r"\1=***", _ANY_USERINFO.sub(r"\1:***@", redact_url(text)))
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def describe_error(exc: BaseException) -> str:
    """Return an error as one line for health, logs and dead letters (its type and first line), secrets removed."""
    text = str(exc)
    return redact(f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__)
