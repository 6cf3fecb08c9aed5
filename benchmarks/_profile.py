"""Profiles of missed targets: where a measurement's workload spends its time.

A report row may carry the `Workload` its figure times (the per-request call of
the measured case). When the row misses its target, `profile` runs that call a
bounded number of times under cProfile, after the timed rounds so that no timing
pays for the profiler, and keeps the functions with the most own time;
`render_profile` turns the result into a collapsible table of the report.

This module imports nothing from its siblings, so a test can load it on its own.
"""

from __future__ import annotations

import cProfile
import gc
import pstats
import statistics
import sysconfig
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_STDLIB = Path(sysconfig.get_paths()["stdlib"]).resolve()
UNPROFILED_CALLS = 4
"""Calls `profile` makes before the profiled ones: one to warm up, three to size the run."""


@dataclass(frozen=True)
class Workload:
    """The call a measurement times, and what it is, for the profile's caption.

    ``what`` says what one call does; where the measurement is not an in-process
    call (a load test against server processes), it says which in-process
    equivalent is profiled instead.
    """

    call: Callable[[], object]
    what: str


@dataclass(frozen=True)
class ProfileRow:
    """One function of a profile: its own time and its share of the whole."""

    function: str
    location: str
    calls_per_iteration: float
    own_us_per_call: float
    own_share: float
    cumulative_share: float


@dataclass(frozen=True)
class Profile:
    """The top functions by own time over ``iterations`` calls of a workload."""

    what: str
    iterations: int
    us_per_iteration: float
    rows: list[ProfileRow]


def location(filename: str, line: int) -> str:
    """Shorten a code location to a path relative to its package root: ``falcon/app.py:370``."""
    if filename == "~":  # cProfile's name for code without a file: a builtin
        return "built-in"
    path = Path(filename).resolve()
    parts = path.parts
    for marker in ("site-packages", "dist-packages"):
        if marker in parts:
            index = len(parts) - 1 - parts[::-1].index(marker)
            return f"{'/'.join(parts[index + 1 :])}:{line}"
    for base in (ROOT, _STDLIB):
        if path.is_relative_to(base):
            return f"{path.relative_to(base).as_posix()}:{line}"
    return f"{path.name}:{line}"


def profile(workload: Workload, *, budget_s: float, max_iterations: int, top: int = 10) -> Profile:
    """Run ``workload`` under cProfile for about ``budget_s``; keep the ``top`` by own time.

    A few calls first, unprofiled, warm caches up and size the run: as many
    iterations as fit ``budget_s`` at their median speed, between 1 and ``max_iterations``.
    The garbage collector is off meanwhile, as in the timed rounds.
    """
    workload.call()  # warm-up: a first call may build routes, fetch keys, fill caches
    samples = []
    for _ in range(UNPROFILED_CALLS - 1):
        start = time.perf_counter()
        workload.call()
        samples.append(time.perf_counter() - start)
    once = statistics.median(samples)
    iterations = max(1, min(max_iterations, int(budget_s / max(once, 1e-9))))
    profiler = cProfile.Profile()
    # NOTE: without the collector, as the timed rounds run (_harness.measure): a collection
    # would charge its time to whichever function happened to allocate.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        profiler.enable()
        for _ in range(iterations):
            workload.call()
        profiler.disable()
        elapsed = time.perf_counter() - start
    finally:
        if gc_was_enabled:
            gc.enable()
    entries = [
        (key, value)
        for key, value in pstats.Stats(profiler).stats.items()  # type: ignore[attr-defined]
        if "_lsprof.Profiler" not in key[2]  # profiler.disable() itself
    ]
    total = sum(value[2] for _, value in entries) or 1e-12
    entries.sort(key=lambda entry: entry[1][2], reverse=True)
    rows = [
        ProfileRow(
            function=name,
            location=location(filename, line),
            calls_per_iteration=calls / iterations,
            own_us_per_call=own / calls * 1e6 if calls else 0.0,
            own_share=own / total,
            cumulative_share=min(cumulative / total, 1.0),
        )
        for (filename, line, name), (_, calls, own, cumulative, _) in entries[:top]
    ]
    return Profile(workload.what, iterations, elapsed / iterations * 1e6, rows)


def _number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def render_profile(name: str, found: Profile) -> list[str]:
    """The Markdown of ``found``: a collapsible table under the measurement ``name``."""
    lines = [
        '<details markdown="1">',
        f"<summary>Profile of the miss: {name}</summary>",
        "",
        f"{found.what}. {found.iterations} iterations under cProfile after the timed "
        f"rounds, {_number(found.us_per_iteration)} us per iteration with the profiler on "
        "(it inflates small functions: read the shares). Top functions by own time:",
        "",
        "| function | where | calls per iteration | own us per call | own % | cumulative % |",
        "|---|---|---|---|---|---|",
    ]
    for row in found.rows:
        cells = [
            f"`{row.function.replace('|', '/')}`",
            f"`{row.location}`",
            _number(row.calls_per_iteration),
            _number(row.own_us_per_call),
            f"{row.own_share * 100:.1f}",
            f"{row.cumulative_share * 100:.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, "", "</details>", ""]
