"""Policy grids: the ``--grid`` syntax, the default grid per scenario, and grid points.

A grid names policy keys and the values to try, one ``key=v1,v2,…`` per argument::

    code.ttl_s=120,300,600  check.max_attempts=3,5,10  send.resend_cooldown_s=30/60/120,0

Commas separate the values tried; inside one value, ``/`` separates the entries of a
list-valued key (``send.resend_cooldown_s``, ``numbers.allowed_types``), so
``30/60/120,15/30/60`` tries two cooldown ladders and ``0`` is the one-entry ladder
``[0]``. Booleans are ``true``/``false``. Every value is checked by building the policy
with ``Policy.replace``, so an unknown key or an out-of-range value raises the engine's
own :class:`~verifier.errors.ConfigError` naming the key.

A grid expands to the full cartesian product of its values; the shipped default policy
is always added as a point, so the report can compare against what runs today.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterable, Sequence
from typing import Any

from verifier.errors import ConfigError
from verifier.policy import SPEC, Policy

LIST_SEPARATOR = "/"
VALUE_SEPARATOR = ","

# What `make report` sweeps when no --grid is given, on every scenario (one grid for all,
# so a policy's cost adds up across scenarios): the keys the product owners ask about,
# at values seen in the field (Twilio 10 min / 5 checks, Surge 3 checks, the 30-60-120 s
# ladder of docs/policy.md and one twice as long). 3 x 2 x 3 = 18 points, the default
# among them. check.lockout_s is left out: it changes no simulated figure (a lockout ends
# a buyer's session; attackers rotate accounts).
DEFAULT_GRID: dict[str, list[Any]] = {
    "code.ttl_s": [120.0, 300.0, 600.0],
    "send.resend_cooldown_s": [[30.0, 60.0, 120.0], [60.0, 120.0, 240.0]],
    "check.max_attempts": [3, 5, 10],
}


def _field(key: str):
    table, _, name = key.partition(".")
    if table not in SPEC or name not in SPEC[table]:
        raise ConfigError(key, "unknown policy key (see docs/policy.md)")
    return SPEC[table][name]


def _scalar(key: str, kind: str, text: str) -> Any:
    text = text.strip()
    if not text:
        raise ConfigError(key, "empty value")
    if kind == "bool":
        if text.lower() not in ("true", "false"):
            raise ConfigError(key, f"expected true or false, got {text!r}")
        return text.lower() == "true"
    if kind == "int":
        try:
            return int(text)
        except ValueError:
            raise ConfigError(key, f"expected a whole number, got {text!r}") from None
    if kind == "float":
        try:
            return float(text)
        except ValueError:
            raise ConfigError(key, f"expected a number, got {text!r}") from None
    return text


def parse_value(key: str, text: str) -> Any:
    """One grid value of ``key`` from its text; lists use ``/`` between entries."""
    kind = _field(key).kind
    if kind in ("floats", "strs"):
        item = "float" if kind == "floats" else "str"
        return [_scalar(key, item, part) for part in text.split(LIST_SEPARATOR)]
    return _scalar(key, kind, text)


def format_value(value: Any) -> str:
    """The grid text of a value (the inverse of ``parse_value``), for labels and columns."""
    if isinstance(value, list | tuple):
        return LIST_SEPARATOR.join(format_value(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def parse_grid(specs: Iterable[str]) -> dict[str, list[Any]]:
    """``["key=v1,v2", …]`` as ``{key: [v1, v2]}``, each value checked by ``Policy.replace``."""
    grid: dict[str, list[Any]] = {}
    base = Policy.default()
    for spec in specs:
        key, sep, values = spec.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(spec or "grid", "expected key=v1,v2,... (e.g. code.ttl_s=60,300)")
        if key in grid:
            raise ConfigError(key, "given twice in --grid")
        parsed = [parse_value(key, part) for part in values.split(VALUE_SEPARATOR)]
        for value in parsed:
            base.replace(**{key: value})  # raises ConfigError naming the key
        unique = []
        for value in parsed:
            if value not in unique:
                unique.append(value)
        grid[key] = unique
    return grid


def peak_ratio(scenario) -> float:
    """Peak over time-average arrival multiplier: how much of a 'drop' a scenario is."""
    profile = scenario.arrivals.profile
    duration = scenario.duration_s
    total = 0.0
    for i, (start, mult) in enumerate(profile):
        end = profile[i + 1][0] if i + 1 < len(profile) else duration
        total += max(0.0, min(end, duration) - min(start, duration)) * mult
    mean = total / duration if duration else 0.0
    peak = max(m for _, m in profile)
    return peak / mean if mean else 1.0


def expand(grid: dict[str, Sequence[Any]], include_default: bool = True) -> list[dict[str, Any]]:
    """Every combination of the grid as ``{key: value}`` overrides; the default first.

    Points that build the same policy (a grid value equal to the default's) appear once.
    """
    keys = list(grid)
    out: list[dict[str, Any]] = [{}] if include_default else []
    seen = {policy_key(Policy.default())} if include_default else set()
    for combo in itertools.product(*(grid[k] for k in keys)):
        overrides = dict(zip(keys, combo, strict=True))
        key = policy_key(build(overrides))
        if key not in seen:
            seen.add(key)
            out.append(overrides)
    return out


def build(overrides: dict[str, Any]) -> Policy:
    """The default policy with ``overrides`` applied."""
    return Policy.default().replace(**overrides) if overrides else Policy.default()


def policy_key(policy: Policy) -> str:
    """A short stable hash of a policy's full contents."""
    text = json.dumps(policy.to_dict(), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def label(overrides: dict[str, Any]) -> str:
    """A short human label for a grid point: ``ttl 300 s · cooldown 30/60/120 s · 5 attempts``."""
    if not overrides:
        return "default"
    parts = []
    for key, value in overrides.items():
        short = SHORT.get(key, key + " {}")
        text = ("on" if value else "off") if isinstance(value, bool) else format_value(value)
        parts.append(short.format(text))
    return " · ".join(parts)


SHORT = {
    "code.ttl_s": "TTL {} s",
    "code.length": "{} digits",
    "send.resend_cooldown_s": "cooldown {} s",
    "send.max_sends": "{} sends",
    "check.max_attempts": "{} attempts",
    "check.lockout_s": "lockout {} s",
    "limits.per_number_per_day": "{} SMS/number/day",
    "code.ttl_from": "TTL from {}",
    "voice.enabled": "voice calls {}",
    "stepup.enabled": "step-up {}",
    "stepup.free_below_jpy": "no code below ¥{}",
    "stepup.min_account_age_days": "accounts from {} days",
}
