"""The charts of a results folder: one function per chart, each writes PNGs.

Every chart reads the folder through results.py only, and is two steps: a
`*_data` function shapes what will be drawn (plain values, tested by
plots/tests/test_shaped.py) and the chart function draws it. Titles carry the
workload (protocol, sizes, loop) and the machine (CPU model, CPUs, pinning);
axes carry units; a log scale is used where values span more than ~20x; error
bars span min..max over the successful repetitions. Each model variant keeps
one colour and marker in every chart (Style), so charts read side by side.

    import charts, results
    for chart in charts.render_all(results.load(folder), folder): print(chart.filename)
"""

from __future__ import annotations

import os
import traceback
from dataclasses import dataclass
from typing import Callable, Optional

import matplotlib

matplotlib.use("Agg")  # files only; no display on a benchmark machine
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator  # noqa: E402
from matplotlib.transforms import blended_transform_factory  # noqa: E402

import formatting as fm  # noqa: E402
import results as rs  # noqa: E402
import disk as dk  # noqa: E402
import service as sv  # noqa: E402
from formatting import fmt_ns, fmt_us  # noqa: E402

DPI = 100                 # ~800x460 px per chart: readable, a few tens of KiB
WIDE = (8.0, 4.6)
PANELS3 = (13.0, 4.4)
PNG_COLORS = 128
MAX_ANNOTATED_BARS = 20      # more value labels than this overlap
LOG_SPAN = 20.0           # use a log axis when max/min reaches this
KNEE_FACTOR = 3.0         # open loop: the tail has turned up at 3x its low-load p99
# A model's hue, by its place in the registry's model order (results.py's
# Results.model_order): process, thread, pool, reactor, fiber today.
MODEL_PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd")
EXTRA_COLORS = ("#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22", "#1f77b4",
                "#d62728", "#2ca02c", "#ff7f0e", "#9467bd")
COLORS = EXTRA_COLORS[5:] + EXTRA_COLORS[:5]
SHADES = (0.0, 0.45, -0.4, 0.7, -0.6, 0.25)   # a model's variants: + lighter, - darker
LINESTYLES = ("-", "--", "-.", ":")
# Reference servers (peer:NAME): greys, dashed or dotted, whatever the
# models' colours, so a chart's models stand out against them.
PEER_GREYS = ("#3a3a3a", "#7a7a7a", "#555555", "#959595", "#666666", "#a8a8a8")
PEER_LINESTYLES = ("--", ":")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")
PERCENTILE_TICKS = ((2, "50%"), (10, "90%"), (100, "99%"), (1e3, "99.9%"),
                    (1e4, "99.99%"), (1e5, "99.999%"), (1e6, "99.9999%"))
# What a micro-benchmark's trailing argument counts: by its name in the
# benchmark name (BM_Readiness/epoll/active:1/fds:1000), else by family.
BENCH_ARG_NAMES = {"fds": "watched file descriptors", "BM_Poll": "idle file descriptors",
                   "BM_Readiness": "watched file descriptors"}
# The counter that carries a family's figure when every benchmark of the
# family has it (bench/README.md): half a round trip, the wait call alone.
BENCH_TIME_COUNTERS = ("ns_per_switch", "ns_per_wait", "ns_per_spawn")
# Memory per idle item (BM_Memory), stacked: what PSS counts, then the kernel
# memory PSS leaves out.
BENCH_MEMORY_COUNTERS = (("pss_kb_per_item", "PSS", None, 1.0),
                         ("page_tables_kb_per_item", "page tables", "//", 0.55),
                         ("kernel_stack_kb_per_item", "kernel stack", "xx", 0.3))


@dataclass
class Chart:
    filename: str   # beside the report, e.g. "throughput_echo_m64.png"
    section: str    # report section, e.g. "Throughput"
    title: str
    caption: str


class Style:
    """A fixed colour, marker and line style per model variant.

    Labels are grouped by the part before `separator`: each group (a model)
    has one hue, by its place in model_order with by_model, and its members
    (the variants) are shades of it with their own line style, so a model's
    variants read as a family. Reference servers (peer:NAME) are greys with
    dashed or dotted lines, named with the suffix " (reference)" (name()).
    """

    def __init__(self, labels, by_model=True, separator=":",
                 model_order=rs.FALLBACK_MODEL_ORDER):
        hues = dict(zip(model_order, MODEL_PALETTE))
        self.map = {}
        variants: dict[str, int] = {}
        extra: dict[str, str] = {}
        for i, label in enumerate(labels):
            model = label.split(separator, 1)[0]
            k = variants.get(model, 0)
            variants[model] = k + 1
            if by_model and rs.is_peer(label):
                self.map[label] = (PEER_GREYS[k % len(PEER_GREYS)], MARKERS[i % len(MARKERS)],
                                   PEER_LINESTYLES[k % len(PEER_LINESTYLES)])
                continue
            if by_model and model in hues:
                base = hues[model]
            else:
                palette = EXTRA_COLORS if by_model else COLORS
                base = extra.setdefault(model, palette[len(extra) % len(palette)])
            self.map[label] = (_shade(base, SHADES[k % len(SHADES)]),
                               MARKERS[i % len(MARKERS)], LINESTYLES[k % len(LINESTYLES)])

    def name(self, label):
        """The label a legend or axis shows: peers marked as references."""
        return rs.display_label(label) if label in self.map else label

    def color(self, label):
        return self.map.get(label, ("black", "o", "-"))[0]

    def marker(self, label):
        return self.map.get(label, ("black", "o", "-"))[1]

    def linestyle(self, label):
        return self.map.get(label, ("black", "o", "-"))[2]


