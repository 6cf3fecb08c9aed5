"""The benchmark report: a missed target comes with a profile of the call it times."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
META = {
    "date": "2026-12-01 10:00 UTC",
    "quick": True,
    "cpu": "test",
    "cores": 2,
    "platform": "test",
    "python": "3.11",
    "packages": {},
}


def _checksum(data: bytes) -> int:
    return sum(data)


def _request() -> object:
    return _checksum(bytes(range(256)) * 40)


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """benchmarks/run.py, imported as `python benchmarks/run.py` finds its siblings."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    return importlib.import_module("run")


@pytest.fixture
def harness(run: ModuleType) -> ModuleType:
    return importlib.import_module("_harness")


def _rows(harness: ModuleType) -> list[Any]:
    """A missed and a met row of one group, both timing `_request`, and a row of another group."""
    workload = harness.Workload(_request, "One checksum of 10 KiB")
    cost = harness.Metric("checks", "x", at_most=1.0)
    return [
        cost.row("checksum, forced miss", 2.0, workload=workload),
        cost.row("checksum, met", 0.5, workload=workload),
        harness.Metric("other", "x", at_most=1.0).row("other, met", 0.5),
    ]


def test_a_missed_target_gets_a_profile_table_under_its_group(
    run: ModuleType, harness: ModuleType
) -> None:
    rows = _rows(harness)
    harness.profile_misses(rows, quick=True)
    report = run.render_markdown(META, rows, {})
    section = report[report.index("## checks") : report.index("## other")]
    profile = section[section.index("<summary>Profile of the miss: checksum, forced miss") :]
    assert "One checksum of 10 KiB" in profile
    checksum_row = next(line for line in profile.splitlines() if "`_checksum`" in line)
    assert "`tests/test_bench_profile.py:" in checksum_row
    assert "| 1 |" in checksum_row  # one call per iteration


def test_a_met_target_gets_no_profile(run: ModuleType, harness: ModuleType) -> None:
    rows = _rows(harness)
    harness.profile_misses(rows, quick=True)
    assert rows[1].profile is None
    assert "Profile of the miss: checksum, met" not in run.render_markdown(META, rows, {})


def test_a_miss_without_a_workload_says_it_has_no_profile(
    run: ModuleType, harness: ModuleType
) -> None:
    rows = [harness.Metric("counts", "fetches", at_most=2).row("JWKS fetches", 5.0)]
    harness.profile_misses(rows, quick=True)
    report = run.render_markdown(META, rows, {})
    assert "- *JWKS fetches*: missed, no profile" in report
    assert "<details" not in report


def test_the_results_file_holds_the_profile_not_the_workload(harness: ModuleType) -> None:
    rows = _rows(harness)
    harness.profile_misses(rows, quick=True)
    saved = json.loads(json.dumps([row.as_dict() for row in rows]))
    assert "workload" not in saved[0]
    assert saved[1]["profile"] is None
    functions = [entry["function"] for entry in saved[0]["profile"]["rows"]]
    assert "_checksum" in functions
    shares = [entry["own_share"] for entry in saved[0]["profile"]["rows"]]
    assert shares == sorted(shares, reverse=True)


@pytest.mark.parametrize(("budget_s", "iterations"), [(60.0, 7), (1e-9, 1)])
def test_a_profile_runs_within_its_bounds(
    run: ModuleType, budget_s: float, iterations: int
) -> None:
    """At most max_iterations however large the budget, at least one however small."""
    profile = importlib.import_module("_profile")
    workload = profile.Workload(_request, "One checksum")
    found = profile.profile(workload, budget_s=budget_s, max_iterations=7)
    assert found.iterations == iterations
    assert next(row for row in found.rows if row.function == "_checksum").calls_per_iteration == 1


@pytest.mark.parametrize(
    ("filename", "line", "shown"),
    [
        ("/venv/lib/python3.11/site-packages/falcon/app.py", 370, "falcon/app.py:370"),
        (str(BENCHMARKS / "bench_auth.py"), 12, "benchmarks/bench_auth.py:12"),
        (str(Path(json.__file__).parent / "decoder.py"), 3, "json/decoder.py:3"),
        ("~", 0, "built-in"),
        ("<frozen importlib._bootstrap>", 1, "<frozen importlib._bootstrap>:1"),
    ],
)
def test_locations_are_shown_relative_to_their_package(
    run: ModuleType, filename: str, line: int, shown: str
) -> None:
    assert importlib.import_module("_profile").location(filename, line) == shown
