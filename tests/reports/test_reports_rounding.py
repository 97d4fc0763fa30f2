"""Rounding a mean to what its interval supports."""

from __future__ import annotations

import math

import pytest

from reports.rounding import amount, place, rounded, with_interval


@pytest.mark.parametrize(
    ("value", "hw", "want"),
    [
        (1039.07, 1210.77, "1,000 ± 1,200"),
        (1039.07, 310.0, "1,000 ± 300"),
        (0.4213, 0.0372, "0.42 ± 0.04"),
        (0.4213, 0.0172, "0.421 ± 0.017"),
        (12.345, 0.96, "12 ± 1"),  # 0.96 rounds to 1.0: one digit, at the units
        (379.7081, 27.68, "380 ± 30"),
        (-654.64, 1949.95, "-700 ± 1,900"),
        (5.0, 0.05, "5.00 ± 0.05"),
    ],
)
def test_means_keep_only_the_digits_their_interval_supports(value, hw, want):
    assert with_interval(value, hw) == want


def test_the_place_is_that_of_the_first_or_second_significant_digit():
    assert place(1210.77) == 2
    assert place(310.0) == 2
    assert place(0.0372) == -2
    assert place(0.0172) == -3
    assert place(0.96) == 0
    assert place(19.4) == 0  # leading 1.94: two digits, 19
    assert place(19.6) == 1  # leading 1.96 is 2: one digit, 20


def test_signs_units_and_values_without_an_interval():
    assert with_interval(-3.2, 1.1, sign=True) == "-3.2 ± 1.1"
    assert with_interval(3.2, 1.1, " pp", sign=True) == "+3.2 ± 1.1 pp"
    assert with_interval(0.04, 3.0, sign=True) == "0 ± 3"  # no "+0"
    assert with_interval(1234.5678) == "1,230"
    assert with_interval(0.012345, 0.0) == "0.0123"
    assert with_interval(float("nan"), 1.0) == "–"
    assert rounded(12.0, math.nan) == ("12.0", None)


def test_amounts_are_unsigned():
    assert amount(-1039.07, 1210.77) == "1,000"
    assert amount(None) == "–"
