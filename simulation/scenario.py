"""Scenario files: what traffic, gateway, users and attackers a simulation run faces.

A scenario is TOML (see ``docs/simulation.md`` for every key). Only ``name`` and
``duration_s`` are required; every other key has a default (``DEFAULTS``). Unknown keys,
wrong types and out-of-range values are refused with a
:class:`~verifier.errors.ConfigError` naming the key (``gateway.channels``), as policy
files are. ``load`` takes a path, or the name of a file shipped in ``scenarios/``.
"""

from __future__ import annotations

import copy
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import phonenumbers

from verifier.errors import ConfigError

from .durations import MAX_SECONDS, Duration
from .payments import PaymentsConfig

SHIPPED = Path(__file__).parent / "scenarios"
RATE_MAX = 1e6
DEFAULTS: dict[str, Any] = {
    "description": "",
    "seed": 1,
    "arrivals": {"rate_per_s": 1.0, "profile": [[0, 1.0]]},
    "gateway": {
        "channels": 20,
        "service_time": {"dist": "lognormal", "median_s": 2.0, "p99_s": 30.0},
        "busy": None,
        "loss_rate": 0.0,
        "cost_per_sms": 0.05,
    },
    "voice": {
        "channels": 10,
        "service_time": {"dist": "lognormal", "median_s": 8.0, "p99_s": 25.0},
        "unanswered_rate": 0.3,
        "cost_per_call": 0.07,
    },
    "users": {
        "read_type_s": {"dist": "lognormal", "median_s": 12.0, "p99_s": 60.0},
        "typo_rate": 0.03,
        "blocks_sms_share": 0.0,
        "resend_after_s": 45.0,
        "give_up_after_s": 600.0,
        "call_after_help_share": 0.0,
        "help_delay_s": 60.0,
    },
    "numbers": {"countries": ["JP"], "recycled_share": 0.0, "landline_typo_share": 0.0},
    "fraud": {
        "bruteforce_rate_per_s": 0.0,
        "pumping_rate_per_s": 0.0,
        "pumping_country": None,
        "enumeration_rate_per_s": 0.0,
        "enumeration_registered_share": 0.5,
        "farming_rate_per_s": 0.0,
        "farming_numbers": 5,
    },
}
TOP_LEVEL = ("name", "description", "duration_s", "seed")
OPTIONAL = ("payments",)  # tables that are absent unless a scenario gives them


@dataclass(frozen=True, slots=True)
class Busy:
    """Busy windows [k·every_s, k·every_s + length_s), k ≥ 1, slowing service ``slowdown``-fold."""

    every_s: float
    length_s: float
    slowdown: float

    def contains(self, t: float) -> bool:
        k = math.floor(t / self.every_s)
        return k >= 1 and t - k * self.every_s < self.length_s


@dataclass(frozen=True, slots=True)
class ArrivalsConfig:
    rate_per_s: float
    profile: tuple[tuple[float, float], ...]  # (start_s, multiplier), starts ascending from 0


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    channels: int
    service_time: Duration
    busy: Busy | None
    loss_rate: float
    cost_per_sms: float


@dataclass(frozen=True, slots=True)
class VoiceConfig:
    """The voice gateway: calls that read a code out (``verifier.voice``)."""

    channels: int
    service_time: Duration  # from hand-off to the code read out (ringing included)
    unanswered_rate: float  # calls nobody picks up: the code never arrives
    cost_per_call: float

    def as_gateway(self) -> GatewayConfig:
        """The same numbers in the shape of an SMS gateway's, for a queue of calls."""
        return GatewayConfig(
            self.channels, self.service_time, None, self.unanswered_rate, self.cost_per_call
        )


@dataclass(frozen=True, slots=True)
class UsersConfig:
    read_type_s: Duration
    typo_rate: float
    blocks_sms_share: float
    resend_after_s: float
    give_up_after_s: float
    call_after_help_share: float  # of buyers whose phones reject SMS: ask for a call
    help_delay_s: float  # ... this long after arriving (finding and reading the help)


@dataclass(frozen=True, slots=True)
class NumbersConfig:
    countries: tuple[str, ...]
    recycled_share: float
    landline_typo_share: float


