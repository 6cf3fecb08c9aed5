"""Cold ``import common_utils`` in a fresh interpreter against ``python -c pass``.

Target: under 20 ms above the bare interpreter start. Each sample is a new
subprocess; baseline and subject alternate so machine noise hits both alike.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

from _harness import Metric, Result

ROOT = Path(__file__).resolve().parent.parent


def _start(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT.parent)
    return time.perf_counter() - start


def run(quick: bool) -> list[Result]:
    rounds = 10 if quick else 40
    bare: list[float] = []
    light: list[float] = []
    modules: dict[str, list[float]] = {}
    for _ in range(rounds):
        bare.append(_start("pass"))
        light.append(_start("import common_utils"))
    # What a service pays for the modules it actually uses (each imports its deps).
    for name in ("cfenv", "logs", "auth", "validation", "openapi", "resources"):
        samples = [_start(f"import common_utils.{name}") for _ in range(max(3, rounds // 4))]
        modules[name] = samples
    base_ms = statistics.median(bare) * 1e3
    extra_ms = statistics.median(light) * 1e3 - base_ms
    results = [
        Metric("import", "ms", below=20).row(
            "import common_utils (cold, subprocess) above `python -c pass`",
            round(extra_ms, 2),
            details={"interpreter_ms": round(base_ms, 1), "rounds": rounds},
        )
    ]
    for name, samples in modules.items():
        cost = statistics.median(samples) * 1e3 - base_ms
        results.append(
            Metric("import", "ms").row(
                f"import common_utils.{name} (with its dependencies) above `python -c pass`",
                round(cost, 1),
                details={"interpreter_ms": round(base_ms, 1)},
            )
        )
    return results
