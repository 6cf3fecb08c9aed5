"""Timing helpers shared by the benchmark modules.

Every figure is a ratio against a baseline measured in the same process and
run, because absolute times on a shared 2-core machine are noise.

A benchmark module is ``benchmarks/bench_<topic>.py`` with::

    def run(quick: bool) -> list[Result]: ...

``benchmarks/run.py`` imports each module, calls ``run``, profiles the rows that
missed their target (`profile_misses`) and writes the report. A row gets a profile
when it names the call it times (``Metric.row(..., workload=Workload(call, what))``);
a module whose calls need a live context (an open file, a server, environment
variables) calls `profile_misses` itself before it leaves that context.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from _profile import Profile, Workload, profile

# Bounds of one miss's profile, beside the timed rounds: quick mode, full mode.
PROFILE_BUDGET_S = {True: 0.3, False: 2.0}
PROFILE_MAX_ITERATIONS = {True: 300, False: 3000}


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
    ``workload`` is the call the figure times, profiled if the row misses its
    target (``profile``); it is not part of the results file, the profile is.
    """

    group: str
    name: str
    value: float | None
    unit: str
    target: str = ""
    passed: bool | None = None
    details: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    workload: Workload | None = field(default=None, repr=False, compare=False)
    profile: Profile | None = None

    def as_dict(self) -> dict[str, Any]:
        plain = asdict(replace(self, workload=None))
        del plain["workload"]
        return plain


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
        workload: Workload | None = None,
    ) -> Result:
        """The report line of ``value``, measured as ``name`` (timing ``workload``, if given)."""
        return Result(
            self.group,
            name,
            value,
            self.unit,
            self.target,
            self.passed(value),
            details or {},
            note,
            workload,
        )


def profile_misses(results: list[Result], *, quick: bool) -> None:
    """Profile the workload of every row that missed its target; let go of every workload.

    Each profile runs after the timed rounds (a bounded number of iterations), so
    the figures never include the profiler. Rows already profiled keep their profile.
    """
    for result in results:
        if result.passed is False and result.workload is not None:
            result.profile = profile(
                result.workload,
                budget_s=PROFILE_BUDGET_S[quick],
                max_iterations=PROFILE_MAX_ITERATIONS[quick],
            )
        result.workload = None


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