def _shade(hex_color: str, t: float) -> str:
    """Mixes the colour towards white (t > 0) or black (t < 0)."""
    rgb = [int(hex_color[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    target = 1.0 if t > 0 else 0.0
    mixed = [c + (target - c) * abs(t) for c in rgb]
    return "#" + "".join(f"{round(c * 255):02x}" for c in mixed)


def _positive(values):
    return [v for v in values if v is not None and v > 0]


def _spans_decades(values, span=LOG_SPAN) -> bool:
    vals = _positive(values)
    return len(vals) > 1 and max(vals) / min(vals) >= span


def _value_axis(ax, values, formatter, axis="y", force_log=False, zero=False):
    """Log scale when the values span decades; tick labels with units. With
    zero, a linear axis starts at 0 so that heights compare as ratios."""
    ax_ = ax.yaxis if axis == "y" else ax.xaxis
    log = force_log or _spans_decades(values)
    if log:
        (ax.set_yscale if axis == "y" else ax.set_xscale)("log")
        vals = _positive(values)
        # Under ~2.5 decades (~1.5 on a crowded x axis) label 2x and 5x
        # too, or there may be only one labelled tick.
        if vals and max(vals) / min(vals) < (300 if axis == "y" else 30):
            ax_.set_minor_formatter(FuncFormatter(
                lambda v, p: formatter(v) if _mantissa(v) in (2, 5) else ""))
        else:
            ax_.set_minor_formatter(NullFormatter())
    elif zero and axis == "y":
        ax.set_ylim(bottom=0, top=max(_positive(values), default=1.0) * 1.1)
    ax_.set_major_formatter(FuncFormatter(lambda v, p: formatter(v)))
    return log


def _mantissa(v: float) -> int:
    if v <= 0:
        return 0
    s = f"{v:.0e}"
    return int(s[0])


def _x_axis(ax, xs, label):
    """Connection counts or rates: ticks at exactly the measured values."""
    xs = sorted(set(xs))
    if _spans_decades(xs, 10):
        ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(xs))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(fm.format_count))
    ax.set_xlabel(label)
    if len(xs) == 1:
        ax.set_xlim(xs[0] * 0.5, xs[0] * 1.5)


def _title(fig, what: str, res: rs.Results, workload: Optional[rs.Workload] = None,
           machine: Optional[str] = None):
    line1 = what + (f" — {workload.describe()}" if workload else "")
    fig.suptitle(f"{line1}\n{machine or res.machine()}", fontsize=11)


def _legend_right(ax_or_fig, handles=None, labels=None, title=None):
    kwargs = dict(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0,
                  fontsize=9, frameon=False, title=title, title_fontsize=9)
    if handles is not None:
        return ax_or_fig.legend(handles, labels, **kwargs)
    return ax_or_fig.legend(**kwargs)


def _save(fig, out_dir: str, filename: str) -> str:
    path = os.path.join(out_dir, filename)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    _shrink_png(path)
    return filename


def _shrink_png(path: str):
    """A palette of 128 colours cuts a chart's PNG to about a quarter, with no
    visible change (charts are flat colours plus anti-aliased edges)."""
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as im:
        small = im.convert("RGB").quantize(colors=PNG_COLORS, method=Image.Quantize.MEDIANCUT,
                                           dither=Image.Dither.NONE)
    small.save(path, optimize=True)


def _errorbars(stats):
    below, above = zip(*(s.error_bar() for s in stats)) if stats else ((), ())
    return [list(below), list(above)]


def _reps_caption(res: rs.Results) -> str:
    n = rs.number(res.config.get("repeat"))
    if n == 1:
        return "One repetition per cell (no error bars; --repeat 3 draws them)."
    reps = f"{int(n)} repetitions" if n is not None else "the repetitions"
    return f"Points are means over {reps}; error bars span min–max."


def _plot_series(ax, series, style: Style, with_labels=True):
    """One line per model variant, error bars from the repetitions."""
    for label, pts in series.items():
        xs = [x for x, _ in pts]
        stats = [s for _, s in pts]
        ax.errorbar(xs, [s.mean for s in stats], yerr=_errorbars(stats), capsize=3,
                    color=style.color(label), marker=style.marker(label), markersize=6,
                    linestyle=style.linestyle(label), linewidth=1.6, elinewidth=1.0,
                    label=style.name(label) if with_labels else None)


# --- 1. throughput vs connections ---------------------------------------------

@dataclass
class ThroughputData:
    series: dict            # label -> [(connections, Stat of requests/s)]
    xs: list                # every measured connection count
    failed: list            # [(label, connections)]: cells whose every repetition failed


def throughput_data(res: rs.Results, wl: rs.Workload) -> Optional[ThroughputData]:
    series = res.series(wl, "requests_per_s")
    if not series:
        return None
    failed = [(c.key.label, c.key.x) for c in res.cells_of(wl)
              if c.runs and not c.ok_runs and c.key.x is not None]
    return ThroughputData(series, res.xs(wl), failed)


def throughput(res: rs.Results, wl: rs.Workload, out_dir: str, style: Style) -> Optional[Chart]:
    data = throughput_data(res, wl)
    if data is None:
        return None
    fig, ax = plt.subplots(figsize=WIDE, layout="constrained")
    _plot_series(ax, data.series, style)
    _value_axis(ax, [s.max or s.mean for pts in data.series.values() for _, s in pts],
                fm.format_count, zero=True)
    ax.set_ylabel("throughput (requests/s)")
    _x_axis(ax, data.xs, "concurrent connections")
    _mark_failed_cells(ax, data.failed, style)
    ax.grid(True, which="major", alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if data.failed:
        handles.append(Line2D([], [], color="black", marker="x", linestyle="", markersize=8,
                              markeredgewidth=2))
        labels.append("all repetitions failed")
    _legend_right(ax, handles, labels, title="model:variant")
    _title(fig, "Throughput vs connections", res, wl)
    name = _save(fig, out_dir, f"throughput_{wl.slug()}.png")
    return Chart(name, "Throughput", f"Throughput — {wl.describe()}",
                 _reps_caption(res) + (" An × on the axis marks a cell whose every "
                                       "repetition failed." if data.failed else ""))


def _mark_failed_cells(ax, failed, style):
    """An x at the bottom of the axis where a cell produced no successful run."""
    trans = blended_transform_factory(ax.transData, ax.transAxes)
    for label, x in failed:
        ax.plot([x], [0.03], marker="x", markersize=9, markeredgewidth=2,
                color=style.color(label), transform=trans, clip_on=False)


# --- 2. latency percentiles vs connections --------------------------------------

LATENCY_PANELS = (("p50_us", "p50"), ("p99_us", "p99"), ("p99_9_us", "p99.9"))


@dataclass
class PanelsData:
    panels: list            # [(title, {label: [(x, Stat)]})], one per LATENCY_PANELS entry
    xs: list
    values: list            # every mean drawn, for the shared value axis


def latency_data(res: rs.Results, wl: rs.Workload) -> Optional[PanelsData]:
    panels = [(title, res.series(wl, metric)) for metric, title in LATENCY_PANELS]
    if not any(series for _, series in panels):
        return None
    values = [s.mean for _, series in panels for pts in series.values() for _, s in pts]
    return PanelsData(panels, res.xs(wl), values)


def latency(res: rs.Results, wl: rs.Workload, out_dir: str, style: Style) -> Optional[Chart]:
    data = latency_data(res, wl)
    if data is None:
        return None
    fig, axes = plt.subplots(1, 3, figsize=PANELS3, sharey=True, layout="constrained")
    for ax, (title, series) in zip(axes, data.panels):
        _plot_series(ax, series, style, with_labels=ax is axes[0])
        ax.set_title(f"{title} latency", fontsize=10)
        _x_axis(ax, data.xs, "concurrent connections")
        ax.grid(True, which="major", alpha=0.3)
        if not series:
            ax.text(0.5, 0.5, "not measured", ha="center", transform=ax.transAxes,
                    color="0.5")
    _value_axis(axes[0], data.values, fmt_us)
    axes[0].set_ylabel("latency (log scale)" if _spans_decades(data.values) else "latency")
    _legend_right(axes[-1], *axes[0].get_legend_handles_labels(), title="model:variant")
    _title(fig, "Latency percentiles vs connections", res, wl)
    name = _save(fig, out_dir, f"latency_{wl.slug()}.png")
    return Chart(name, "Latency", f"Latency percentiles — {wl.describe()}",
                 _reps_caption(res) + " Lower is better.")


# --- 3. latency spectrum (HdrHistogram style) -------------------------------------

def choose_spectrum_x(res: rs.Results, wl: rs.Workload, wanted=None):
    """The connection count for the spectrum: the one asked for if measured
    (else the nearest), otherwise the largest at which most models succeeded."""
    xs = res.xs(wl)
    if not xs:
        return None
    if wanted is not None:
        return min(xs, key=lambda x: (abs(x - wanted), -x))
    def ok_models(x):
        return sum(1 for c in res.cells_of(wl) if c.key.x == x and c.ok_runs)
    return max(xs, key=lambda x: (ok_models(x), x))


@dataclass
class SpectrumLine:
    label: str
    from_json: bool         # no .hgrm: drawn from results.json's percentiles
    points: list            # [(1 / (1 - percentile), latency µs)], percentile < 1
    values: list            # every latency of the distribution (µs), 100% included


@dataclass
class SpectrumData:
    x: float                # the connection count drawn
    lines: list             # [SpectrumLine] in label order
    max_x: float            # the largest 1 / (1 - percentile), at least 1

    @property
    def fallback(self) -> list:
        return [l.label for l in self.lines if l.from_json]


def spectrum_data(res: rs.Results, wl: rs.Workload, connections=None) -> Optional[SpectrumData]:
    x = choose_spectrum_x(res, wl, connections)
    if x is None:
        return None
    lines = []
    for label in res.labels():
        cell = res.cell(wl, label, x)
        run = cell.representative_run() if cell else None
        sp = rs.spectrum(res, run) if run else None
        if sp and any(p < 1 for p, _ in sp.points):
            pts = [(1 / (1 - p), v) for p, v in sp.points if p < 1]
            lines.append(SpectrumLine(label, sp.source == "json", pts,
                                      [v for _, v in sp.points]))
    if not lines:
        return None
    max_x = max([1.0] + [px for line in lines for px, _ in line.points])
    return SpectrumData(x, lines, max_x)


def spectrum(res: rs.Results, wl: rs.Workload, out_dir: str, style: Style,
             connections=None) -> Optional[Chart]:
    data = spectrum_data(res, wl, connections)
    if data is None:
        return None
    x = data.x
    fig, ax = plt.subplots(figsize=WIDE, layout="constrained")
    for line in data.lines:
        pts, label = line.points, line.label
        ax.plot([px for px, _ in pts], [v for _, v in pts], color=style.color(label),
                marker=style.marker(label), markersize=6 if line.from_json else 4,
                markevery=1 if line.from_json else max(1, len(pts) // 8),
                linestyle=style.linestyle(label), linewidth=1.6,
                label=style.name(label) + (" (JSON percentiles)" if line.from_json else ""))
    ax.set_xscale("log")
    ticks = [(t, l) for t, l in PERCENTILE_TICKS if t <= data.max_x * 1.01]
    ax.xaxis.set_major_locator(FixedLocator([t for t, _ in ticks]))
    ax.xaxis.set_major_formatter(FuncFormatter(
        lambda v, p: dict(ticks).get(v, "")))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlim(1, max(10.0, data.max_x * 1.3))
    ax.set_xlabel("percentile")
    values = [v for line in data.lines for v in line.values]
    log = _value_axis(ax, values, fmt_us)
    ax.set_ylabel("latency" + (" (log scale)" if log else ""))
    ax.grid(True, which="major", alpha=0.3)
    _legend_right(ax, title="model:variant")
    _title(fig, f"Latency by percentile at {fm.format_count(x)} connections", res, wl)
    name = _save(fig, out_dir, f"spectrum_{wl.slug()}_c{int(x)}.png")
    caption = ("One typical repetition per model variant (the one with the median p99), "
               "from its .hgrm file.")
    fallback = data.fallback
    if fallback and len(fallback) == len(data.lines):
        caption = ("One typical repetition per model variant (the one with the median p99), "
                   "from the percentiles in results.json (no .hgrm files).")
    elif fallback:
        caption += (" " + ", ".join(fallback) + " had no .hgrm: drawn (with a marker per "
                    "point) from the percentiles in results.json.")
    return Chart(name, "Latency spectrum",
                 f"Latency spectrum — {wl.describe()}, {fm.format_count(x)} connections",
                 caption)


# --- 4. memory -------------------------------------------------------------------------

@dataclass
class MemoryData:
    bar_x: Optional[float]  # the connection count of the per-connection bars
    bars: list              # [(label, Stat of PSS KiB per connection)] at bar_x
    peak_mib: dict          # label -> [(connections, Stat of peak PSS in MiB)]
    xs: list


def memory_data(res: rs.Results, wl: rs.Workload) -> Optional[MemoryData]:
    per_conn = res.series(wl, "server_pss_per_connection_kb")
    peak = res.series(wl, "server_pss_peak_kb")
    if not per_conn and not peak:
        return None
    x = _most_covered_x(per_conn)
    bars = [(label, dict(pts)[x]) for label, pts in per_conn.items()
            if dict(pts).get(x) is not None]
    mib = {l: [(px, s.scaled(1 / 1024)) for px, s in pts] for l, pts in peak.items()}
    return MemoryData(x, bars, mib, res.xs(wl))


def memory(res: rs.Results, wl: rs.Workload, out_dir: str, style: Style) -> Optional[Chart]:
    data = memory_data(res, wl)
    if data is None:
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(12.5, 4.4), layout="constrained",
                                      gridspec_kw={"width_ratios": [1, 1.3]})
    x = data.bar_x
    _bars(left, data.bars, style, lambda v: f"{v:.3g} KiB")
    left.set_ylabel("PSS per connection (KiB)")
    left.set_title(f"per connection, at {fm.format_count(x)} connections" if x is not None
                   else "per connection: not measured", fontsize=10)
    mib = data.peak_mib
    _plot_series(right, mib, style)
    _value_axis(right, [s.max or s.mean for pts in mib.values() for _, s in pts],
                lambda v: f"{v:.3g}", zero=True)
    right.set_ylabel("server PSS, peak (MiB)")
    right.set_title("whole server process tree", fontsize=10)
    _x_axis(right, data.xs, "concurrent connections")
    right.grid(True, which="major", alpha=0.3)
    _legend_right(right, title="model:variant")
    _title(fig, "Server memory (PSS)", res, wl)
    name = _save(fig, out_dir, f"memory_{wl.slug()}.png")
    return Chart(name, "Memory", f"Memory — {wl.describe()}",
                 "PSS of the whole server tree (smaps_rollup). Per connection = (peak − idle) "
                 "/ connections. " + _reps_caption(res))


def _most_covered_x(series):
    """The largest x at which the most model variants have a value."""
    count: dict = {}
    for pts in series.values():
        for x, _ in pts:
            count[x] = count.get(x, 0) + 1
    return max(count, key=lambda x: (count[x], x)) if count else None


def _bars(ax, bars, style, fmt):
    labels = [label for label, _ in bars]
    stats = [st for _, st in bars]
    if not labels:
        ax.text(0.5, 0.5, "not measured", ha="center", transform=ax.transAxes, color="0.5")
        ax.set_xticks([])
        return
    pos = range(len(labels))
    ax.bar(pos, [s.mean for s in stats], yerr=_errorbars(stats), capsize=3,
           color=[style.color(l) for l in labels], edgecolor="black", linewidth=0.5)
    for p, s in zip(pos, stats):
        ax.annotate(fmt(s.mean), (p, s.mean), textcoords="offset points", xytext=(0, 3),
                    ha="center", va="bottom", fontsize=8)
    ax.set_xticks(list(pos))
    ax.set_xticklabels([style.name(l) for l in labels], rotation=20, ha="right", fontsize=9)
    _value_axis(ax, [s.mean for s in stats] + [s.max or s.mean for s in stats],
                lambda v: f"{v:.3g}")
    ax.margins(y=0.15)
    ax.grid(True, axis="y", which="major", alpha=0.3)


# --- 5. context switches per request ----------------------------------------------

@dataclass
class ContextSwitchData:
    xs: list                # connection counts, one group of bars each
    labels: list            # model variants with any figure
    bars: list              # [(position, label, voluntary, involuntary)] means per request
    unsplit: bool           # some cell recorded only the total (drawn as voluntary)

    @property
    def tops(self) -> list:
        return [v + iv for _, _, v, iv in self.bars]


def context_switches_data(res: rs.Results, wl: rs.Workload) -> Optional[ContextSwitchData]:
    vol = res.series(wl, "server_voluntary_cs_per_request")
    invol = res.series(wl, "server_involuntary_cs_per_request")
    total = res.series(wl, "server_cs_per_request")
    labels = [l for l in res.labels() if l in vol or l in invol or l in total]
    if not labels:
        return None
    xs = res.xs(wl)
    width = 0.8 / len(labels)
    unsplit = False
    bars = []
    for i, x in enumerate(xs):
        for j, label in enumerate(labels):
            v = dict(vol.get(label, [])).get(x)
            iv = dict(invol.get(label, [])).get(x)
            t = dict(total.get(label, [])).get(x)
            if v is None and iv is None:
                if t is None:
                    continue
                v, unsplit = t, True  # only the sum was recorded
            bars.append((i + (j - (len(labels) - 1) / 2) * width, label,
                         v.mean if v else 0.0, iv.mean if iv else 0.0))
    return ContextSwitchData(xs, labels, bars, unsplit)


def context_switches(res: rs.Results, wl: rs.Workload, out_dir: str,
                     style: Style) -> Optional[Chart]:
    data = context_switches_data(res, wl)
    if data is None:
        return None
    xs, labels, bars, unsplit = data.xs, data.labels, data.bars, data.unsplit
    width_in = min(13.0, max(8.0, 1.0 + 0.45 * len(xs) * len(labels)))
    fig, ax = plt.subplots(figsize=(width_in, 4.6), layout="constrained")
    width = 0.8 / len(labels)
    tops = data.tops
    log = _spans_decades(tops)
    for pos, label, v, iv in bars:
        c = style.color(label)
        ax.bar(pos, v, width, color=c, edgecolor="black", linewidth=0.5)
        if iv > 0:
            ax.bar(pos, iv, width, bottom=v, color=c, alpha=0.45, hatch="///",
                   edgecolor="black", linewidth=0.5)
        if len(bars) <= MAX_ANNOTATED_BARS:
            ax.annotate(f"{v + iv:.2g}", (pos, v + iv), textcoords="offset points",
                        xytext=(0, 2), ha="center", va="bottom", fontsize=7)
    if log:
        ax.set_yscale("log", nonpositive="clip")
        ax.set_ylim(min(_positive(tops)) / 3, max(tops) * 3)
    else:
        ax.margins(y=0.1)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, p: f"{v:g}"))
    ax.set_xticks(range(len(xs)))
    ax.set_xticklabels([fm.format_count(x) for x in xs])
    ax.set_xlabel("concurrent connections")
    ax.set_ylabel("context switches per request" + (" (log scale)" if log else ""))
    ax.grid(True, axis="y", which="major", alpha=0.3)
    handles = [Patch(color=style.color(l), label=style.name(l)) for l in labels]
    handles += [Patch(facecolor="0.6", edgecolor="black", label="voluntary"),
                Patch(facecolor="0.85", edgecolor="black", hatch="///", label="involuntary")]
    _legend_right(ax, handles, [h.get_label() for h in handles], title="model:variant")
    _title(fig, "Server context switches per request", res, wl)
    name = _save(fig, out_dir, f"cs_{wl.slug()}.png")
    caption = ("Every thread and process of the server, including children that exited in "
               "the window; solid = voluntary (blocked), hatched = involuntary (preempted). "
               "Means over the successful repetitions.")
    if unsplit:
        caption += " Some cells recorded only the total: drawn solid."
    return Chart(name, "Context switches", f"Context switches — {wl.describe()}", caption)


