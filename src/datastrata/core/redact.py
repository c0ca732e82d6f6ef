"""Secrets never leave the process: URLs are shown with passwords and keys removed."""

from __future__ import annotations

import re

_USERINFO = re.compile(r"//([^:/@]+):[^@/]*@")
_SECRET_PARAM = re.compile(r"([?&](?:password|passwd|secret|token|key|sslpassword)=)[^&]*", re.IGNORECASE)


def redact_url(url: str) -> str:
    """Return `url` with its password (user info or query parameter) replaced by ``***``."""
    return _SECRET_PARAM.sub(r"\1***", _USERINFO.sub(r"//\1:***@", url))


def describe_error(exc: BaseException) -> str:
    """Return an error as one line for health, logs and dead letters (its type and first line), secrets removed."""
    text = str(exc)
    return redact_url(f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__)
