"""Numbers from JSON and statistics over repetitions: the two value types
every reader in plots/ (results.py, gbench.py) and bench/bench_json.py share.

Standard library only, so bench/bench_json.py can import it with any python3.
"""

from __future__ import annotations

import functools
import math
import numbers
import statistics
from dataclasses import dataclass
from typing import Iterable, Optional


def number(value) -> Optional[float]:
    """A finite JSON number as float, else None (bool is not a number here)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class Stat:
    """Statistics of one metric over a cell's successful repetitions."""
    mean: float
    median: Optional[float] = None
    stddev: Optional[float] = None
    min: Optional[float] = None
    max: Optional[float] = None
    n: int = 0

    @staticmethod
    def of(values: Iterable[Optional[float]]) -> Optional["Stat"]:
        vals = [v for v in values if v is not None]
        if not vals:
            return None
        stddev = statistics.stdev(vals) if len(vals) > 1 else 0.0
        return Stat(statistics.fmean(vals), statistics.median(vals), stddev,
                    min(vals), max(vals), len(vals))

    @staticmethod
    def from_aggregate(obj, n: int) -> Optional["Stat"]:
        if not isinstance(obj, dict) or number(obj.get("mean")) is None:
            return None
        return Stat(number(obj.get("mean")), number(obj.get("median")),
                    number(obj.get("stddev")), number(obj.get("min")),
                    number(obj.get("max")), n)

    def error_bar(self) -> tuple[float, float]:
        """(below, above) the mean: min..max when known, else ±stddev."""
        if self.min is not None and self.max is not None:
            return max(self.mean - self.min, 0.0), max(self.max - self.mean, 0.0)
        sd = self.stddev or 0.0
        return sd, sd

    def scaled(self, k: float) -> "Stat":
        """The same statistics in another unit (every figure times k)."""
        f = lambda v: v * k if v is not None else None  # noqa: E731
        return Stat(self.mean * k, f(self.median), f(self.stddev), f(self.min), f(self.max),
                    self.n)


# --- confidence intervals and significance ---------------------------------------
#
# Everything below is written out here (no scipy): Student's t quantiles by
# bisection on the t CDF (a regularized incomplete beta, continued fraction),
# batch means over a run's time series, intervals of a ratio, and the
# Mann–Whitney U test (exact distribution for small samples without ties,
# else the normal approximation with tie correction).