# --- 6. CPU per request -------------------------------------------------------------

def cpu(res: rs.Results, wl: rs.Workload, out_dir: str, style: Style) -> Optional[Chart]:
    series = res.series(wl, "server_cpu_us_per_request")
    if not series:
        return None
    fig, ax = plt.subplots(figsize=WIDE, layout="constrained")
    _plot_series(ax, series, style)
    log = _value_axis(ax, [s.max or s.mean for pts in series.values() for _, s in pts],
                      fmt_us, zero=True)
    ax.set_ylabel("server CPU time per request" + (" (log scale)" if log else ""))
    _x_axis(ax, res.xs(wl), "concurrent connections")
    ax.grid(True, which="major", alpha=0.3)
    _legend_right(ax, title="model:variant")
    _title(fig, "Server CPU per request (user + sys)", res, wl)
    name = _save(fig, out_dir, f"cpu_{wl.slug()}.png")
    return Chart(name, "CPU", f"CPU per request — {wl.describe()}",
                 "Server tree CPU (user + sys) in the window / requests. " + _reps_caption(res))


# --- 7. open loop: latency vs offered rate ----------------------------------------

def tail_knee(points, factor=KNEE_FACTOR):
    """The first (rate, p99) whose p99 exceeds `factor` times the p99 at the
    lowest offered rate: where the tail turns upward. None if it never does."""
    pts = sorted((x, s.mean if isinstance(s, rs.Stat) else s) for x, s in points)
    if len(pts) < 2 or pts[0][1] is None or pts[0][1] <= 0:
        return None
    base = pts[0][1]
    for x, v in pts[1:]:
        if v is not None and v > factor * base:
            return x, v
    return None