@dataclass(frozen=True, slots=True)
class FraudConfig:
    bruteforce_rate_per_s: float
    pumping_rate_per_s: float
    pumping_country: str
    enumeration_rate_per_s: float
    enumeration_registered_share: float
    farming_rate_per_s: float
    farming_numbers: int

    @property
    def any(self) -> bool:
        return any(
            rate > 0
            for rate in (
                self.bruteforce_rate_per_s,
                self.pumping_rate_per_s,
                self.enumeration_rate_per_s,
                self.farming_rate_per_s,
            )
        )


def _number(key: str, value: Any, lo: float, hi: float, integer: bool = False) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(key, f"expected a number, got {value!r}")
    if integer and not isinstance(value, int):
        raise ConfigError(key, f"expected a whole number, got {value!r}")
    if not math.isfinite(value) or not lo <= value <= hi:
        raise ConfigError(key, f"{value!r} is outside {lo:g}..{hi:g}")
    return int(value) if integer else float(value)


def _share(key: str, value: Any) -> float:
    return _number(key, value, 0.0, 1.0)


def _rate(key: str, value: Any) -> float:
    return _number(key, value, 0.0, RATE_MAX)


def _seconds(key: str, value: Any) -> float:
    return _number(key, value, math.ulp(0.0), MAX_SECONDS)


def _country(key: str, value: Any) -> str:
    if not isinstance(value, str) or value.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise ConfigError(key, f"expected an ISO 3166 alpha-2 region such as 'JP', got {value!r}")
    return value.upper()


def _profile(key: str, value: Any) -> tuple[tuple[float, float], ...]:
    if not isinstance(value, list) or not value:
        raise ConfigError(key, "expected a non-empty list of [start_s, multiplier] pairs")
    steps = []
    for i, pair in enumerate(value):
        if not isinstance(pair, list) or len(pair) != 2:
            raise ConfigError(f"{key}[{i}]", f"expected [start_s, multiplier], got {pair!r}")
        start = _number(f"{key}[{i}][0]", pair[0], 0.0, MAX_SECONDS)
        steps.append((start, _number(f"{key}[{i}][1]", pair[1], 0.0, RATE_MAX)))
    if steps[0][0] != 0:
        raise ConfigError(f"{key}[0][0]", "the first step must start at 0")
    for i in range(1, len(steps)):
        if steps[i][0] <= steps[i - 1][0]:
            raise ConfigError(f"{key}[{i}][0]", "step starts must increase")
    return tuple(steps)


def _busy(key: str, value: Any) -> Busy | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ConfigError(key, f"expected {{ every_s, length_s, slowdown }}, got {value!r}")
    for name in value:
        if name not in ("every_s", "length_s", "slowdown"):
            raise ConfigError(f"{key}.{name}", "unknown key (known: every_s, length_s, slowdown)")
    for name in ("every_s", "length_s", "slowdown"):
        if name not in value:
            raise ConfigError(f"{key}.{name}", "required")
    every = _seconds(f"{key}.every_s", value["every_s"])
    length = _number(f"{key}.length_s", value["length_s"], 0.0, every)
    return Busy(every, length, _number(f"{key}.slowdown", value["slowdown"], 1.0, 1e6))


