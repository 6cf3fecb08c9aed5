"""devpi-server start-to-ready and the release pipeline's tag-to-installable time.

Both are wall-clock times of real processes (a devpi-server, git, build, twine,
pip, devpi-client), so they are reported in seconds against absolute targets;
the baseline beside them is the bare ``python -m build`` of the same checkout,
the part of the pipeline no tooling can avoid.

Tag-to-installable runs the pipeline without the test run (``run_tests=False``:
guards, build, twine check, login, staging upload, fresh-venv install from
staging, devpi push) against a throwaway server whose base index is seeded with
the runtime dependencies. Quick mode (one server start, one release) takes
about 30 s on a 2-core machine, mostly the server start and the seeding; the
full run measures three starts and three releases.
"""

from __future__ import annotations

import io
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _harness import Metric, Result
from common_utils_platform.devpitools import DevpiServer, build_wheelhouse, seed_base_index
from common_utils_platform.devsupport import make_checkout
from common_utils_platform.release import ReleaseConfig, run_release

ROOT = Path(__file__).resolve().parent.parent


def _checkout(dest: Path, tag: str) -> Path:
    return make_checkout(dest, tag=tag)


def _start_to_ready(tmp: Path) -> tuple[float, float]:
    server = DevpiServer(
        serverdir=tmp / "server",
        port=0,
        root_password="bench-root",
        release_password="bench-release",
    )
    started = time.perf_counter()
    server.init()
    initialised = time.perf_counter()
    server.start()
    ready = time.perf_counter()
    server.stop()
    return initialised - started, ready - initialised


def run(quick: bool) -> list[Result]:
    # NOTE: quick mode times the start of the server the release then uses (one
    # start in all); the full run adds separate starts.
    releases = 1 if quick else 3
    init_s: list[float] = []
    ready_s: list[float] = []
    for _ in range(0 if quick else 2):
        with tempfile.TemporaryDirectory(prefix="bench-devpi-") as server_dir:
            a, b = _start_to_ready(Path(server_dir))
            init_s.append(a)
            ready_s.append(b)
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="bench-release-") as tmp_name:
        tmp = Path(tmp_name)
        # Exactly what the release's verify step installs (hash-checked, wheels only).
        verify_lock = ROOT / "requirements" / "verify.lock"
        wheelhouse = build_wheelhouse(
            tmp / "wheelhouse", ["--only-binary", ":all:", "-r", str(verify_lock)]
        )
        server = DevpiServer.temporary(bases=("root/deps",))
        started = time.perf_counter()
        server.init()
        init_s.append(time.perf_counter() - started)
        started = time.perf_counter()
        server.start()
        ready_s.append(time.perf_counter() - started)
        results.append(
            Metric("devpi", "s", below=10).row(
                "devpi-server start-to-ready (initialised server dir, until /+api answers)",
                round(statistics.median(ready_s), 2),
                details={
                    "devpi_init_s": round(statistics.median(init_s), 2),
                    "starts": len(ready_s),
                },
            )
        )
        with server:
            seed_base_index(server, tmp / "wheelhouse")
            config = ReleaseConfig(
                url=server.url, user=server.release_user, password=server.release_password
            )
            totals: list[float] = []
            steps: dict[str, list[float]] = {}
            builds: list[float] = []
            for n in range(releases):
                checkout = _checkout(tmp / f"checkout{n}", f"v5.0.{n}")
                started = time.perf_counter()
                result = run_release(checkout, config=config, run_tests=False, out=io.StringIO())
                totals.append(time.perf_counter() - started)
                for name, took in result.timings.items():
                    steps.setdefault(name, []).append(took)
                started = time.perf_counter()
                subprocess.run(
                    [sys.executable, "-m", "build", "--no-isolation", "--outdir",
                     str(tmp / f"bare{n}"), str(checkout)],
                    check=True, capture_output=True,
                )  # fmt: skip
                builds.append(time.perf_counter() - started)
        total = statistics.median(totals)
        results.append(
            Metric("devpi", "s", below=20).row(
                "tag-to-installable: release pipeline without the test run",
                round(total, 2),
                details={
                    **{f"{k}_s": round(statistics.median(v), 2) for k, v in steps.items()},
                    "bare_build_s": round(statistics.median(builds), 2),
                    "releases": releases,
                    "wheelhouse_files": len(wheelhouse),
                },
                note="guards, build + twine check, login, staging upload, "
                "fresh-venv install from staging, devpi push",
            )
        )
    return results


if __name__ == "__main__":
    for line in run(quick="--quick" in sys.argv):
        print(line)