@dataclass
class OpenLoopData:
    panels: list            # [(title, {label: [(offered rate, Stat)]})] as LATENCY_PANELS
    achieved: dict          # label -> [(offered rate, Stat of achieved requests/s)]
    uncorrected: dict       # label -> [(offered rate, Stat of uncorrected p99 µs)]
    knees: dict             # label -> (offered rate, p99 µs) where its p99 turns up
    xs: list                # offered rates
    values: list            # every latency mean drawn, for the shared value axes


def openloop_data(res: rs.Results, wl: rs.Workload) -> Optional[OpenLoopData]:
    panels = [(title, res.series(wl, metric)) for metric, title in LATENCY_PANELS]
    achieved = res.series(wl, "requests_per_s")
    if not any(s for _, s in panels) and not achieved:
        return None
    uncorrected = res.series(wl, "uncorrected_p99_us")
    values = [s.mean for _, series in panels for pts in series.values() for _, s in pts]
    values += [s.mean for pts in uncorrected.values() for _, s in pts]
    knees = {label: knee for label, pts in panels[1][1].items()
             if (knee := tail_knee(pts))}
    return OpenLoopData(panels, achieved, uncorrected, knees, res.xs(wl), values)


def openloop(res: rs.Results, wl: rs.Workload, out_dir: str, style: Style) -> Optional[Chart]:
    data = openloop_data(res, wl)
    if data is None:
        return None
    panels, achieved, values, xs = data.panels, data.achieved, data.values, data.xs
    fig, axes = plt.subplots(2, 2, figsize=(11.5, 8.0), layout="constrained")
    lat_axes = [axes[0][0], axes[0][1], axes[1][0]]
    for ax, (title, series) in zip(lat_axes, panels):
        _plot_series(ax, series, style, with_labels=ax is lat_axes[0])
        ax.set_title(f"{title} latency (corrected for coordinated omission)", fontsize=10)
        _x_axis(ax, xs, "offered load (requests/s)")
        log = _value_axis(ax, values, fmt_us)
        if log:
            ax.set_ylim(min(_positive(values)) / 1.5, max(values) * 1.5)
        ax.set_ylabel("latency" + (" (log scale)" if log else ""))
        ax.grid(True, which="major", alpha=0.3)
    uncorrected = data.uncorrected
    for label, pts in uncorrected.items():
        lat_axes[1].plot([x for x, _ in pts], [s.mean for _, s in pts], color=style.color(label),
                         linestyle=":", linewidth=1.2, marker=style.marker(label),
                         markersize=3)
    for label, knee in data.knees.items():
        if knee:
            lat_axes[1].plot([knee[0]], [knee[1]], marker="o", markersize=16,
                             markerfacecolor="none", markeredgecolor=style.color(label),
                             markeredgewidth=2)
    ax = axes[1][1]
    _plot_series(ax, achieved, style, with_labels=False)
    if xs:
        ax.plot(xs, xs, color="0.5", linestyle=":", linewidth=1.2)
    _x_axis(ax, xs, "offered load (requests/s)")
    _value_axis(ax, [s.mean for pts in achieved.values() for _, s in pts] + list(xs),
                fm.format_count, force_log=_spans_decades(xs))
    ax.set_ylabel("achieved throughput (requests/s)")
    ax.set_title("achieved vs offered (dotted: achieved = offered)", fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    handles, labels = lat_axes[0].get_legend_handles_labels()
    handles.append(Line2D([], [], marker="o", markersize=12, markerfacecolor="none",
                          markeredgecolor="black", linestyle=""))
    labels.append(f"p99 turns up (> {KNEE_FACTOR:g}× low-load p99)")
    if uncorrected:
        handles.append(Line2D([], [], color="0.3", linestyle=":", marker="o", markersize=3))
        labels.append("p99 from actual send times\n(uncorrected; coordinated omission)")
    fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.0, 0.9), fontsize=9,
               frameon=False, title="model:variant", title_fontsize=9)
    _title(fig, "Open loop: latency vs offered load", res, wl)
    name = _save(fig, out_dir, f"openloop_{wl.slug()}.png")
    return Chart(name, "Open loop", f"Open loop — {wl.describe()}",
                 "Latency from each request's intended send time (dotted in the p99 panel: "
                 "from the actual send times, which hides queueing). A circle marks the first "
                 f"offered rate at which p99 exceeds {KNEE_FACTOR:g}× its value at the lowest "
                 "rate: beyond it the model no longer keeps up.")