def _countries(key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise ConfigError(key, f"expected a non-empty list of regions, got {value!r}")
    found = tuple(_country(f"{key}[{i}]", c) for i, c in enumerate(value))
    if len(set(found)) != len(found):
        raise ConfigError(key, "lists a region twice")
    return found


@dataclass(frozen=True, slots=True)
class Scenario:
    """A complete, validated scenario; attributes mirror the TOML tables."""

    name: str
    description: str
    duration_s: float
    seed: int
    arrivals: ArrivalsConfig
    gateway: GatewayConfig
    users: UsersConfig
    numbers: NumbersConfig
    fraud: FraudConfig
    voice: VoiceConfig
    payments: PaymentsConfig | None = None  # no table: no payment summaries, codes for all

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scenario:
        """Build from nested tables (as TOML gives them) over ``DEFAULTS``, checking each key."""
        if not isinstance(data, dict):
            raise ConfigError("scenario", "expected a table")
        for key, value in data.items():
            if key in TOP_LEVEL or key in OPTIONAL:
                continue
            if key not in DEFAULTS or not isinstance(DEFAULTS[key], dict):
                known = ", ".join(
                    [*TOP_LEVEL, *(k for k in DEFAULTS if k not in TOP_LEVEL), *OPTIONAL]
                )
                raise ConfigError(key, f"unknown key (known: {known})")
            if not isinstance(value, dict):
                raise ConfigError(key, "expected a table")
            for name in value:
                if name not in DEFAULTS[key]:
                    known = ", ".join(DEFAULTS[key])
                    raise ConfigError(f"{key}.{name}", f"unknown key (known: {known})")
        for required in ("name", "duration_s"):
            if required not in data:
                raise ConfigError(required, "required")
        if not isinstance(data["name"], str) or not data["name"]:
            raise ConfigError("name", f"expected a non-empty string, got {data['name']!r}")
        description = data.get("description", "")
        if not isinstance(description, str):
            raise ConfigError("description", f"expected a string, got {description!r}")
        m = {
            t: {**DEFAULTS[t], **data.get(t, {})} for t in DEFAULTS if isinstance(DEFAULTS[t], dict)
        }
        a, g, u, n, f = (m[t] for t in ("arrivals", "gateway", "users", "numbers", "fraud"))
        vc = m["voice"]
        countries = _countries("numbers.countries", n["countries"])
        pump_country = f["pumping_country"]
        return cls(
            name=data["name"],
            description=description,
            duration_s=_seconds("duration_s", data["duration_s"]),
            seed=_number("seed", data.get("seed", DEFAULTS["seed"]), 0, 2**63 - 1, integer=True),
            arrivals=ArrivalsConfig(
                _rate("arrivals.rate_per_s", a["rate_per_s"]),
                _profile("arrivals.profile", a["profile"]),
            ),
            gateway=GatewayConfig(
                channels=_number("gateway.channels", g["channels"], 1, 10**9, integer=True),
                service_time=Duration.parse("gateway.service_time", g["service_time"]),
                busy=_busy("gateway.busy", g["busy"]),
                loss_rate=_share("gateway.loss_rate", g["loss_rate"]),
                cost_per_sms=_number("gateway.cost_per_sms", g["cost_per_sms"], 0.0, 1e6),
            ),
            users=UsersConfig(
                read_type_s=Duration.parse("users.read_type_s", u["read_type_s"]),
                typo_rate=_share("users.typo_rate", u["typo_rate"]),
                blocks_sms_share=_share("users.blocks_sms_share", u["blocks_sms_share"]),
                resend_after_s=_seconds("users.resend_after_s", u["resend_after_s"]),
                give_up_after_s=_seconds("users.give_up_after_s", u["give_up_after_s"]),
                call_after_help_share=_share(
                    "users.call_after_help_share", u["call_after_help_share"]
                ),
                help_delay_s=_seconds("users.help_delay_s", u["help_delay_s"]),
            ),
            numbers=NumbersConfig(
                countries=countries,
                recycled_share=_share("numbers.recycled_share", n["recycled_share"]),
                landline_typo_share=_share("numbers.landline_typo_share", n["landline_typo_share"]),
            ),
            fraud=FraudConfig(
                bruteforce_rate_per_s=_rate(
                    "fraud.bruteforce_rate_per_s", f["bruteforce_rate_per_s"]
                ),
                pumping_rate_per_s=_rate("fraud.pumping_rate_per_s", f["pumping_rate_per_s"]),
                pumping_country=countries[0]
                if pump_country is None
                else _country("fraud.pumping_country", pump_country),
                enumeration_rate_per_s=_rate(
                    "fraud.enumeration_rate_per_s", f["enumeration_rate_per_s"]
                ),
                enumeration_registered_share=_share(
                    "fraud.enumeration_registered_share", f["enumeration_registered_share"]
                ),
                farming_rate_per_s=_rate("fraud.farming_rate_per_s", f["farming_rate_per_s"]),
                farming_numbers=_number(
                    "fraud.farming_numbers", f["farming_numbers"], 1, 10**6, integer=True
                ),
            ),
            voice=VoiceConfig(
                channels=_number("voice.channels", vc["channels"], 1, 10**9, integer=True),
                service_time=Duration.parse("voice.service_time", vc["service_time"]),
                unanswered_rate=_share("voice.unanswered_rate", vc["unanswered_rate"]),
                cost_per_call=_number("voice.cost_per_call", vc["cost_per_call"], 0.0, 1e6),
            ),
            payments=PaymentsConfig.parse("payments", data.get("payments")),
        )

    @classmethod
    def from_toml(cls, text: str, source: str = "scenario") -> Scenario:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(source, f"not valid TOML: {exc}") from None
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """Nested plain values, the shape of the TOML file (``from_dict`` reads it back)."""
        g, f = self.gateway, self.fraud
        busy = self.gateway.busy
        return {
            "name": self.name,
            "description": self.description,
            "duration_s": self.duration_s,
            "seed": self.seed,
            "arrivals": {
                "rate_per_s": self.arrivals.rate_per_s,
                "profile": [list(step) for step in self.arrivals.profile],
            },
            "gateway": {
                "channels": g.channels,
                "service_time": g.service_time.to_dict(),
                "busy": None
                if busy is None
                else {
                    "every_s": busy.every_s,
                    "length_s": busy.length_s,
                    "slowdown": busy.slowdown,
                },
                "loss_rate": g.loss_rate,
                "cost_per_sms": g.cost_per_sms,
            },
            "users": {
                "read_type_s": self.users.read_type_s.to_dict(),
                "typo_rate": self.users.typo_rate,
                "blocks_sms_share": self.users.blocks_sms_share,
                "resend_after_s": self.users.resend_after_s,
                "give_up_after_s": self.users.give_up_after_s,
                "call_after_help_share": self.users.call_after_help_share,
                "help_delay_s": self.users.help_delay_s,
            },
            "numbers": {
                "countries": list(self.numbers.countries),
                "recycled_share": self.numbers.recycled_share,
                "landline_typo_share": self.numbers.landline_typo_share,
            },
            "fraud": {name: getattr(f, name) for name in DEFAULTS["fraud"]},
            "voice": {
                "channels": self.voice.channels,
                "service_time": self.voice.service_time.to_dict(),
                "unanswered_rate": self.voice.unanswered_rate,
                "cost_per_call": self.voice.cost_per_call,
            },
            **({} if self.payments is None else {"payments": self.payments.to_dict()}),
        }

    def replace(self, **dotted: Any) -> Scenario:
        """A copy with keys changed, e.g. ``replace(**{"gateway.channels": 5, "seed": 2})``."""
        data = copy.deepcopy(self.to_dict())
        for name, value in dotted.items():
            table, _, key = name.partition(".")
            if table in OPTIONAL and key and data.get(table) is None:
                data[table] = {}  # setting one key of an absent optional table creates it
            if not key:
                data[table] = value
            elif isinstance(data.get(table), dict):
                data[table][key] = value
            else:
                raise ConfigError(name, "unknown scenario key")
        return Scenario.from_dict(data)


def shipped() -> list[str]:
    """Names of the scenarios shipped in ``simulation/scenarios/``."""
    return sorted(p.stem for p in SHIPPED.glob("*.toml"))


def load(name_or_path: str | Path) -> Scenario:
    """A scenario from a file path if one exists, else from the shipped file of that name."""
    path = Path(name_or_path)
    if path.is_file():
        try:
            text = path.read_text("utf-8")
        except OSError as exc:
            raise ConfigError("scenario", f"cannot read {path}: {exc.strerror}") from None
        return Scenario.from_toml(text, str(path))
    name = str(name_or_path)
    if name in shipped():
        return Scenario.from_toml((SHIPPED / f"{name}.toml").read_text("utf-8"), name)
    raise ConfigError(
        "scenario",
        f"no file and no shipped scenario named {name!r} (shipped: {', '.join(shipped())})",
    )
