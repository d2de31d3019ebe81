"""Numbers from JSON and statistics over repetitions: the two value types
every reader in plots/ (results.py, gbench.py) and bench/bench_json.py share.

Standard library only, so bench/bench_json.py can import it with any python3.
"""

from __future__ import annotations

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