# --- 8. micro-benchmarks ----------------------------------------------------------------

def microbench_plan(mb) -> list[tuple[str, str, list]]:
    """[(kind, family, benches)]: which chart each benchmark family gets.
    kind is "memory" (stacked memory per item), "lines" (a figure against the
    benchmark's argument), "bars" (one bar per benchmark) or "names" (the
    families of one benchmark each, together in one chart named "other")."""
    plan = []
    singles = []
    for family, benches in mb.families().items():
        if len(benches) == 1 and benches[0].label == family:
            singles.extend(benches)
        elif any(BENCH_MEMORY_COUNTERS[0][0] in b.counters for b in benches):
            plan.append(("memory", family, benches))
        elif len({b.arg for b in benches if b.arg is not None}) >= 2:
            plan.append(("lines", family, benches))
        else:
            plan.append(("bars", family, benches))
    if singles:
        plan.append(("names", "other", singles))
    return plan


def microbench(res: rs.Results, out_dir: str, style: Style) -> list[Chart]:
    mb = res.microbench
    if mb is None or not mb.benches:
        return []
    machine = res.machine() if res.context else _microbench_machine(mb)
    charts = []
    for kind, family, benches in microbench_plan(mb):
        if kind == "memory":
            charts.append(_bench_memory(family, benches, res, out_dir, machine))
        elif kind == "lines":
            charts.append(_bench_lines(family, benches, res, out_dir, machine))
        else:
            charts.append(_bench_bars(family, benches, res, out_dir, machine,
                                      use_names=kind == "names"))
    return charts


def _microbench_machine(mb) -> str:
    host = mb.context.get("host_name", "unknown host")
    cpus = mb.context.get("num_cpus")
    mhz = mb.context.get("mhz_per_cpu")
    parts = [str(host)] + ([f"{cpus} CPUs"] if cpus else []) + ([f"{mhz} MHz"] if mhz else [])
    return " · ".join(parts)


def _bench_metric(benches) -> str:
    """The figure to draw: the family's time counter if all have it."""
    for counter in BENCH_TIME_COUNTERS:
        if all(counter in b.counters for b in benches):
            return counter
    return "real_time"


def _bench_axis_label(metric: str) -> str:
    if metric.startswith("ns_per_"):
        return f"time per {metric[len('ns_per_'):].replace('_', ' ')}"
    return "time per iteration (wall clock)"


def _bench_caption(metric: str) -> str:
    if metric == "real_time":
        return "Google Benchmark wall-clock time per iteration"
    return f"Google Benchmark counter {metric} (see bench/README.md)"


def _bench_bars(family, benches, res, out_dir, machine, use_names=False) -> Chart:
    labels = [(b.name if use_names else b.label) + (f"/{b.arg}" if b.arg is not None and
                                                     not use_names else "") for b in benches]
    metric = _bench_metric(benches)
    stats = [b.value(metric) for b in benches]
    means = [st.mean for st in stats]
    style = Style(labels, by_model=False, separator="/")
    fig, ax = plt.subplots(figsize=(8.0, 2.0 + 0.45 * len(benches)), layout="constrained")
    pos = list(range(len(benches)))
    ax.barh(pos, means, xerr=_errorbars(stats), capsize=3,
            color=[style.color(l) for l in labels], edgecolor="black", linewidth=0.5)
    for p, st in zip(pos, stats):
        end = st.mean + st.error_bar()[1]  # beyond the error bar, not over it
        ax.annotate(fmt_ns(st.mean), (end, p), textcoords="offset points", xytext=(4, 0),
                    va="center", fontsize=8)
    ax.set_yticks(pos)
    ax.set_yticklabels(labels, fontsize=9)
    ax.invert_yaxis()
    log = _value_axis(ax, means, fmt_ns, axis="x")
    ax.margins(x=0.2)
    ax.set_xlabel(_bench_axis_label(metric) + (", log scale" if log else ""))
    ax.grid(True, axis="x", which="major", alpha=0.3)
    title = "Micro-benchmarks" if family == "other" else f"Micro-benchmark {family}"
    _title(fig, title, res, machine=machine)
    name = _save(fig, out_dir, f"microbench_{_safe(family)}.png")
    return Chart(name, "Micro-benchmarks", title,
                 _bench_caption(metric) + "; error bars span the repetitions when run with "
                 "--benchmark_repetitions.")


def bench_lines_data(benches) -> tuple[str, dict]:
    """(metric, {label: [(argument, Stat)] sorted by argument}) of a family
    drawn against its argument."""
    metric = _bench_metric(benches)
    groups: dict[str, list] = {}
    for b in benches:
        if b.arg is not None and b.value(metric) is not None:
            groups.setdefault(b.label, []).append((b.arg, b.value(metric)))
    return metric, {l: sorted(pts, key=lambda p: p[0]) for l, pts in groups.items()}


def _bench_lines(family, benches, res, out_dir, machine) -> Chart:
    metric, series = bench_lines_data(benches)
    style = Style(list(series), by_model=False, separator="/")
    fig, ax = plt.subplots(figsize=WIDE, layout="constrained")
    _plot_series(ax, series, style)
    xs = sorted({x for pts in series.values() for x, _ in pts})
    arg_name = next((b.arg_name for b in benches if b.arg_name), None)
    _x_axis(ax, xs, BENCH_ARG_NAMES.get(arg_name or family, arg_name or "benchmark argument"))
    log = _value_axis(ax, [s.mean for pts in series.values() for _, s in pts], fmt_ns)
    ax.set_ylabel(_bench_axis_label(metric) + (" (log scale)" if log else ""))
    ax.grid(True, which="major", alpha=0.3)
    _legend_right(ax)
    title = f"Micro-benchmark {family}"
    _title(fig, title, res, machine=machine)
    name = _save(fig, out_dir, f"microbench_{_safe(family)}.png")
    return Chart(name, "Micro-benchmarks", title,
                 _bench_caption(metric) + " against the benchmark's argument.")


