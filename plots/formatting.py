"""How numbers are written in charts, reports and comparisons: one place, so
report.md, compare.md and the chart axes say "1.5 KiB", "10k" and "2.5ms"
the same way.

None (a value that was not measured) is written "—" by the table
formatters and "?" by the ones that name sizes and counts in titles.
"""

from __future__ import annotations

from typing import Optional

from stats import number

MISSING = "—"


def format_bytes(n) -> str:
    """64 -> '64 B', 1024 -> '1 KiB', 1536 -> '1.5 KiB'."""
    n = number(n)
    if n is None:
        return "?"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:g} {unit}" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:g}"


def format_count(n, _pos=None) -> str:
    """Connection counts and rates for axes and titles: 10000 -> '10k'.
    (_pos lets matplotlib use it as a tick formatter.)"""
    n = number(n)
    if n is None:
        return "?"
    for div, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            return f"{n / div:g}{suffix}"
    return f"{n:g}"


def fmt_us(v: Optional[float]) -> str:
    """Microseconds with a readable unit: 850 -> '850µs', 2500 -> '2.5ms'."""
    if v is None:
        return MISSING
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 1e6:
        return f"{v / 1e6:.3g}s"
    if a >= 1e3:
        return f"{v / 1e3:.3g}ms"
    if a >= 1:
        return f"{v:.3g}µs"
    return f"{v * 1e3:.3g}ns"


def fmt_ns(v: Optional[float]) -> str:
    return fmt_us(v / 1e3) if v is not None else MISSING


def fmt_rps(v: Optional[float]) -> str:
    """Requests per second (or any large figure) with thousands separators."""
    return MISSING if v is None else f"{v:,.0f}"


def fmt_ratio(v: Optional[float]) -> str:
    return MISSING if v is None else f"{v:.2f}×"


def fmt_figure(v: float) -> str:
    """Three significant digits without exponents: 1870.3 -> '1,870'."""
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"
