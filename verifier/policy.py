"""The verification policy: code TTL, resend windows, attempt limits, lockouts, detectors.

A policy is read from TOML (``Policy.from_toml``) on top of the shipped default
(``policies/default.toml``). Every key is checked against ``SPEC``: an unknown key or a
value out of range is refused with a :class:`~verifier.errors.ConfigError` naming it.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path
from typing import Any

import phonenumbers

from .errors import ConfigError

NUMBER_TYPES = frozenset(
    name
    for name in vars(phonenumbers.PhoneNumberType)
    if name.isupper() and not name.startswith("_")
)
REVEAL_CHOICES = ("immediately", "after_verification", "never")
LIMIT_MAX = 10**9


@dataclass(frozen=True)
class Field:
    """One policy key: its kind (int, float, bool, str, ints, floats, strs) and range."""

    kind: str
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] | frozenset[str] | None = None


SPEC: dict[str, dict[str, Field]] = {
    "code": {
        "length": Field("int", 4, 10),
        "ttl_s": Field("float", 1, 86400),
        "ttl_from": Field("str", choices=("send", "delivery")),
        "max_life_s": Field("float", 1, 86400),
    },
    "send": {
        "resend_cooldown_s": Field("floats", 0, 86400),
        "max_sends": Field("int", 1, 100),
        "resend_same_code": Field("bool"),
        "window_s": Field("float", 0, 86400),
    },
    "check": {
        "max_attempts": Field("int", 1, 1000),
        "lockout_s": Field("float", 0, 604800),
        "previous_codes_valid": Field("bool"),
        "superseded_code_grace_s": Field("float", 0, 86400),
        "approval_ttl_s": Field("float", 1, 86400),
    },
    "numbers": {
        "allowed_types": Field("strs", choices=NUMBER_TYPES),
        "allowed_countries": Field("strs", choices=frozenset(phonenumbers.SUPPORTED_REGIONS)),
        "denied_countries": Field("strs", choices=frozenset(phonenumbers.SUPPORTED_REGIONS)),
        "one_number_per_account": Field("bool"),
        "reveal_registered": Field("str", choices=REVEAL_CHOICES),
    },
    "limits": {
        "per_number_per_day": Field("int", 0, LIMIT_MAX),
        "per_number_per_15min": Field("int", 0, LIMIT_MAX),
        "per_ip_per_hour": Field("int", 0, LIMIT_MAX),
        "per_account_per_hour": Field("int", 0, LIMIT_MAX),
        "per_device_per_hour": Field("int", 0, LIMIT_MAX),
        "failures_per_account_per_hour": Field("int", 0, LIMIT_MAX),
        "failures_per_number_per_hour": Field("int", 0, LIMIT_MAX),
        "consecutive_failures_per_account": Field("int", 0, LIMIT_MAX),
        "disputes_per_account_per_day": Field("int", 0, LIMIT_MAX),
    },
    "fraud": {
        "min_check_delay_s": Field("float", 0, 3600),
        "client_mismatch": Field("bool"),
        "sequential_starts": Field("int", 0, 10000),
        "sequential_span": Field("int", 1, 9999),
        "prefix_unverified_max": Field("int", 0, LIMIT_MAX),
        "window_s": Field("float", 1, 604800),
    },
    "privacy": {"retention_s": Field("float", 0, 31536000)},
    "voice": {
        "enabled": Field("bool"),
        "cooldown_s": Field("float", 0, 86400),
        "max_calls": Field("int", 1, 100),
        "extra_types": Field("strs", choices=NUMBER_TYPES),
    },
    "stepup": {
        "enabled": Field("bool"),
        "free_below_jpy": Field("float", 0, 1e12),
        "min_account_age_days": Field("int", 0, 36500),
        "refuse_at_points": Field("int", 0, 5),
        "jpy_per_unit": Field("rates", 0, 1e9),
    },
}


@dataclass(frozen=True, slots=True)
class CodePolicy:
    length: int
    ttl_s: float
    ttl_from: str  # "send": the TTL runs from hand-off; "delivery": from the receipt
    max_life_s: float  # with "delivery": a code's life from its hand-off, at most


@dataclass(frozen=True, slots=True)
class SendPolicy:
    resend_cooldown_s: tuple[float, ...]
    max_sends: int
    resend_same_code: bool
    window_s: float


@dataclass(frozen=True, slots=True)
class CheckPolicy:
    max_attempts: int
    lockout_s: float
    previous_codes_valid: bool
    superseded_code_grace_s: float
    approval_ttl_s: float


@dataclass(frozen=True, slots=True)
class NumbersPolicy:
    allowed_types: tuple[str, ...]
    allowed_countries: tuple[str, ...]
    denied_countries: tuple[str, ...]
    one_number_per_account: bool
    reveal_registered: str


@dataclass(frozen=True, slots=True)
class LimitsPolicy:
    per_number_per_day: int
    per_number_per_15min: int
    per_ip_per_hour: int
    per_account_per_hour: int
    per_device_per_hour: int
    failures_per_account_per_hour: int
    failures_per_number_per_hour: int
    consecutive_failures_per_account: int
    disputes_per_account_per_day: int


@dataclass(frozen=True, slots=True)
class FraudPolicy:
    min_check_delay_s: float
    client_mismatch: bool
    sequential_starts: int
    sequential_span: int
    prefix_unverified_max: int
    window_s: float


@dataclass(frozen=True, slots=True)
class PrivacyPolicy:
    retention_s: float


@dataclass(frozen=True, slots=True)
class VoicePolicy:
    enabled: bool
    cooldown_s: float
    max_calls: int
    extra_types: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StepupPolicy:
    enabled: bool
    free_below_jpy: float
    min_account_age_days: int
    refuse_at_points: int
    jpy_per_unit: tuple[tuple[str, float], ...]  # (currency, JPY per major unit), sorted

    def rate(self, currency: str) -> float | None:
        return dict(self.jpy_per_unit).get(currency)


TABLES: dict[str, type] = {
    "code": CodePolicy,
    "send": SendPolicy,
    "check": CheckPolicy,
    "numbers": NumbersPolicy,
    "limits": LimitsPolicy,
    "fraud": FraudPolicy,
    "privacy": PrivacyPolicy,
    "voice": VoicePolicy,
    "stepup": StepupPolicy,
}


def _check_value(key: str, field: Field, value: Any) -> Any:
    """Return ``value`` converted to the field's kind, or raise naming ``key``."""
    kind = field.kind
    if kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(key, f"expected true or false, got {value!r}")
        return value
    if kind in ("int", "float"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(key, f"expected a number, got {value!r}")
        if kind == "int" and not isinstance(value, int):
            raise ConfigError(key, f"expected a whole number, got {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(key, f"expected a finite number, got {value!r}")
        if not field.lo <= value <= field.hi:
            raise ConfigError(key, f"{value!r} is outside {field.lo:g}..{field.hi:g}")
        return int(value) if kind == "int" else float(value)
    if kind == "str":
        if not isinstance(value, str) or value not in field.choices:
            raise ConfigError(key, f"expected one of {sorted(field.choices)}, got {value!r}")
        return value
    if kind == "rates":
        if not isinstance(value, dict):
            raise ConfigError(key, f"expected a table of currency = rate, got {value!r}")
        rates = []
        for currency, rate in value.items():
            if not (isinstance(currency, str) and len(currency) == 3 and currency.isupper()):
                raise ConfigError(f"{key}.{currency}", "expected an ISO 4217 code such as JPY")
            rates.append(
                (
                    currency,
                    _check_value(f"{key}.{currency}", Field("float", field.lo, field.hi), rate),
                )
            )
        return tuple(sorted(rates))
    if not isinstance(value, list):
        raise ConfigError(key, f"expected a list, got {value!r}")
    item = Field("float", field.lo, field.hi) if kind == "floats" else None
    out = []
    for i, element in enumerate(value):
        if kind == "floats":
            out.append(_check_value(f"{key}[{i}]", item, element))
        elif not isinstance(element, str) or element not in field.choices:
            raise ConfigError(f"{key}[{i}]", f"unknown value {element!r}")
        else:
            out.append(element)
    if kind == "floats" and not out:
        raise ConfigError(key, "needs at least one entry")
    return tuple(out)


def _load_default_data() -> dict[str, Any]:
    text = resources.files("verifier").joinpath("policies/default.toml").read_text("utf-8")
    return tomllib.loads(text)


@dataclass(frozen=True, slots=True)
class Policy:
    """A complete, validated policy; attributes mirror the TOML tables."""

    code: CodePolicy
    send: SendPolicy
    check: CheckPolicy
    numbers: NumbersPolicy
    limits: LimitsPolicy
    fraud: FraudPolicy
    privacy: PrivacyPolicy
    voice: VoicePolicy
    stepup: StepupPolicy

    @classmethod
    def default(cls) -> Policy:
        """The shipped ``policies/default.toml``."""
        return cls.from_dict({})

    @classmethod
    def from_toml(cls, source: str | Path) -> Policy:
        """Load a policy from a file path or TOML text; missing keys keep their defaults."""
        if isinstance(source, Path) or (
            isinstance(source, str) and "\n" not in source and source.endswith(".toml")
        ):
            path = Path(source)
            try:
                text = path.read_text("utf-8")
            except OSError as exc:
                raise ConfigError("policy", f"cannot read {path}: {exc.strerror}") from None
        else:
            text = source
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError("policy", f"not valid TOML: {exc}") from None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Policy:
        """Build from nested tables (as TOML gives them) over the defaults, checking each key."""
        for table, values in data.items():
            if table not in SPEC:
                raise ConfigError(table, f"unknown table (known: {', '.join(SPEC)})")
            if not isinstance(values, dict):
                raise ConfigError(table, "expected a table")
            for key in values:
                if key not in SPEC[table]:
                    raise ConfigError(
                        f"{table}.{key}", f"unknown key (known: {', '.join(SPEC[table])})"
                    )
        merged = _load_default_data()
        for table, values in data.items():
            merged[table] = {**merged[table], **values}
        parts = {}
        for table, spec in SPEC.items():
            values = {
                key: _check_value(f"{table}.{key}", field, merged[table][key])
                for key, field in spec.items()
            }
            parts[table] = TABLES[table](**values)
        return cls(**parts)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Nested plain values, the shape of the TOML file."""
        out: dict[str, dict[str, Any]] = {}
        for table in SPEC:
            part = getattr(self, table)
            out[table] = {
                f.name: _plain(getattr(part, f.name), SPEC[table][f.name]) for f in fields(part)
            }
        return out

    def to_toml(self) -> str:
        """TOML text that ``from_toml`` loads back to an equal policy."""
        lines = []
        for table, values in self.to_dict().items():
            lines.append(f"[{table}]")
            lines.extend(f"{key} = {_toml_value(value)}" for key, value in values.items())
            lines.append("")
        return "\n".join(lines)

    def replace(self, **dotted: Any) -> Policy:
        """A copy with ``table.key`` values changed, e.g. ``replace(**{"code.ttl_s": 60})``."""
        data = self.to_dict()
        for name, value in dotted.items():
            table, _, key = name.partition(".")
            if table not in data or key not in data[table]:
                raise ConfigError(name, "unknown policy key")
            data[table][key] = value
        return Policy.from_dict(data)

    def non_conformities(self) -> list[str]:
        """Where this policy falls outside NIST SP 800-63B; loaded all the same, but flagged."""
        found = []
        if self.code.ttl_s > 600:
            found.append(f"code.ttl_s = {self.code.ttl_s:g} exceeds 600 s (SP 800-63B 3.1.3.2)")
        if self.code.ttl_from == "delivery" and self.code.max_life_s > 600:
            found.append(
                f"code.max_life_s = {self.code.max_life_s:g} lets a code live over 600 s "
                "(SP 800-63B 3.1.3.2)"
            )
        if self.code.length < 6:
            found.append(f"code.length = {self.code.length} is under 6 digits (SP 800-63B)")
        if self.check.max_attempts > 100:
            found.append(
                f"check.max_attempts = {self.check.max_attempts} allows more than 100 "
                "failures (SP 800-63B 3.2.2)"
            )
        streak = self.limits.consecutive_failures_per_account
        if streak == 0 or streak > 100:
            found.append(
                f"limits.consecutive_failures_per_account = {streak} allows more than 100 "
                "consecutive failures on one account (SP 800-63B 3.2.2)"
            )
        if self.limits.failures_per_account_per_hour > 100:
            found.append(
                "limits.failures_per_account_per_hour = "
                f"{self.limits.failures_per_account_per_hour} exceeds 100 (OWASP ASVS 2.2.1)"
            )
        return found


def _plain(value: Any, field: Field) -> Any:
    """A policy value as TOML gives it: lists for tuples, a table for rates."""
    if field.kind == "rates":
        return dict(value)
    return list(value) if isinstance(value, tuple) else value


def _toml_value(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, float) and value.is_integer():
        return repr(value)
    return repr(value)