def bench_memory_data(benches) -> tuple[list, dict, list]:
    """(labels, {counter: KiB per item of each label}, totals) of the stacked
    memory bars, in BENCH_MEMORY_COUNTERS order; a missing counter is 0."""
    labels = [b.label for b in benches]
    stacks = {counter: [b.counters[counter].mean if counter in b.counters else 0.0
                        for b in benches] for counter, _, _, _ in BENCH_MEMORY_COUNTERS}
    totals = [sum(widths) for widths in zip(*stacks.values())]
    return labels, stacks, totals


def _bench_memory(family, benches, res, out_dir, machine) -> Chart:
    """Stacked bars of memory per idle item: PSS, page tables, kernel stack."""
    labels, stacks, totals = bench_memory_data(benches)
    style = Style(labels, by_model=False, separator="/")
    fig, ax = plt.subplots(figsize=(8.0, 2.0 + 0.45 * len(benches)), layout="constrained")
    left = [0.0] * len(benches)
    pos = list(range(len(benches)))
    for counter, _, hatch, alpha in BENCH_MEMORY_COUNTERS:
        widths = stacks[counter]
        ax.barh(pos, widths, left=left, color=[style.color(l) for l in labels], alpha=alpha,
                hatch=hatch, edgecolor="black", linewidth=0.5)
        left = [l + w for l, w in zip(left, widths)]
    for p, total in zip(pos, totals):
        ax.annotate(f"{total:.3g} KiB", (total, p), textcoords="offset points",
                    xytext=(4, 0), va="center", fontsize=8)
    ax.set_yticks(pos)
    ax.set_yticklabels(labels, fontsize=9)
    ax.invert_yaxis()
    ax.margins(x=0.15)
    ax.set_xlabel("memory per idle item (KiB)")
    ax.grid(True, axis="x", which="major", alpha=0.3)
    handles = [Patch(facecolor="0.5", alpha=a, hatch=h, edgecolor="black", label=n)
               for _, n, h, a in BENCH_MEMORY_COUNTERS]
    _legend_right(ax, handles, [h.get_label() for h in handles])
    title = f"Micro-benchmark {family}: memory per idle item"
    _title(fig, title, res, machine=machine)
    name = _save(fig, out_dir, f"microbench_{_safe(family)}.png")
    return Chart(name, "Micro-benchmarks", title,
                 "PSS (smaps_rollup) per idle fiber, thread or process, plus the kernel memory "
                 "PSS leaves out: page tables (VmPTE) and kernel stacks (KernelStack, "
                 "system-wide). The benchmark's time is not a figure here.")


def _safe(s: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in s)


# --- comparison of two results folders (compare.py) --------------------------------

COMPARE_METRICS = {"requests_per_s": ("throughput (requests/s)", fm.format_count),
                   "p99_us": ("p99 latency", fmt_us),
                   "server_cpu_us_per_request": ("server CPU per request", fmt_us)}


def compare(res_a: rs.Results, res_b: rs.Results, names: tuple[str, str], wl: rs.Workload,
            metric: str, out_dir: str, style: Style) -> Optional[Chart]:
    """One metric of one workload from two folders: A dashed with hollow
    markers, B solid."""
    series = [res_a.series(wl, metric), res_b.series(wl, metric)]
    if not series[0] or not series[1]:
        return None
    ylabel, fmt = COMPARE_METRICS[metric]
    fig, ax = plt.subplots(figsize=WIDE, layout="constrained")
    for (name, ser, dashed) in ((names[0], series[0], True), (names[1], series[1], False)):
        for label, pts in ser.items():
            stats = [s for _, s in pts]
            ax.errorbar([x for x, _ in pts], [s.mean for s in stats], yerr=_errorbars(stats),
                        capsize=3, color=style.color(label), marker=style.marker(label),
                        markersize=6, linewidth=1.4 if dashed else 1.8,
                        linestyle="--" if dashed else "-",
                        markerfacecolor="white" if dashed else style.color(label))
    values = [s.mean for ser in series for pts in ser.values() for _, s in pts]
    log = _value_axis(ax, values, fmt)
    ax.set_ylabel(ylabel + (" (log scale)" if log else ""))
    xs = sorted(set(res_a.xs(wl)) | set(res_b.xs(wl)))
    _x_axis(ax, xs, "offered load (requests/s)" if wl.is_open else "concurrent connections")
    ax.grid(True, which="major", alpha=0.3)
    labels = [l for l in style.map if l in series[0] or l in series[1]]
    handles = [Line2D([], [], color=style.color(l), marker=style.marker(l), linestyle="")
               for l in labels]
    handles += [Line2D([], [], color="0.3", linestyle="--", marker="o",
                       markerfacecolor="white"),
                Line2D([], [], color="0.3", linestyle="-", marker="o")]
    _legend_right(ax, handles, [style.name(l) for l in labels] + [f"A: {names[0]}", f"B: {names[1]}"])
    machine_a, machine_b = res_a.machine(), res_b.machine()
    machine = machine_a if machine_a == machine_b else f"A: {machine_a}\nB: {machine_b}"
    _title(fig, f"{ylabel.split(' (')[0].capitalize()}: A vs B", res_b, wl, machine=machine)
    name = _save(fig, out_dir, f"compare_{metric}_{wl.slug()}.png")
    return Chart(name, "Comparison", f"{ylabel} — {wl.describe()}",
                 f"A = {names[0]} (dashed, hollow markers), B = {names[1]} (solid).")


# --- service workloads: throughput vs backend delay, light tail, fairness ---------

def _delay_axis(ax, delays):
    """Backend delay in µs on a log axis; a delay of 0 sits on the linear
    stretch below 10 µs (symlog), so it still has a place."""
    ds = sorted(set(delays))
    ax.set_xscale("symlog", linthresh=10)
    ax.xaxis.set_major_locator(FixedLocator(ds))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, p: fmt_us(v) if v > 0 else "0"))
    ax.set_xlabel("backend delay per call (log scale)")
    if len(ds) == 1:
        ax.set_xlim(ds[0] * 0.5, ds[0] * 2 if ds[0] > 0 else 10)


