"""Phone numbers for simulated people: distinct, valid, drawn at random, per country.

Each country gets a *block*: the national number of ``phonenumbers``'
``example_number_for_type`` with its last ``digits`` digits free, keeping the longest tail
for which a fixed sample of fills (both ends included) is valid and of the same line
type. The engine stays the judge: a number it refuses is counted, not hidden.

A block's suffix space is split so that actors never share a number by accident:
buyers draw at random from the first 80 %, and each attacker has its own reserved slice
(brute force, enumeration, pumping, farming SIMs).
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import phonenumbers
from phonenumbers import PhoneNumberType

MOBILE_TYPES = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)
LANDLINE_TYPES = (PhoneNumberType.FIXED_LINE, PhoneNumberType.VOIP)
SLICES = {
    "buyers": (0.0, 0.80),
    "bruteforce": (0.80, 0.85),
    "enumeration": (0.85, 0.90),
    "pumping": (0.90, 0.95),
    "farming": (0.95, 1.0),
}
MAX_FREE_DIGITS = 7
SAMPLE = 64


@dataclass(frozen=True, slots=True)
class Block:
    """Numbers ``prefix`` followed by any ``digits`` digits, all of one region and line type."""

    region: str
    type: str
    prefix: str  # E.164 up to the free digits, e.g. "+81901"
    digits: int

    @property
    def size(self) -> int:
        return 10**self.digits

    def number(self, suffix: int) -> str:
        return f"{self.prefix}{suffix:0{self.digits}d}"

    def slice(self, actor: str) -> tuple[int, int]:
        """The [lo, hi) suffixes reserved for ``actor`` (a key of ``SLICES``)."""
        lo, hi = SLICES[actor]
        return int(lo * self.size), int(hi * self.size)


def _fits(prefix: str, digits: int, kind: int, rng: np.random.Generator) -> bool:
    fills = [0, 10**digits - 1, *rng.integers(0, 10**digits, SAMPLE).tolist()]
    for fill in fills:
        number = phonenumbers.parse(f"{prefix}{fill:0{digits}d}")
        if not phonenumbers.is_valid_number(number) or phonenumbers.number_type(number) != kind:
            return False
    return True


@lru_cache(maxsize=512)
def find_block(region: str, kinds: tuple[int, ...] = MOBILE_TYPES) -> Block | None:
    """The widest block around the region's example number of the first of ``kinds`` that has
    one, or None (e.g. the US has no landline-only numbers). A pure function of its arguments.
    """
    rng = np.random.default_rng(0)  # fixed: the block is part of the model, not of a run
    for kind in kinds:
        example = phonenumbers.example_number_for_type(region, kind)
        if example is None:
            continue
        national = phonenumbers.national_significant_number(example)
        prefix_cc = f"+{example.country_code}"
        for digits in range(min(MAX_FREE_DIGITS, len(national) - 1), 1, -1):
            prefix = prefix_cc + national[:-digits]
            if _fits(prefix, digits, kind, rng):
                name = next(n for n, v in vars(PhoneNumberType).items() if v == kind)
                return Block(region, name, prefix, digits)
    return None


def distinct(rng: np.random.Generator, lo: int, hi: int, n: int) -> np.ndarray:
    """``n`` distinct integers drawn uniformly from [lo, hi), in draw order."""
    if n > hi - lo:
        raise ValueError(f"cannot draw {n} distinct numbers from a range of {hi - lo}")
    found = np.empty(0, dtype=np.int64)
    while found.size < n:
        more = rng.integers(lo, hi, int((n - found.size) * 1.1) + 16)
        both = np.concatenate([found, more])
        _, first = np.unique(both, return_index=True)
        found = both[np.sort(first)]
    return found[:n]


class NumberPlan:
    """Who gets which number in one replication; every draw comes from one numpy stream."""

    def __init__(self, countries: tuple[str, ...], rng: np.random.Generator) -> None:
        self.countries = countries
        self.rng = rng
        self.blocks = {}
        for region in countries:
            block = find_block(region)
            if block is None:
                raise ValueError(f"no block of mobile numbers found for {region}")
            self.blocks[region] = block
        self._used: dict[str, set[int]] = {}

    def block(self, region: str) -> Block:
        if region not in self.blocks:
            block = find_block(region)
            if block is None:
                raise ValueError(f"no block of mobile numbers found for {region}")
            self.blocks[region] = block
        return self.blocks[region]

    def buyers(self, n: int) -> tuple[list[str], list[str]]:
        """Countries (uniform over the scenario's list) and distinct numbers for ``n`` buyers."""
        table = self.buyer_numbers(n)
        return [table.country(i) for i in range(n)], [table.number(i) for i in range(n)]

    def buyer_numbers(self, n: int) -> BuyerNumbers:
        """What ``buyers(n)`` gives (the same draws), kept as small integers per buyer."""
        which = self.rng.integers(0, len(self.countries), n)
        suffixes = np.zeros(n, dtype=np.int64)
        for i, region in enumerate(self.countries):
            (rows,) = np.nonzero(which == i)
            lo, hi = self.blocks[region].slice("buyers")
            suffixes[rows] = distinct(self.rng, lo, hi, rows.size)
        blocks = [self.blocks[region] for region in self.countries]
        return BuyerNumbers(self.countries, blocks, which, suffixes)

    def landline(self, region: str) -> str | None:
        """A landline or VoIP number of ``region`` that a buyer types by mistake, or None."""
        block = find_block(region, LANDLINE_TYPES)
        if block is None:
            return None
        return block.number(int(self.rng.integers(0, block.size)))

    def fresh(self, actor: str, region: str) -> str:
        """A number from ``actor``'s slice never handed out before in this replication."""
        block = self.block(region)
        lo, hi = block.slice(actor)
        used = self._used.setdefault(f"{actor}:{region}", set())
        if len(used) >= hi - lo:
            raise ValueError(f"the {actor} slice of {region} is exhausted")
        while True:
            suffix = int(self.rng.integers(lo, hi))
            if suffix not in used:
                used.add(suffix)
                return block.number(suffix)

    def consecutive(self, actor: str, region: str) -> ConsecutiveNumbers:
        """Numbers counting up from a random point in ``actor``'s slice (one rare prefix)."""
        block = self.block(region)
        lo, hi = block.slice(actor)
        start = lo + int(self.rng.integers(0, max(1, (hi - lo) // 10_000))) * 10_000
        return ConsecutiveNumbers(block, start, hi)

    def sims(self, actor: str, region: str, n: int) -> list[str]:
        """``n`` distinct numbers for phones an attacker holds (a SIM farm)."""
        block = self.block(region)
        lo, hi = block.slice(actor)
        return [block.number(s) for s in distinct(self.rng, lo, hi, n).tolist()]


class BuyerNumbers:
    """Each buyer's country and number as two small integers (6 bytes a buyer, not ~80).

    ``country(i)`` and ``number(i)`` build the strings when asked, so a million-buyer run
    does not hold a million number strings.
    """

    __slots__ = ("_blocks", "_regions", "_suffixes", "_which")

    def __init__(
        self,
        regions: tuple[str, ...],
        blocks: list[Block],
        which: np.ndarray,
        suffixes: np.ndarray,
    ) -> None:
        self._regions = regions
        self._blocks = blocks
        self._which = array("H", np.asarray(which, dtype=np.uint16).tobytes())
        self._suffixes = array("i", np.asarray(suffixes, dtype=np.intc).tobytes())  # < 10**7

    def __len__(self) -> int:
        return len(self._which)

    def country(self, i: int) -> str:
        return self._regions[self._which[i]]

    def number(self, i: int) -> str:
        return self._blocks[self._which[i]].number(self._suffixes[i])


class ConsecutiveNumbers:
    """``next()`` gives the next number up, wrapping within the slice."""

    def __init__(self, block: Block, start: int, end: int) -> None:
        self._block, self._start, self._next, self._end = block, start, start, end

    def __iter__(self) -> ConsecutiveNumbers:
        return self

    def __next__(self) -> str:
        suffix = self._next
        self._next = suffix + 1 if suffix + 1 < self._end else self._start
        return self._block.number(suffix)
