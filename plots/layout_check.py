#!/usr/bin/python3
"""Checks a report as a browser lays it out: every summary cell on one line.

    /usr/bin/python3 plots/layout_check.py RESULTS_DIR [--width 1280] [--json]

Opens RESULTS_DIR/report.html in headless Chromium at --width pixels (a
copy with a measuring script appended, written next to it so relative
paths resolve, removed afterwards), counts the text lines of every table
cell and prints each table with the cells that wrap. The check fails when
a cell of a summary table (class "compact": the report's tables of
short tokens) or any numeric cell of any table takes more than one line, or when the page is
wider than the window (a horizontal scroll bar). Prose elsewhere may wrap.

Exit status: 0 the layout holds, 1 it does not, 2 usage, no report or no
Chromium (Debian: apt-get install chromium; not a dependency of the suite).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

# Appended before </body>: lays the page out, measures it and writes the
# result into the DOM, which --dump-dom prints.
MEASURE = """<script>
(function () {
  const tables = [];
  document.querySelectorAll('table').forEach(function (t) {
    const cap = t.querySelector('caption');
    const head = Array.from(t.querySelectorAll('tr:first-child th')).map(function (h) {
      return h.textContent.trim(); });
    const wrapped = [];
    t.querySelectorAll('tr').forEach(function (tr, ri) {
      tr.querySelectorAll('td').forEach(function (td, ci) {
        const range = document.createRange();
        range.selectNodeContents(td);
        const tops = new Set(Array.from(range.getClientRects()).map(function (r) {
          return Math.round(r.top); }));
        if (tops.size > 1) {
          wrapped.push({row: ri, column: ci, lines: tops.size, numeric: td.classList.contains('num'),
                        text: td.textContent.trim().slice(0, 60)});
        }
      });
    });
    tables.push({caption: cap ? cap.textContent.trim() : '', header: head,
                 compact: t.classList.contains('compact'),
                 rows: t.querySelectorAll('tr').length, width_px: Math.round(t.getBoundingClientRect().width),
                 wrapped: wrapped});
  });
  const pre = document.createElement('pre');
  pre.id = 'cb-layout';
  pre.textContent = JSON.stringify({page_width_px: document.documentElement.scrollWidth,
                                    window_width_px: window.innerWidth, tables: tables});
  document.body.appendChild(pre);
})();
</script>"""


def find_browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def measure(report_html: str, width: int, browser: str) -> dict:
    """Lays the report out in the browser; returns what MEASURE found."""
    page = open(report_html, encoding="utf-8").read()
    cut = page.rfind("</body>")
    page = (page[:cut] + MEASURE + page[cut:]) if cut >= 0 else page + MEASURE
    folder = os.path.dirname(os.path.abspath(report_html))
    fd, copy = tempfile.mkstemp(prefix=".layout-", suffix=".html", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(page)
        with tempfile.TemporaryDirectory(prefix="cb-chromium-") as profile:
            proc = subprocess.run(
                [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                 f"--user-data-dir={profile}", f"--window-size={width},1000", "--dump-dom",
                 "file://" + copy], capture_output=True, text=True, timeout=120)
    finally:
        os.unlink(copy)
    m = re.search(r'<pre id="cb-layout">(.*?)</pre>', proc.stdout, re.S)
    if not m:
        raise RuntimeError(f"{os.path.basename(browser)} printed no layout (exit status "
                           f"{proc.returncode}): {proc.stderr.strip()[-300:]}")
    import html
    return json.loads(html.unescape(m.group(1)))


def problems(layout: dict) -> list[str]:
    """What breaks the rule, one line each."""
    out = []
    if layout["page_width_px"] > layout["window_width_px"]:
        out.append(f"page is {layout['page_width_px']} px wide in a "
                   f"{layout['window_width_px']} px window")
    for i, t in enumerate(layout["tables"]):
        summary = t.get("compact") or "ranked by" in t["header"]
        name = t["caption"] or f"table {i + 1}"
        for w in t["wrapped"]:
            if summary or w["numeric"]:
                out.append(f"{name}: row {w['row']}, column {t['header'][w['column']] if w['column'] < len(t['header']) else w['column']}: "
                           f"{w['lines']} lines ({w['text']!r})")
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Check a report's tables as Chromium lays them out.")
    p.add_argument("folder", help="results folder with report.html")
    p.add_argument("--width", type=int, default=1280, help="window width in px (default 1280)")
    p.add_argument("--json", action="store_true", help="print the measured layout as JSON")
    args = p.parse_args(argv)
    report_html = os.path.join(args.folder, "report.html")
    if not os.path.isfile(report_html) or args.width < 200:
        print(f"layout_check.py: no {report_html}" if args.width >= 200 else
              "layout_check.py: --width must be at least 200", file=sys.stderr)
        return 2
    browser = find_browser()
    if browser is None:
        print("layout_check.py: no Chromium (apt-get install chromium)", file=sys.stderr)
        return 2
    try:
        layout = measure(report_html, args.width, browser)
    except (RuntimeError, subprocess.TimeoutExpired, ValueError) as e:
        print(f"layout_check.py: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(layout, indent=1))
    bad = problems(layout)
    tables = layout["tables"]
    print(f"{len(tables)} tables at {args.width} px; page {layout['page_width_px']} px wide; "
          f"{sum(len(t['wrapped']) for t in tables)} wrapped cells, {len(bad)} against the rule")
    for line in bad:
        print("  " + line)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
