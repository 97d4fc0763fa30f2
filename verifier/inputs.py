"""Checks on identifier-like arguments, so bad input is refused naming the field."""

from __future__ import annotations

from .errors import InvalidRequest


def text_arg(name: str, value: object, limit: int, optional: bool = False) -> str | None:
    """``value`` if it is a printable string of 1..``limit`` characters (or None when optional)."""
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value or len(value) > limit:
        raise InvalidRequest(f"{name} must be a non-empty string of at most {limit} characters")
    if not value.isprintable():
        raise InvalidRequest(f"{name} must not contain control characters")
    return value
