"""A tiny document model rendered twice: Markdown for reading in a repository, HTML for a
browser. The load report is a list of sections, each with paragraphs, tables and images.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 70rem; margin: 2rem auto;
       padding: 0 1rem; color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: 0.8rem 0 1.4rem; font-size: 0.92rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.55rem; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f3f3f3; }
.pass { color: #1a7f37; font-weight: 600; } .fail { color: #c62828; font-weight: 600; }
img { max-width: 100%; }
"""


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]


@dataclass
class Section:
    title: str
    parts: list[str | Table] = field(default_factory=list)  # paragraphs, tables, "img:PATH"

    def text(self, paragraph: str) -> Section:
        self.parts.append(paragraph)
        return self

    def table(self, headers: list[str], rows: list[list[str]]) -> Section:
        self.parts.append(Table(headers, rows))
        return self

    def image(self, path: str) -> Section:
        self.parts.append(f"img:{path}")
        return self


def fmt(value, digits: int = 1, scale: float = 1.0) -> str:
    """A number for a table; ``-`` for a missing value, never ``nan``."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) and scale == 1:
        return f"{value:,}"
    number = float(value) * scale
    if number != number:
        return "-"
    return f"{number:,.{digits}f}"


def _numeric(cell: str) -> bool:
    stripped = cell.replace(",", "").replace("%", "").replace("+", "").replace("−", "-").strip()
    try:
        float(stripped)
    except ValueError:
        return False
    return True


def markdown(title: str, sections: list[Section]) -> str:
    out = [f"# {title}", ""]
    for section in sections:
        out += [f"## {section.title}", ""]
        for part in section.parts:
            if isinstance(part, Table):
                out.append("| " + " | ".join(part.headers) + " |")
                out.append("|" + "|".join("---" for _ in part.headers) + "|")
                out += [
                    "| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in part.rows
                ]
            elif part.startswith("img:"):
                out.append(f"![{section.title}]({part[4:]})")
            else:
                out.append(part)
            out.append("")
    return "\n".join(out)


def _cell(text: str) -> str:
    css = ""
    if text == "pass":
        css = ' class="pass"'
    elif text == "FAIL":
        css = ' class="fail"'
    elif _numeric(text):
        css = ' class="n"'
    return f"<td{css}>{html.escape(text)}</td>"


def _inline(text: str) -> str:
    """Escaped text with Markdown's `code` spans kept as <code>."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def page(title: str, sections: list[Section]) -> str:
    out = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    for section in sections:
        out.append(f"<h2>{html.escape(section.title)}</h2>")
        for part in section.parts:
            if isinstance(part, Table):
                head = "".join(f"<th>{html.escape(h)}</th>" for h in part.headers)
                body = "".join("<tr>" + "".join(map(_cell, r)) + "</tr>" for r in part.rows)
                out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
            elif part.startswith("img:"):
                out.append(f'<p><img src="{html.escape(part[4:])}" alt=""></p>')
            else:
                out.append(f"<p>{_inline(part)}</p>")
    out.append("</body></html>")
    return "\n".join(out)
