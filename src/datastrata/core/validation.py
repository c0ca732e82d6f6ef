"""The shared input rules: plain ASCII decimals within digits and decimals, bounded integers and floats, lengths.

Domain code, the CLI and HTTP all call these, so a value is refused the same way on every surface and nothing is
ever rounded or truncated: a value outside its bounds is a :class:`ValidationError` naming the field and the limit.
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

from datastrata.core.errors import ValidationError

#: Largest integer any query or body takes (PostgreSQL BIGINT); larger ones are refused, never a 500.
MAX_INT = 2**63 - 1
#: Plain decimal notation in ASCII digits: no exponent, no Unicode digits, no sign other than a leading '-'.
#: Longest wait for a consistency token, in seconds (CLI `--timeout`, HTTP `timeout`).
MAX_WAIT = 30.0
_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_INTEGER = re.compile(r"-?[0-9]{1,20}")
#: An integer in ASCII digits (for option parsers).
ASCII_INT = _INTEGER


def decimal_pattern(max_digits: int, max_decimals: int) -> str:
    """Return the regular expression (for OpenAPI) of a non-negative decimal within these bounds."""
    fraction = rf"(\.[0-9]{{1,{max_decimals}}})?" if max_decimals else ""
    return rf"^[0-9]{{1,{max_digits}}}{fraction}$"


def decimal_value(
    value: object,
    *,
    field: str,
    max_digits: int,
    max_decimals: int,
    minimum: Decimal | None = None,
    exclusive_minimum: bool = False,
) -> Decimal:
    """Parse `value` (text, int or Decimal) as an exact Decimal within `max_digits` before the point and
    `max_decimals` after it; refuse floats in exponent form, booleans, Unicode digits and anything out of range."""
    if isinstance(value, bool):
        raise ValidationError(f"{field} must be a number such as 175.50, not a boolean", field=field)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValidationError(f"{field} must be a finite number such as 175.50; got {value}", field=field)
        text = format(value, "f")
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError(f"{field} must be a finite number such as 175.50; got {value}", field=field)
        text = repr(value)
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise ValidationError(f"{field} must be a number such as 175.50; got {type(value).__name__}", field=field)
    limit = max_digits + max_decimals + 2
    if len(text) > limit or not _DECIMAL.fullmatch(text):
        shown = text if len(text) <= 40 else text[:40] + "…"
        raise ValidationError(
            f"{field} must be a plain decimal in ASCII digits such as 175.50 (no exponent, at most "
            f"{max_digits} digits before the point and {max_decimals} after); got {shown!r}",
            field=field,
        )
    whole, _, fraction = text.lstrip("-").partition(".")
    if len(whole.lstrip("0")) > max_digits or len(fraction.rstrip("0")) > max_decimals:
        raise ValidationError(
            f"{field} must have at most {max_digits} digits before the point and {max_decimals} after "
            f"(it is refused, not rounded); got {text}",
            field=field,
        )
    number = Decimal(text)
    if minimum is not None and (number <= minimum if exclusive_minimum else number < minimum):
        relation = "greater than" if exclusive_minimum else "at least"
        raise ValidationError(f"{field} must be {relation} {minimum}; got {text}", field=field)
    return number


def bounded_int(value: object, *, field: str, minimum: int = 0, maximum: int = MAX_INT) -> int:
    """Return `value` as an int within [minimum, maximum]; refuse booleans, floats and non-ASCII digits."""
    if isinstance(value, bool):
        raise ValidationError(f"{field} must be a whole number, not a boolean", field=field)
    if isinstance(value, str):
        text = value.strip()
        if len(text) > 20 or not _INTEGER.fullmatch(text):
            raise ValidationError(f"{field} must be a whole number in ASCII digits; got {value[:40]!r}", field=field)
        value = int(text)
    if not isinstance(value, int):
        raise ValidationError(f"{field} must be a whole number; got {type(value).__name__}", field=field)
    if not minimum <= value <= maximum:
        raise ValidationError(f"{field} must be between {minimum} and {maximum}; got {value}", field=field)
    return value


def bounded_float(value: object, *, field: str, minimum: float, maximum: float) -> float:
    """Return `value` as a finite float within [minimum, maximum]; refuse booleans, NaN and infinities."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValidationError(f"{field} must be a number between {minimum:g} and {maximum:g}", field=field)
    if isinstance(value, str):
        text = value.strip()
        if len(text) > 40 or not _DECIMAL.fullmatch(text):
            raise ValidationError(f"{field} must be a plain number in ASCII digits; got {value[:40]!r}", field=field)
        value = float(text)
    number = float(value)
    if not math.isfinite(number) or not minimum <= number <= maximum:
        raise ValidationError(f"{field} must be between {minimum:g} and {maximum:g}; got {value}", field=field)
    return number


def bounded_text(value: object, *, field: str, max_length: int, min_length: int = 1) -> str:
    """Return `value` if it is text of `min_length`..`max_length` characters (never truncated)."""
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be text; got {type(value).__name__}", field=field)
    if not min_length <= len(value) <= max_length:
        raise ValidationError(
            f"{field} must be {min_length}-{max_length} characters (it is refused, not truncated); got {len(value)}",
            field=field,
        )
    return value


def bounded_list(values: list[Any], *, field: str, max_items: int, min_items: int = 0) -> list[Any]:
    """Return `values` if it holds `min_items`..`max_items` entries."""
    if not min_items <= len(values) <= max_items:
        raise ValidationError(
            f"{field} must hold {min_items}-{max_items} entries; got {len(values)}",
            field=field,
        )
    return values


def bounded_wait(timeout: object) -> float:
    """Return a wait for a consistency token in seconds, 0..MAX_WAIT."""
    return bounded_float(timeout, field="timeout", minimum=0.0, maximum=MAX_WAIT)


def read_json_file(path: Path, *, field: str, what: str = "file") -> Any:
    """Return the JSON in `path`; a missing file or bad JSON is a ValidationError naming `field` and the place."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValidationError(f"{what} {str(path)!r} does not exist; check the path", field=field) from None
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f"{what} {str(path)!r} is not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
            field=field,
        ) from None