def service_delay(res: rs.Results, out_dir: str, style: Style) -> list[Chart]:
    out = []
    for data in sv.delay_data(res):
        fig, ax = plt.subplots(figsize=WIDE, layout="constrained")
        _plot_series(ax, data.series, style)
        for label, pts in data.ceilings.items():
            ax.plot([x for x, _ in pts], [c for _, c in pts], color=style.color(label),
                    linestyle=":", marker="_", markersize=14, linewidth=1.2)
        values = [s.max or s.mean for pts in data.series.values() for _, s in pts]
        values += [c for pts in data.ceilings.values() for _, c in pts]
        log = _value_axis(ax, values, fm.format_count, force_log=True)
        ax.set_ylabel("throughput (requests/s)" + (" (log scale)" if log else ""))
        _delay_axis(ax, [x for pts in data.series.values() for x, _ in pts])
        ax.grid(True, which="major", alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        handles.append(Line2D([], [], color="0.3", linestyle=":", marker="_", markersize=14))
        labels.append("ceiling (dotted)")
        _legend_right(ax, handles, labels)
        what = f"Throughput vs backend delay — http /app {data.fixed}, " \
               f"{fm.format_count(data.connections)} connections"
        _title(fig, what, res)
        name = _save(fig, out_dir, f"service_delay_c{data.connections}.png")
        out.append(Chart(name, "Service workloads", what.replace(" — ", ": "),
                         "Solid: measured. Dotted: each model's ceiling, the lower of its "
                         "Little's-law limit (requests that can wait at once ÷ the wait per "
                         "request: connections for models that hold a request on its own "
                         "thread/process/fiber/continuation, capped by the backend connections "
                         "where each waiting request holds one; the worker pool; 1 for a loop "
                         "that blocks) and its CPU limit (server CPUs ÷ CPU per request "
                         "measured in that run). " + _reps_caption(res)))
    return out


def light_tail(res: rs.Results, out_dir: str, style: Style) -> list[Chart]:
    out = []
    for data in sv.mix_data(res):
        fig, ax = plt.subplots(figsize=WIDE, layout="constrained")
        _plot_series(ax, data.series, style)
        values = [s.max or s.mean for pts in data.series.values() for _, s in pts]
        log = _value_axis(ax, values, fmt_us)
        ax.set_ylabel("light requests' p99 latency" + (" (log scale)" if log else ""))
        shares = sorted({x for pts in data.series.values() for x, _ in pts})
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(FixedLocator(shares))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, p: f"{v:g}%"))
        ax.set_xlabel("heavy requests' share of the mix (log scale)")
        if len(shares) == 1:
            ax.set_xlim(shares[0] * 0.5, shares[0] * 2)
        ax.grid(True, which="major", alpha=0.3)
        _legend_right(ax)
        what = f"Light-request tail vs heavy share — http mixes, " \
               f"{fm.format_count(data.connections)} connections"
        _title(fig, what, res)
        name = _save(fig, out_dir, f"service_light_p99_c{data.connections}.png")
        out.append(Chart(name, "Service workloads", what.replace(" — ", ": "),
                         "p99 latency (corrected) of the light class of each mix: the path "
                         "whose /app request burns the least CPU; the others are heavy. A model "
                         "that runs a heavy request to completion before anything else makes "
                         "every light request behind it wait. " + _reps_caption(res)))
    return out


@dataclass
class FairnessData:
    series: dict            # label -> [(connections, Stat of Jain's index)]
    xs: list


def fairness_data(res: rs.Results, wl: rs.Workload) -> Optional[FairnessData]:
    series = res.series(wl, "jain_index")
    if not series:
        return None
    return FairnessData(series, sorted({x for pts in series.values() for x, _ in pts}))


def fairness(res: rs.Results, out_dir: str, style: Style) -> list[Chart]:
    out = []
    for wl in res.workloads("closed"):
        if dk.is_disk(wl):  # a chart per data-set size would bury the disk section
            continue
        data = fairness_data(res, wl)
        if data is None:
            continue
        fig, ax = plt.subplots(figsize=WIDE, layout="constrained")
        _plot_series(ax, data.series, style)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("Jain's fairness index (1 = even)")
        _x_axis(ax, data.xs, "concurrent connections")
        ax.grid(True, which="major", alpha=0.3)
        _legend_right(ax)
        _title(fig, "Fairness across connections", res, wl)
        name = _save(fig, out_dir, f"fairness_{wl.slug()}.png")
        out.append(Chart(name, "Fairness", f"Fairness — {wl.describe()}",
                         "Jain's index of the requests each connection completed in the "
                         "window: (Σx)² ÷ (n·Σx²); 1 when every connection got the same "
                         "share, 1/n when one got everything. " + _reps_caption(res)))
    return out


def disk_flash(res: rs.Results, out_dir: str, style: Style) -> list[Chart]:
    """Flash's figure: throughput, p99 and disk bytes per request against the
    data set's size relative to the server's memory limit."""
    out = []
    for data in dk.flash_data(res):
        fig, axes = plt.subplots(1, 3, figsize=(13.0, 4.4), layout="constrained")
        panels = (("requests_per_s", "throughput (requests/s)", lambda p: p.rps, fm.format_count),
                  ("p99_us", "p99 latency", lambda p: p.p99_us, fmt_us),
                  ("read", "disk read per request", lambda p: p.read_per_request, fm.format_bytes))
        xs = data.xs
        for ax, (_, ylabel, pick, formatter) in zip(axes, panels):
            series = {label: [(p.x, pick(p)) for p in pts if pick(p) is not None]
                      for label, pts in data.series.items()}
            series = {label: pts for label, pts in series.items() if pts}
            _plot_series(ax, series, style)
            values = [s.max or s.mean for pts in series.values() for _, s in pts]
            log = _value_axis(ax, values, formatter, zero=True)
            ax.set_ylabel(ylabel + (" (log scale)" if log else ""))
            ax.set_xscale("log", base=2)
            ax.xaxis.set_major_locator(FixedLocator(xs))
            ax.xaxis.set_minor_locator(NullLocator())
            ax.xaxis.set_major_formatter(FuncFormatter(
                lambda v, p: f"{v:g}×" if data.relative else f"{v:g} MiB"))
            ax.set_xlabel("data set ÷ server memory limit" if data.relative else "data set size")
            if data.relative and xs and xs[0] <= 1 <= xs[-1]:
                ax.axvline(1.0, color="0.5", linestyle="--", linewidth=1.0)
                ax.text(1.0, 0.98, " cache boundary", transform=blended_transform_factory(ax.transData, ax.transAxes),
                        ha="left", va="top", fontsize=8, color="0.4")
            ax.grid(True, which="major", alpha=0.3)
        _legend_right(axes[-1], *axes[0].get_legend_handles_labels())
        what = f"Disk-bound files — {dk.describe(data)}"
        _title(fig, what, res)
        name = _save(fig, out_dir, f"{dk.slug(data)}.png")
        out.append(Chart(name, "Disk-bound files", what.replace(" — ", ": "),
                         "Flash's experiment (Pai, Druschel, Zwaenepoel 1999): the data set is "
                         "evicted from the page cache before each run and the server may cache "
                         "only up to its memory limit (a memory cgroup). Left of the dashed line "
                         "the set fits; right of it reads reach the disk, and a model whose one "
                         "thread blocks on a cold read stalls every connection. Right: bytes the "
                         "server's processes read from the device per request (readahead "
                         "included). " + _reps_caption(res)))
    return out


# --- everything ------------------------------------------------------------------------

# --- time series: throughput and p99 over a run ----------------------------------

@dataclass
class TimeSeriesLine:
    label: str
    run_id: str
    t: list          # interval start, s from the window's start (negative: warm-up)
    rps: list        # requests/s (None: no value)
    p99: list        # p99 µs (None: no responses)


@dataclass
class TimeSeriesData:
    connections: int
    lines: list      # [TimeSeriesLine], one per model variant (its representative run)
    warmup_s: float  # how far back the warm-up reaches (0: none recorded)


def _warmup_s(lines: list) -> float:
    """How far back the lines' warm-up reaches (their earliest start), s."""
    return max([-min(ln.t) for ln in lines] + [0.0])


def timeseries_data(res: rs.Results, wl: rs.Workload, x) -> Optional[TimeSeriesData]:
    """One line per model: the run of the cell with the median throughput."""
    lines = []
    for label in res.labels():
        cell = res.cell(wl, label, x)
        run = cell.representative_run("requests_per_s") if cell else None
        if run is None or not run.intervals(warmup=True):
            continue
        ivs = run.intervals(warmup=True)
        t = [rs.number(i.get("start_s")) for i in ivs]
        lines.append(TimeSeriesLine(label, run.id, t,
                                    [rs.number(i.get("requests_per_s")) for i in ivs],
                                    [rs.number(i.get("p99_us")) for i in ivs]))
    return TimeSeriesData(int(x), lines, _warmup_s(lines)) if lines else None


