"""The report built from a tiny sweep through the real model: files, links, numbers."""

from __future__ import annotations

import json
import math
import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from reports import rounding, tables
from reports.grid import build
from verifier.policy import Policy

CONTRACT_COLUMNS = (
    "conversion",
    "ttv_p95_s",
    "legit_lockouts",
    "codes_expired",
    "sms_sent",
    "sms_cost",
    "guess_bound",
    "expected_cost",
    "feasible",
    "pareto",
    "recommended",
)


class Collector(HTMLParser):
    """Image sources, link targets and numeric cells (``data-src``) of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.links: list[str] = []
        self.cells: list[tuple[str, str]] = []
        self._src: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs["src"])
        elif tag == "a":
            self.links.append(attrs["href"])
        elif tag == "td" and "data-src" in attrs:
            self._src, self._text = attrs["data-src"], []

    def handle_data(self, data):
        if self._src is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "td" and self._src is not None:
            self.cells.append((self._src, "".join(self._text)))
            self._src = None


def parse(path: Path) -> Collector:
    collector = Collector()
    collector.feed(path.read_text("utf-8"))
    return collector


def test_every_output_file_is_written(tiny_report):
    for name in ("index.html", "report.md", "results.csv", "recommended-policy.toml"):
        assert (tiny_report / name).is_file(), name
    assert len(list((tiny_report / "plots").glob("*.png"))) == 8  # 7 + the step-up plot


def test_every_image_and_link_in_the_html_exists_relative_to_it(tiny_report):
    page = parse(tiny_report / "index.html")
    assert len(page.images) == 8
    for target in page.images + page.links:
        assert not target.startswith(("/", "file:", "http")), target
        assert (tiny_report / target).is_file(), target


def test_every_image_in_the_markdown_exists(tiny_report):
    text = (tiny_report / "report.md").read_text("utf-8")
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(images) == 8
    for target in images:
        assert (tiny_report / target).is_file(), target


def test_no_machine_paths_in_the_report(tiny_report):
    for name in ("index.html", "report.md", "recommended-policy.toml"):
        text = (tiny_report / name).read_text("utf-8")
        assert str(tiny_report.parent) not in text
        assert not re.search(r"(?<![\w.])/(tmp|home|root|work|Users)/", text), name


def _number(text: str) -> float:
    text = text.split("±")[0].replace(",", "").replace("%", "").replace("pp", "").strip()
    return float(text)


def _half_ulp(text: str) -> float:
    """Half a unit of the last printed digit (or of 2 significant digits)."""
    head = text.split("±")[0].replace(",", "").replace("%", "").replace("pp", "").strip()
    if "e" in head:
        mantissa, exp = head.split("e")
        decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
        return 0.5 * 10.0 ** (int(exp) - decimals)
    decimals = len(head.split(".")[1]) if "." in head else 0
    return 0.5 * 10.0**-decimals


def test_every_table_number_matches_results_csv(tiny_report):
    results = pd.read_csv(tiny_report / "results.csv").set_index("row_id")
    cells = parse(tiny_report / "index.html").cells
    assert len(cells) > 50
    checked = 0
    for src, text in cells:
        row, col, kind = src.split("|")
        value = results.loc[row, col]
        if text == "–":
            assert tables.missing(value), src
            continue
        shown = _number(text)
        factor = 100.0 if kind in ("pct", "pp") else 1.0
        tol = _half_ulp(text)
        if "±" in text:
            # Rounded to the interval: to tens for "1,230 ± 40", to hundreds for "1,200 ± 1,500".
            ci = results.loc[row, f"{col}_ci95"] * factor
            tol = 0.5 * 10.0 ** rounding.place(ci)
            assert math.isclose(_number(text.split("±")[1]), ci, abs_tol=tol * 1.0001), (src, text)
            assert tol <= ci, (src, text)  # never rounded coarser than the interval
        assert math.isclose(shown, value * factor, abs_tol=tol * 1.0001), (src, text)
        checked += 1
    assert checked > 50


def test_markdown_tables_carry_the_same_numbers_as_the_html(tiny_report):
    md = (tiny_report / "report.md").read_text("utf-8")
    for _, text in parse(tiny_report / "index.html").cells:
        assert text in md, text


def test_results_table_has_the_decision_columns_and_one_recommendation(tiny_report):
    results = pd.read_csv(tiny_report / "results.csv")
    for column in CONTRACT_COLUMNS:
        assert column in results.columns, column
        assert f"{column}_ci95" in results.columns or column in (
            "guess_bound",
            "feasible",
            "pareto",
            "recommended",
        )
    totals = results[(results["study"] == "main") & (results["scenario"] == "all")]
    assert totals["recommended"].sum() == 1
    best = totals[totals["recommended"]].iloc[0]
    assert best["feasible"]
    assert best["expected_cost"] == totals[totals["feasible"]]["expected_cost"].min()
    assert totals["is_default"].sum() == 1


def test_recommended_policy_loads_back_unchanged(tiny_report):
    path = tiny_report / "recommended-policy.toml"
    loaded = Policy.from_toml(path)
    results = pd.read_csv(tiny_report / "results.csv")
    picked = results[results["recommended"] & (results["scenario"] == "all")]
    main = picked[picked["study"] == "main"].iloc[0]
    step = picked[picked["study"] == "stepup"]  # the step-up stage's pick, on top of main's
    best = step.iloc[0] if not step.empty else main
    assert loaded == build(json.loads(best["overrides"]))
    for key, value in json.loads(main["overrides"]).items():
        assert json.loads(best["overrides"])[key] == value
    assert Policy.from_toml(loaded.to_toml()) == loaded
    assert not loaded.non_conformities()


def test_the_same_sweep_again_runs_nothing(tiny_report, tune_argv, capsys):
    from smsverify.cli import main

    assert main(tune_argv(tiny_report)) == 0
    out = capsys.readouterr().out
    assert "(0 replications run" in out
    assert "Open " in out


@pytest.mark.parametrize(
    ("grid", "key"),
    [
        (["code.ttl_s=0"], "code.ttl_s"),
        (["code.tll_s=60"], "code.tll_s"),
        (["check.max_attempts=3,five"], "check.max_attempts"),
        (["send.resend_cooldown_s=30/sixty"], "send.resend_cooldown_s"),
    ],
)
def test_a_bad_grid_exits_2_naming_the_key(grid, key, tmp_path, capsys):
    from smsverify.cli import main

    assert main(["tune", "--out", str(tmp_path), "--grid", *grid]) == 2
    err = capsys.readouterr().err
    assert key in err
    assert not (tmp_path / "points").exists()
