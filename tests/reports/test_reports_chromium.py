"""The HTML report in a real browser: it renders from disk, with every image loaded.

Runs where ``chromium`` (or ``chromium-browser``) is installed, headless, with no
network and a throwaway profile; skipped with the reason otherwise. No JavaScript: the
DOM chromium dumps names the images, each must exist beside the page, and a page of
just those images, each in a box of known place, must show a plot in every box.
"""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(BROWSER is None, reason="chromium is not installed")
BOX_W, BOX_H = 480, 300


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            BROWSER,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


class Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.sources.append(dict(attrs)["src"])


def test_the_page_renders_and_names_only_images_that_exist(tiny_report, tmp_path):
    page = (tiny_report / "index.html").resolve()
    dom = chromium(tmp_path / "profile", "--dump-dom", page.as_uri()).stdout
    assert "Which SMS verification policy to ship" in dom
    parser = Images()
    parser.feed(dom)
    assert len(parser.sources) == 8
    for src in parser.sources:
        assert (tiny_report / src).is_file(), src

    shot = tmp_path / "page.png"
    chromium(tmp_path / "profile", "--window-size=1200,3000", f"--screenshot={shot}", page.as_uri())
    pixels = image.imread(shot)[..., :3]
    assert pixels.std() > 0.05  # not a blank page


def test_every_image_decodes_in_the_browser(tiny_report, tmp_path):
    """Each image fills its box with a plot; a missing or broken one leaves it nearly white."""
    copy = tmp_path / "report"
    shutil.copytree(tiny_report, copy, ignore=shutil.ignore_patterns("points"))
    parser = Images()
    parser.feed((copy / "index.html").read_text("utf-8"))
    sources = [*parser.sources, "plots/missing.png"]
    boxes = "".join(
        f'<img src="{src}" alt="" style="display:block;width:{BOX_W}px;height:{BOX_H}px">'
        for src in sources
    )
    check = copy / "images.html"
    check.write_text(f'<html><body style="margin:0;background:#fff">{boxes}</body></html>')
    shot = tmp_path / "images.png"
    chromium(
        tmp_path / "profile",
        f"--window-size={BOX_W},{BOX_H * len(sources)}",
        f"--screenshot={shot}",
        check.resolve().as_uri(),
    )
    pixels = image.imread(shot)[..., :3]
    ink = [
        float(np.mean(pixels[i * BOX_H : (i + 1) * BOX_H].min(axis=2) < 0.9))
        for i in range(len(sources))
    ]
    missing = ink[-1]
    for src, share in zip(sources[:-1], ink[:-1], strict=True):
        assert share > max(0.03, 2.5 * missing), (src, share, missing)


MEASURE = """
<script>
const usable = %d;
const found = [];
const root = document.documentElement;
if (root.scrollWidth > root.clientWidth) found.push("page " + root.scrollWidth);
for (const el of document.querySelectorAll("table, .scroll, pre, figure, img, p, ul")) {
  const box = el.getBoundingClientRect();
  if (el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0)
    found.push(el.tagName + " scrolls: " + el.scrollWidth + " > " + el.clientWidth);
  if (box.right > usable) found.push(el.tagName + " ends at " + Math.round(box.right));
}
document.body.setAttribute("data-tables", document.querySelectorAll("table").length);
document.body.setAttribute("data-overflow", found.join("; ") || "none");
</script>
"""


def test_nothing_scrolls_sideways_in_a_1280_px_window(tiny_report, tmp_path):
    """Every table, figure and block fits 1280 px less a scrollbar: no sideways scrolling."""
    copy = tmp_path / "report"
    shutil.copytree(tiny_report, copy, ignore=shutil.ignore_patterns("points"))
    page = copy / "index.html"
    usable = 1280 - 17  # room for a vertical scrollbar where one is drawn
    page.write_text(
        page.read_text("utf-8").replace("</body>", MEASURE % usable + "</body>"), "utf-8"
    )
    dom = chromium(
        tmp_path / "profile", "--window-size=1280,900", "--dump-dom", page.resolve().as_uri()
    ).stdout
    tables = int(dom.split('data-tables="')[1].split('"')[0])
    overflow = dom.split('data-overflow="')[1].split('"')[0]
    assert tables >= 5
    assert overflow == "none"


def test_a_narrow_window_would_be_caught(tiny_report, tmp_path):
    """The same measurement flags the page in a window too narrow for its tables."""
    copy = tmp_path / "report"
    shutil.copytree(tiny_report, copy, ignore=shutil.ignore_patterns("points"))
    page = copy / "index.html"
    page.write_text(page.read_text("utf-8").replace("</body>", MEASURE % 300 + "</body>"), "utf-8")
    dom = chromium(
        tmp_path / "profile", "--window-size=320,900", "--dump-dom", page.resolve().as_uri()
    ).stdout
    assert dom.split('data-overflow="')[1].split('"')[0] != "none"
