"""Numbers rounded to what their interval supports, for the product owner's page.

A mean with a 95 % half-width of 1,210.77 is not known to the cent: ``1,039.07 ±
1,210.77`` claims six digits it does not have. The rule (the Particle Data Group's,
simplified): keep two significant digits of the half-width when its leading digit is 1,
else one, and round the mean to the same decimal place. So ``1,039.07 ± 1,210.77``
prints ``1,000 ± 1,200`` and ``0.4213 ± 0.0372`` prints ``0.42 ± 0.04``. A value with no
interval (or a zero one) keeps three significant digits.
"""

from __future__ import annotations

import math


def missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def place(half_width: float) -> int:
    """The decimal exponent to round to: -2 rounds to hundredths, 2 to hundreds."""
    exponent = math.floor(math.log10(half_width))
    if half_width / 10**exponent < 1.95:
        return exponent - 1  # two digits: 1.2 → 1.2, 0.0172 → 0.017
    # One digit; 0.96 to one digit is 1, so it rounds at the units, not the tenths.
    return exponent + 1 if round(half_width / 10**exponent) >= 10 else exponent


def _round(value: float, at: int) -> float:
    return round(value, -at) if at < 0 else round(value / 10**at) * 10**at


def _text(value: float, at: int, sign: bool) -> str:
    decimals = max(0, -at)
    text = f"{value:+,.{decimals}f}" if sign else f"{value:,.{decimals}f}"
    if text.lstrip("+-") in ("0", "0." + "0" * decimals):
        text = f"{0:,.{decimals}f}"  # no "-0" or "+0"
    return text


def rounded(value, half_width=None, sign: bool = False) -> tuple[str, str | None]:
    """``value`` and ``half_width`` as texts rounded to the interval (see the module)."""
    if missing(value):
        return "–", None
    value = float(value)
    if missing(half_width) or half_width <= 0 or not math.isfinite(half_width):
        at = math.floor(math.log10(abs(value))) - 2 if value else 0
        return _text(_round(value, at), min(at, 0) if at < 0 else at, sign), None
    at = place(float(half_width))
    return _text(_round(value, at), at, sign), _text(_round(float(half_width), at), at, False)


def with_interval(value, half_width=None, unit: str = "", sign: bool = False) -> str:
    """``1,000 ± 1,200`` (plus ``unit``), or the bare value when there is no interval."""
    mean, hw = rounded(value, half_width, sign)
    if mean == "–":
        return mean
    return f"{mean} ± {hw}{unit}" if hw is not None else f"{mean}{unit}"


def amount(value, half_width=None) -> str:
    """The unsigned size of a change, rounded to its interval (for "N more orders")."""
    if missing(value):
        return "–"
    return rounded(abs(float(value)), half_width)[0]
