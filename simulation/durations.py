"""Durations in scenario files: one grammar, three distributions, drawn in blocks.

Every duration key (``gateway.service_time``, ``users.read_type_s``) takes exactly one of

* ``{ dist = "lognormal", median_s, p99_s }`` with μ = ln median, σ = ln(p99/median) / 2.3263,
* ``{ dist = "exponential", mean_s }``, so the gateway can be checked against M/M/c,
* ``{ dist = "fixed", value_s }``.

A model draws thousands of values per simulated minute; a numpy scalar draw costs
several hundred nanoseconds, so :func:`stream` draws blocks and hands out plain floats.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from verifier.errors import ConfigError

Z99 = 2.3263478740408408  # the standard normal 0.99 quantile
BLOCK = 4096
KEYS = {
    "lognormal": ("median_s", "p99_s"),
    "exponential": ("mean_s",),
    "fixed": ("value_s",),
}
MAX_SECONDS = 1e7


@dataclass(frozen=True, slots=True)
class Duration:
    """A validated duration distribution; ``params`` follow ``KEYS[dist]`` in order."""

    dist: str
    params: tuple[float, ...]

    @classmethod
    def parse(cls, key: str, value: object) -> Duration:
        """Read the TOML inline table at ``key``, raising ``ConfigError`` naming the bad part."""
        if not isinstance(value, dict):
            raise ConfigError(
                key, f"expected a table such as {{ dist = 'fixed', value_s = 1 }}, got {value!r}"
            )
        dist = value.get("dist")
        if dist not in KEYS:
            raise ConfigError(f"{key}.dist", f"expected one of {sorted(KEYS)}, got {dist!r}")
        names = KEYS[dist]
        for name in value:
            if name != "dist" and name not in names:
                raise ConfigError(
                    f"{key}.{name}", f"unknown key for dist = {dist!r} (known: {', '.join(names)})"
                )
        params = []
        for name in names:
            if name not in value:
                raise ConfigError(f"{key}.{name}", f"required for dist = {dist!r}")
            number = value[name]
            if isinstance(number, bool) or not isinstance(number, int | float):
                raise ConfigError(f"{key}.{name}", f"expected a number, got {number!r}")
            lowest = 0.0 if dist == "fixed" else math.ulp(0.0)
            if not (lowest <= number <= MAX_SECONDS) or not math.isfinite(number):
                low = "0" if dist == "fixed" else "above 0"
                raise ConfigError(f"{key}.{name}", f"{number!r} is outside {low}..{MAX_SECONDS:g}")
            params.append(float(number))
        if dist == "lognormal" and params[1] < params[0]:
            raise ConfigError(f"{key}.p99_s", "must be at least median_s")
        return cls(dist, tuple(params))

    @classmethod
    def fixed(cls, seconds: float) -> Duration:
        return cls("fixed", (float(seconds),))

    @classmethod
    def exponential(cls, mean_s: float) -> Duration:
        return cls("exponential", (float(mean_s),))

    @classmethod
    def lognormal(cls, median_s: float, p99_s: float) -> Duration:
        return cls("lognormal", (float(median_s), float(p99_s)))

    def to_dict(self) -> dict:
        return {"dist": self.dist, **dict(zip(KEYS[self.dist], self.params, strict=True))}

    def mean(self) -> float:
        """The distribution's mean, e.g. for E[S] in a closed form."""
        if self.dist == "lognormal":
            mu, sigma = self._mu_sigma()
            return math.exp(mu + sigma * sigma / 2)
        return self.params[0]

    def _mu_sigma(self) -> tuple[float, float]:
        median, p99 = self.params
        return math.log(median), math.log(p99 / median) / Z99

    def block(self, rng: np.random.Generator) -> Callable[[int], np.ndarray]:
        """A function drawing ``n`` values from ``rng`` at once."""
        if self.dist == "lognormal":
            mu, sigma = self._mu_sigma()
            return lambda n: rng.lognormal(mu, sigma, n)
        if self.dist == "exponential":
            mean = self.params[0]
            return lambda n: rng.exponential(mean, n)
        value = self.params[0]
        return lambda n: np.full(n, value)


def stream(draw: Callable[[int], np.ndarray], size: int = BLOCK) -> Iterator[float]:
    """An endless iterator of floats, drawn ``size`` at a time; read it with ``next``."""
    while True:
        yield from draw(size).tolist()


def uniforms(rng: np.random.Generator, size: int = BLOCK) -> Iterator[float]:
    """Endless U(0, 1) draws from ``rng``, for Bernoulli decisions such as typos and losses."""
    return stream(rng.random, size)


def exponentials(rng: np.random.Generator, rate: float, size: int = BLOCK) -> Iterator[float]:
    """Endless gaps of a Poisson process with ``rate`` per second (``rate`` > 0)."""
    scale = 1.0 / rate
    return stream(lambda n: rng.exponential(scale, n), size)


def integers(rng: np.random.Generator, high: int, size: int = BLOCK) -> Iterator[int]:
    """Endless uniform integers in [0, ``high``) from ``rng``."""
    return stream(lambda n: rng.integers(0, high, n), size)