def _draw_timeseries(a1, a2, sides, style: Style) -> float:
    """Draws throughput (a1) and p99 (a2) per interval for each
    (TimeSeriesData, dashed) of `sides`, shades the longest warm-up and
    labels the axes; returns that warm-up in s."""
    warm = max(data.warmup_s for data, _ in sides)
    for data, dashed in sides:
        for line in data.lines:
            kw = dict(color=style.color(line.label),
                      linestyle="--" if dashed else style.linestyle(line.label),
                      linewidth=1.2 if dashed else 1.4, drawstyle="steps-post")
            a1.plot(line.t, [v if v is not None else float("nan") for v in line.rps],
                    label=style.name(line.label), **kw)
            a2.plot(line.t, [v if v is not None else float("nan") for v in line.p99], **kw)
    for ax in (a1, a2):
        if warm > 0:
            ax.axvspan(-warm, 0, color="#999999", alpha=0.18, lw=0)
        ax.set_xlabel("time from the window's start (s)")
        ax.grid(True, alpha=0.3)
    a1.set_ylabel("throughput (requests/s)")
    a1.yaxis.set_major_formatter(FuncFormatter(fm.format_count))
    a1.set_ylim(bottom=0)
    a2.set_ylabel("p99 latency per interval")
    _value_axis(a2, [v for data, _ in sides for ln in data.lines for v in ln.p99 if v], fmt_us)
    return warm


def _warmup_handle(warm: float, handles: list, labels: list) -> None:
    if warm > 0:
        handles.append(Patch(color="#999999", alpha=0.3))
        labels.append("warm-up (not measured)")


def timeseries(res: rs.Results, wl: rs.Workload, x, out_dir: str,
               style: Style) -> Optional[Chart]:
    data = timeseries_data(res, wl, x)
    if data is None:
        return None
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(13.0, 4.0), layout="constrained")
    warm = _draw_timeseries(a1, a2, [(data, False)], style)
    handles, labels = a1.get_legend_handles_labels()
    _warmup_handle(warm, handles, labels)
    _legend_right(a2, handles, labels, title="model:variant")
    _title(fig, f"Over time at {fm.format_count(data.connections)} connections", res, wl)
    name = _save(fig, out_dir, f"timeseries_{wl.slug()}_c{data.connections}.png")
    return Chart(name, "Over time", f"Over time — {wl.describe()}, "
                 f"{fm.format_count(data.connections)} connections",
                 "Throughput and p99 of each interval of one run per model (the repetition "
                 "with the median throughput); the shaded span is the warm-up.")


def compare_timeseries_data(res_a: rs.Results, res_b: rs.Results, wl: rs.Workload,
                            x) -> Optional[tuple[TimeSeriesData, TimeSeriesData]]:
    """A's and B's time series of one closed-loop cell, restricted to the
    models that have one on both sides; None when no model has."""
    a, b = timeseries_data(res_a, wl, x), timeseries_data(res_b, wl, x)
    if a is None or b is None:
        return None
    both = {ln.label for ln in a.lines} & {ln.label for ln in b.lines}
    if not both:
        return None
    a.lines = [ln for ln in a.lines if ln.label in both]
    b.lines = [ln for ln in b.lines if ln.label in both]
    a.warmup_s, b.warmup_s = _warmup_s(a.lines), _warmup_s(b.lines)
    return a, b


def compare_timeseries(res_a: rs.Results, res_b: rs.Results, names: tuple[str, str],
                       wl: rs.Workload, x, out_dir: str, style: Style) -> Optional[Chart]:
    """Throughput and p99 over time of one cell from two folders: each
    model's representative run of A dashed, of B solid."""
    pair = compare_timeseries_data(res_a, res_b, wl, x)
    if pair is None:
        return None
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(13.0, 4.0), layout="constrained")
    warm = _draw_timeseries(a1, a2, [(pair[0], True), (pair[1], False)], style)
    labels = [l for l in style.map if l in {ln.label for ln in pair[1].lines}]
    handles = [Line2D([], [], color=style.color(l), linestyle="-") for l in labels]
    handles += [Line2D([], [], color="0.3", linestyle="--"), Line2D([], [], color="0.3")]
    labels = labels + [f"A: {names[0]}", f"B: {names[1]}"]
    _warmup_handle(warm, handles, labels)
    _legend_right(a2, handles, labels, title="model:variant")
    _title(fig, f"Over time at {fm.format_count(int(x))} connections: A vs B", res_b, wl)
    name = _save(fig, out_dir, f"compare_timeseries_{wl.slug()}_c{int(x)}.png")
    return Chart(name, "Comparison", f"Over time, A vs B — {wl.describe()}, "
                 f"{fm.format_count(int(x))} connections",
                 f"Throughput and p99 of each interval of one run per model (the repetition "
                 f"with the median throughput): A = {names[0]} dashed, B = {names[1]} solid; "
                 "the shaded span is the warm-up.")


CLOSED_CHARTS: tuple[Callable, ...] = (throughput, latency, spectrum, memory,
                                       context_switches, cpu)
CHART_NAMES = {"spectrum": "latency spectrum", "context_switches": "context-switch",
               "cpu": "CPU", "openloop": "open-loop"}
SECTIONS = ("Over time", "Throughput", "Latency", "Latency spectrum", "Memory", "Context switches",
            "CPU", "Open loop", "Service workloads", "Disk-bound files", "Fairness",
            "Micro-benchmarks")


def render_all(res: rs.Results, out_dir: str, spectrum_connections=None,
               style: Optional[Style] = None) -> list[Chart]:
    """Draws every chart the folder has data for into out_dir. A chart that
    fails, or has no data, is noted in res.problems; the others are drawn."""
    os.makedirs(out_dir, exist_ok=True)
    style = style or Style(res.labels(), model_order=res.model_order())
    jobs = []
    for wl in res.workloads("closed"):
        if dk.is_disk(wl):  # one point per model each: the disk charts draw them together
            continue
        for fn in CLOSED_CHARTS:
            kwargs = {"connections": spectrum_connections} if fn is spectrum else {}
            jobs.append((fn.__name__, wl, lambda fn=fn, wl=wl, kw=kwargs:
                         [fn(res, wl, out_dir, style, **kw)]))
    for wl in res.workloads("closed"):
        for x in res.xs(wl):
            # Drawn only for cells with a time series (no "not drawn" note).
            jobs.append(("timeseries", None, lambda wl=wl, x=x:
                         [timeseries(res, wl, x, out_dir, style)]))
    for wl in res.workloads("open"):
        if dk.is_disk(wl) and not res.xs(wl):  # rates given as a share of each model's capacity
            continue
        jobs.append(("openloop", wl, lambda wl=wl: [openloop(res, wl, out_dir, style)]))
    # Drawn only when the folder has their data (no "not drawn" note).
    for fn in (service_delay, light_tail, disk_flash, fairness):
        jobs.append((fn.__name__, None, lambda fn=fn: fn(res, out_dir, style)))
    jobs.append(("microbench", None, lambda: microbench(res, out_dir, style)))
    charts = []
    for name, wl, job in jobs:
        try:
            drawn = [c for c in job() if c is not None]
        except Exception as e:  # one broken chart must not cost the whole report
            plt.close("all")
            res.problems.append(f"chart {name} failed: {type(e).__name__}: {e}")
            traceback.print_exc()
            continue
        if not drawn and wl is not None:
            res.problems.append(f"not drawn: {CHART_NAMES.get(name, name)} chart of "
                                f"{wl.describe()} "
                                "(no successful run measured it)")
        charts.extend(drawn)
    return sorted(charts, key=lambda c: SECTIONS.index(c.section)
                  if c.section in SECTIONS else len(SECTIONS))
