"""Figures an operator plans with: export, import and replica catch-up for N releases.

Run: ``python benchmarks/devpi_ops_figures.py [N ...]`` (default 50 200; ``pip install ./devpi``).
Not a ``bench_*`` module: it takes minutes (a new replica's first sync alone is
60-100 s), so ``benchmarks/run.py`` does not run it; its figures go into
docs/operations.md by hand. For each
N, a throwaway primary gets N releases (one small wheel each, one twine upload),
then it measures, with the commands of docs/operations.md:

- ``ops.py backup`` (``devpi-export`` of the live server directory);
- ``ops.py restore-drill`` (``devpi-import`` into an empty directory, then a
  throwaway server and the sha256 of every file, downloaded);
- a new replica's time from start until its serial equals the primary's;
- an existing replica's catch-up after N more releases were pushed while it was
  stopped (start to in sync).

It prints a Markdown table (docs/operations.md, "Figures"). Everything is
loopback; nothing reaches an outside index.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from common_utils_platform.devpitools import DevpiServer
from common_utils_platform.devsupport import twine_upload

ROOT = Path(__file__).resolve().parent.parent

# The installed command (tox -e bench installs ./devpi).
OPS = Path(sys.executable).parent / "common-utils-ops"
PASSWORD = "bench-Pw-1"


def _wheel(dest: Path, version: str) -> Path:
    """Write one small pure-Python wheel (about 10 KiB of incompressible payload)."""
    name = f"bench_probe-{version}-py3-none-any.whl"
    info = f"bench_probe-{version}.dist-info"
    payload = hashlib.sha256(version.encode()).hexdigest() * 160
    with zipfile.ZipFile(dest / name, "w") as zf:
        zf.writestr("bench_probe/__init__.py", f"DATA = {payload!r}\n")
        zf.writestr(
            f"{info}/METADATA", f"Metadata-Version: 2.1\nName: bench-probe\nVersion: {version}\n"
        )
        zf.writestr(
            f"{info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        zf.writestr(f"{info}/RECORD", "")
    return dest / name


def _upload(server: DevpiServer, files: list[Path]) -> None:
    done = twine_upload(
        f"{server.url}/bench/release/", files, user="bench", password=PASSWORD, timeout=1800
    )
    if done.returncode:
        raise SystemExit(done.stdout[-500:] + done.stderr[-500:])


def _ops(*args: str) -> tuple[float, str]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(OPS), *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    if done.returncode:
        raise SystemExit(done.stdout + done.stderr)
    return time.monotonic() - started, done.stdout.strip()


def _seconds(step: str, drill: str) -> float:
    """Return the seconds the restore drill's output reports for ``step``."""
    found = re.search(rf"{step} ([\d.]+) s", drill)
    if found is None:
        raise SystemExit(f"no '{step} N s' in the restore drill's output:\n{drill}")
    return float(found[1])


def measure(n: int, work: Path) -> dict[str, float]:
    """Return the seconds of each step for ``n`` releases."""
    wheels = work / "wheels"
    wheels.mkdir()
    server = DevpiServer.temporary(bases=(), role="primary")
    replica = None
    try:
        server.start()
        root = server.api(as_root=True)
        root.put("/bench", {"password": PASSWORD})
        root.put("/bench/release", {"type": "stage", "bases": [], "volatile": False})
        _upload(server, [_wheel(wheels, f"1.0.{i}") for i in range(n)])
        backup_s, line = _ops(
            "backup",
            "--serverdir",
            str(server.serverdir),
            "--dest",
            str(work / "backups"),
            "--source",
            server.url,
        )
        drill_s, drill = _ops("restore-drill", "--exports", str(work / "backups"))
        import_s = _seconds("import", drill)
        check_s = _seconds("check", drill)

        replica = DevpiServer.temporary(
            role="replica", primary_url=server.url, secretfile=server.secretfile
        )
        started = time.monotonic()
        replica.start()
        replica.wait_for_serial(server.serial(), timeout=900)
        new_replica_s = time.monotonic() - started

        replica.stop()
        _upload(server, [_wheel(wheels, f"2.0.{i}") for i in range(n)])
        started = time.monotonic()
        replica.start()
        replica.wait_for_serial(server.serial(), timeout=900)
        catch_up_s = time.monotonic() - started
        size = sum(p.stat().st_size for p in (work / "backups").rglob("*") if p.is_file())
        print(f"  {line}\n  {drill}", file=sys.stderr)
        return {
            "export_s": backup_s,
            "import_s": import_s,
            "drill_check_s": check_s,
            "drill_total_s": drill_s,
            "new_replica_s": new_replica_s,
            "catch_up_s": catch_up_s,
            "export_mib": size / 2**20,
        }
    finally:
        if replica is not None:
            replica.stop()
            replica.cleanup()
        server.stop()
        server.cleanup()


def main(argv: list[str]) -> int:
    """Measure each N of ``argv`` and print the table, a row as soon as it is measured."""
    sizes = [int(a) for a in argv] or [50, 200]
    print(
        "| releases | export size | `ops.py backup` (export) | `devpi-import` | drill check "
        "(download + sha256) | new replica in sync | replica catch-up after N more |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|", flush=True)
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="bench-ops-") as tmp:
            r = measure(n, Path(tmp))
        cells = [
            f"{n}",
            f"{r['export_mib']:.1f} MiB",
            *(f"{r[k]:.1f} s" for k in ("export_s", "import_s", "drill_check_s")),
            *(f"{r[k]:.1f} s" for k in ("new_replica_s", "catch_up_s")),
        ]
        print(f"| {' | '.join(cells)} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
