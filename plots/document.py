"""A tiny document model rendered twice: as Markdown and as self-contained HTML.

report.py and compare.py build a list of blocks once; `to_markdown` and
`to_html` write the same content, so report.md and report.html cannot drift
apart. The HTML embeds its stylesheet and refers to the PNGs beside it by
file name, so the folder can be copied or served as it is.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Optional, Union


class Strong(str):
    """Table cell or text to emphasise (the best value of a row)."""


Cell = Union[str, Strong]


@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Para:
    text: str


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Table:
    headers: list[str]
    rows: list[list[Cell]]
    caption: Optional[str] = None
    # Columns holding numbers are right-aligned.
    numeric: set[int] = field(default_factory=set)
    # Every cell a short token (numbers, ratios, names): none may wrap.
    compact: bool = False


@dataclass
class Image:
    filename: str
    title: str
    caption: str = ""


@dataclass
class Code:
    text: str


Block = Union[Heading, Para, Bullets, Table, Image, Code]


# --- Markdown ------------------------------------------------------------------

def _md_cell(c: Cell) -> str:
    text = str(c).replace("|", "\\|").replace("\n", " ")
    return f"**{text}**" if isinstance(c, Strong) and text else text


def to_markdown(title: str, blocks: list[Block]) -> str:
    out = [f"# {title}", ""]
    for b in blocks:
        if isinstance(b, Heading):
            out += ["#" * b.level + " " + b.text, ""]
        elif isinstance(b, Para):
            out += [b.text, ""]
        elif isinstance(b, Bullets):
            out += [f"- {item}" for item in b.items] + [""]
        elif isinstance(b, Table):
            if b.caption:
                out += [f"*{b.caption}*", ""]
            align = ["---:" if i in b.numeric else "---" for i in range(len(b.headers))]
            out.append("| " + " | ".join(_md_cell(h) for h in b.headers) + " |")
            out.append("|" + "|".join(align) + "|")
            out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b.rows]
            out.append("")
        elif isinstance(b, Image):
            out += [f"![{b.title}]({b.filename})", ""]
            if b.caption:
                out += [f"*{b.caption}*", ""]
        elif isinstance(b, Code):
            out += ["```sh", b.text, "```", ""]
    return "\n".join(out)


# --- HTML --------------------------------------------------------------------------

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 1200px; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; }
table { border-collapse: collapse; margin: .5em 0 1.2em; font-size: .92em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: left; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.tok { white-space: nowrap; }
caption { caption-side: top; text-align: left; font-style: italic; padding: .2em 0; }
figure { margin: 1em 0 2em; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: .9em; color: #555; }
pre { background: #f6f6f6; padding: .7em; overflow-x: auto; }
"""


def _html_cell(c: Cell) -> str:
    text = html.escape(str(c))
    return f"<strong>{text}</strong>" if isinstance(c, Strong) and text else text


def _html_table(b: Table) -> list[str]:
    out = ['<table class="compact">' if b.compact else "<table>"]
    if b.caption:
        out.append(f"<caption>{html.escape(b.caption)}</caption>")
    # A header may break after the colon of "model:variant", so a column
    # is as wide as its values rather than its name.
    out.append("<tr>" + "".join(f"<th>{html.escape(h).replace(':', ':<wbr>')}</th>"
                                for h in b.headers) + "</tr>")
    plain = '<td class="tok">' if b.compact else "<td>"
    for row in b.rows:
        cells = "".join(f'<td class="num">{_html_cell(c)}</td>' if i in b.numeric
                        else f"{plain}{_html_cell(c)}</td>" for i, c in enumerate(row))
        out.append(f"<tr>{cells}</tr>")
    out.append("</table>")
    return out


def to_html(title: str, blocks: list[Block]) -> str:
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           f"<title>{html.escape(title)}</title>", f"<style>{STYLE}</style>", "</head>",
           "<body>", f"<h1>{html.escape(title)}</h1>"]
    for b in blocks:
        if isinstance(b, Heading):
            out.append(f"<h{b.level}>{html.escape(b.text)}</h{b.level}>")
        elif isinstance(b, Para):
            out.append(f"<p>{html.escape(b.text)}</p>")
        elif isinstance(b, Bullets):
            out += ["<ul>"] + [f"<li>{html.escape(i)}</li>" for i in b.items] + ["</ul>"]
        elif isinstance(b, Table):
            out += _html_table(b)
        elif isinstance(b, Image):
            src = html.escape(b.filename, quote=True)
            out.append(f'<figure><img src="{src}" alt="{html.escape(b.title, quote=True)}">'
                       f"<figcaption>{html.escape(b.caption)}</figcaption></figure>")
        elif isinstance(b, Code):
            out.append(f"<pre><code>{html.escape(b.text)}</code></pre>")
    out += ["</body>", "</html>", ""]
    return "\n".join(out)


def write(md_path: str, html_path: str, title: str, blocks: list[Block]):
    with open(md_path, "w", encoding="utf-8") as f:
        f.write(to_markdown(title, blocks))
    with open(html_path, "w", encoding="utf-8") as f:
        f.write(to_html(title, blocks))
