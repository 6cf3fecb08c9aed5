#!/usr/bin/env python3
"""One entry point for a fresh machine: ``python3 dev.py demo`` or ``python3 dev.py test``.

Needs only Python >= 3.10 and git. It creates ``.venv-bootstrap/`` with tox the
first time, then hands over to tox, which builds every other environment.

- ``demo``: the whole workflow (tox -e demo).
- ``test``: every check CI runs: unit tests on each Python 3.10-3.13 found,
  lint, types, docs, the sample service, end to end, and the quick benchmarks
  (whose report goes to the ignored ``.benchmarks/``: no tracked file changes),
  in parallel (one job per core, at least two), each environment's output shown
  when it fails.
  Under CI (``CI`` set to ``true`` or ``1``) a missing interpreter fails the run
  instead of being skipped.
- ``lock``: re-lock every ``requirements/*.lock`` from its input (tox -e lock).
- anything else is passed to tox as it is (``python3 dev.py -e lint``).

tox itself comes from ``requirements/tox.lock`` (hash-checked), so the same tox runs on any day.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
BOOTSTRAP = ROOT / ".venv-bootstrap"
TOX_LOCK = ROOT / "requirements" / "tox.lock"
PARALLEL = max(2, os.cpu_count() or 1)
# The environments that take longest; `test` starts them first.
LONGEST = ("e2e",)


def _tox() -> Path:
    """Return the bootstrap tox, (re)creating its virtualenv when the lock changed."""
    bindir = BOOTSTRAP / ("Scripts" if os.name == "nt" else "bin")
    tox = bindir / "tox"
    stamp = BOOTSTRAP / "tox.lock"
    lock = TOX_LOCK.read_bytes()
    if not tox.exists() or not stamp.exists() or stamp.read_bytes() != lock:
        print(f"bootstrap: creating {BOOTSTRAP.name}/ from requirements/tox.lock", flush=True)
        venv.create(BOOTSTRAP, with_pip=True, clear=True)
        subprocess.run(
            [str(bindir / "python"), "-m", "pip", "install", "-q", "--require-hashes",
             "--no-deps", "-r", str(TOX_LOCK)],
            check=True,
        )  # fmt: skip
        stamp.write_bytes(lock)
    return tox


def _interpreters_path() -> str:
    """Return PATH with pyenv-installed interpreters appended, so tox finds 3.10-3.13."""
    path = os.environ.get("PATH", "")
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    extra = sorted(str(p) for p in root.glob("versions/3.*/bin") if p.is_dir())
    known = set(path.split(os.pathsep))
    return os.pathsep.join([path, *(p for p in extra if p not in known)])


def _under_ci() -> bool:
    """Tell whether this is a CI run, where every interpreter must be present."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def _label_envs(tox: str, label: str) -> list[str]:
    """The environments of one tox label, as ``tox list -m LABEL`` names them."""
    done = subprocess.run(
        [tox, "list", "-m", label, "--no-desc"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    return done.stdout.split() if done.returncode == 0 else []


def _longest_first(envs: list[str]) -> list[str]:
    """Put the longest environments first, the others in their label order.

    run-parallel starts environments in the order given, so e2e (about two thirds of a
    CI run) runs beside the others instead of after them.
    """
    return sorted(envs, key=lambda name: name not in LONGEST)


def main(argv: list[str]) -> int:
    """Run the requested workflow and return its exit code."""
    if sys.version_info < (3, 10):
        print("error: Python >= 3.10 is required", file=sys.stderr)
        return 2
    tox = str(_tox())
    command = argv[0] if argv else "test"
    if command == "demo":
        runs = [[tox, "run", "-e", "demo", "--", *argv[1:]]]
    elif command == "lock":
        runs = [[tox, "run", "-e", "lock", "--", *argv[1:]]]
    elif command == "test":
        strict = ["--skip-missing-interpreters", "false"] if _under_ci() else []
        # One tox run, so one wheel; two environments at a time (the unit tests are
        # CPU-bound, e2e and service mostly wait on processes they started).
        envs = _longest_first(_label_envs(tox, "ci"))
        if not envs:
            print("error: tox.ini's ci label names no environment", file=sys.stderr)
            return 2
        runs = [
            [tox, "run-parallel", "--parallel", str(PARALLEL), "--parallel-no-spinner",
             *strict, "-e", ",".join(envs), *argv[1:]],
        ]  # fmt: skip
    else:
        runs = [[tox, *argv]]
    env = dict(os.environ, PATH=_interpreters_path())
    for run in runs:
        code = subprocess.run(run, cwd=ROOT, env=env, check=False).returncode
        if code != 0:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
