"""Timing helpers shared by the benchmark modules.

Every figure is a ratio against a baseline measured in the same process and
run, because absolute times on a shared 2-core machine are noise.

A benchmark module is ``benchmarks/bench_<topic>.py`` with::

    def run(quick: bool) -> list[Result]: ...

``benchmarks/run.py`` imports each module, calls ``run`` and writes the report.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Timing:
    """Per-call time of a callable: median and spread over rounds, in seconds."""

    median: float
    p25: float
    p75: float
    rounds: int
    calls_per_round: int

    @property
    def median_us(self) -> float:
        return self.median * 1e6


@dataclass
class Result:
    """One line of the report.

    ``value`` is what is compared with ``target`` (usually a ratio); ``details``
    holds the raw figures (microseconds, requests/s ...) shown beside it.
    """

    group: str
    name: str
    value: float | None
    unit: str
    target: str = ""
    passed: bool | None = None
    details: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Metric:
    """One kind of figure of a benchmark group: its unit and the bound it must keep.

    `row` makes the report line of one measurement; its verdict follows from the
    bound, so the target the report shows and the one checked are the same number.
    Without a bound the figure is reported only.
    """

    group: str
    unit: str
    at_most: float | None = None
    below: float | None = None
    at_least: float | None = None

    @property
    def target(self) -> str:
        """The bound as the report shows it: ``<= 1.5``, ``< 20``, ``>= 0.9`` (or ``""``)."""
        for op, bound in (("<=", self.at_most), ("<", self.below), (">=", self.at_least)):
            if bound is not None:
                return f"{op} {bound:g}"
        return ""

    def passed(self, value: float | None) -> bool | None:
        """Whether ``value`` keeps the bound (``None`` without a bound or a value)."""
        if value is None or not self.target:
            return None
        if self.at_most is not None:
            return value <= self.at_most
        if self.below is not None:
            return value < self.below
        return self.at_least is not None and value >= self.at_least

    def row(
        self,
        name: str,
        value: float | None,
        *,
        details: dict[str, Any] | None = None,
        note: str = "",
    ) -> Result:
        """The report line of ``value``, measured as ``name``."""
        return Result(
            self.group, name, value, self.unit, self.target, self.passed(value), details or {}, note
        )


def measure(fn: Callable[[], object], *, quick: bool, min_round_s: float = 0.02) -> Timing:
    """Time ``fn`` (no arguments) with warm-up and many rounds; return per-call figures."""
    fn()  # warm-up: imports, caches, first-call work
    calls = 1
    while True:  # grow the batch until one round lasts long enough to time
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        if time.perf_counter() - start >= min_round_s or calls >= 1 << 20:
            break
        calls *= 2
    rounds = 7 if quick else 31
    samples = []
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(calls):
                fn()
            samples.append((time.perf_counter() - start) / calls)
    finally:
        if gc_was_enabled:
            gc.enable()
    samples.sort()
    q = statistics.quantiles(samples, n=4)
    return Timing(statistics.median(samples), q[0], q[2], rounds, calls)


def interleaved(
    fns: dict[str, Callable[[], object]], *, quick: bool, repeats: int | None = None
) -> dict[str, Timing]:
    """Measure several callables in alternation so machine noise hits all of them alike.

    Returns, per name, the Timing whose median is the median of the repeats.
    """
    repeats = repeats or (3 if quick else 7)
    runs: dict[str, list[Timing]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            runs[name].append(measure(fn, quick=quick))
    out = {}
    for name, timings in runs.items():
        timings.sort(key=lambda t: t.median)
        out[name] = timings[len(timings) // 2]
    return out