CONFIDENCE = 0.95


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (Lentz's method)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        aa = m * (b - m) * x / ((a + m2 - 1.0) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-14:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    lbeta = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
    front = math.exp(lbeta + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with df degrees of freedom."""
    x = df / (df + t * t)
    tail = 0.5 * _betainc(df / 2.0, 0.5, x)
    return 1.0 - tail if t >= 0 else tail


@functools.lru_cache(maxsize=512)
def t_quantile(p: float, df: float) -> float:
    """The t value with P(T <= t) = p (bisection; p in (0, 1))."""
    lo, hi = -1e4, 1e4
    for _ in range(200):
        mid = (lo + hi) / 2
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def normal_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


@dataclass(frozen=True)
class Interval:
    """A mean with the half-width of its 95% confidence interval, and how
    it was made: 'batch means' of one run's time series, or 'repetitions'."""
    mean: float
    half_width: float
    n: int
    method: str

    @property
    def rel(self) -> Optional[float]:
        """Half-width as a fraction of the mean (None for a zero mean)."""
        return self.half_width / abs(self.mean) if self.mean else None

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width


def mean_interval(values: list[float], method: str = "repetitions") -> Optional[Interval]:
    """Student's t interval of the mean of independent values (n >= 2)."""
    vals = [v for v in values if v is not None]
    n = len(vals)
    if n < 2:
        return None
    sd = statistics.stdev(vals)
    t = t_quantile(0.5 + CONFIDENCE / 2, n - 1)
    return Interval(statistics.fmean(vals), t * sd / math.sqrt(n), n, method)


# A batch should span at least this many intervals' worth of time and the
# run at least this many batches: fewer batches make t's tails too wide,
# shorter batches keep the intervals' correlation.
MIN_BATCHES = 5
TARGET_BATCHES = 10


def batch_means(values: list[float], batches: Optional[int] = None) -> list[float]:
    """Means of consecutive equal batches of `values` (leftover values at
    the start are dropped: the end of a run is nearer its steady state)."""
    n = len(values)
    b = batches or min(TARGET_BATCHES, n)
    if b <= 0 or n < b:
        return []
    size = n // b
    start = n - size * b
    return [statistics.fmean(values[start + i * size:start + (i + 1) * size]) for i in range(b)]


def batch_means_interval(values: list[float], batches: Optional[int] = None) -> Optional[Interval]:
    """95% interval of a time series' mean from batch means: the series
    cut into (by default) up to 10 consecutive batches whose means are
    treated as independent; None with fewer than MIN_BATCHES values."""
    vals = [v for v in values if v is not None]
    if len(vals) < MIN_BATCHES:
        return None
    means = batch_means(vals, batches)
    iv = mean_interval(means, "batch means")
    if iv is None:
        return None
    # The batches cover the series' end; its mean is the whole series'.
    return Interval(statistics.fmean(vals), iv.half_width, len(means), "batch means")


def ratio_interval(a: Interval, b: Interval) -> Optional[tuple[float, float, float]]:
    """a / b with a 95% interval (low, ratio, high), from the two relative
    half-widths combined on the log scale (delta method)."""
    if not a.mean or not b.mean or a.mean <= 0 or b.mean <= 0:
        return None
    r = a.mean / b.mean
    h = math.hypot(a.half_width / a.mean, b.half_width / b.mean)
    return r * math.exp(-h), r, r * math.exp(h)


def _exact_u_counts(n1: int, n2: int) -> list[int]:
    """Number of arrangements giving each U = 0..n1*n2 (no ties)."""
    # f(i, j, u): arrangements of i from sample 1 and j from sample 2 with U = u.
    table = {(0, j): [1] for j in range(n2 + 1)}
    for i in range(1, n1 + 1):
        table[(i, 0)] = [1]
        for j in range(1, n2 + 1):
            a = table[(i - 1, j)]   # the largest value is from sample 1: +j to U
            b = table[(i, j - 1)]
            out = [0] * (i * j + 1)
            for u, c in enumerate(a):
                out[u + j] += c
            for u, c in enumerate(b):
                out[u] += c
            table[(i, j)] = out
    return table[(n1, n2)]


def mann_whitney(x: list[float], y: list[float]) -> Optional[float]:
    """Two-sided p-value of the Mann–Whitney U test of x against y: exact
    for samples up to 20 each without ties, else the normal approximation
    with tie and continuity corrections. None when a sample is empty."""
    x = [v for v in x if v is not None]
    y = [v for v in y if v is not None]
    n1, n2 = len(x), len(y)
    if n1 == 0 or n2 == 0:
        return None
    pooled = sorted([(v, 0) for v in x] + [(v, 1) for v in y])
    ranks = [0.0] * len(pooled)
    ties = []
    i = 0
    while i < len(pooled):
        j = i
        while j + 1 < len(pooled) and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2 + 1
        if j > i:
            ties.append(j - i + 1)
        i = j + 1
    r1 = sum(r for r, (_, g) in zip(ranks, pooled) if g == 0)
    u1 = r1 - n1 * (n1 + 1) / 2
    u = min(u1, n1 * n2 - u1)
    if not ties and n1 <= 20 and n2 <= 20:
        counts = _exact_u_counts(n1, n2)
        total = sum(counts)
        p = 2 * sum(counts[:int(math.floor(u)) + 1]) / total
        return min(1.0, p)
    n = n1 + n2
    mu = n1 * n2 / 2
    tie_term = sum(t ** 3 - t for t in ties) / (n * (n - 1)) if n > 1 else 0.0
    var = n1 * n2 / 12 * ((n + 1) - tie_term)
    if var <= 0:
        return 1.0
    z = (abs(u1 - mu) - 0.5) / math.sqrt(var)
    return min(1.0, 2 * normal_sf(max(z, 0.0)))


def geomean(values: Iterable[float]) -> Optional[float]:
    logs = [math.log(v) for v in values if v is not None and v > 0]
    return math.exp(sum(logs) / len(logs)) if logs else None
