"""Compile every hashed lock of the repository, or check that each still matches its input.

Usage::

    python3 dev.py lock                       # re-lock everything (tox -e lock)
    python3 dev.py lock -- test e2e           # only these locks
    python scripts/lock.py --check            # what tox -e lint runs: offline, no resolver

Each lock is ``requirements/<name>.lock``, compiled by ``uv pip compile`` for Python 3.10-3.13
at once (``--universal``) with a hash for every file. The command is the one uv writes into
the lock's header, so a bot that replays the header (Renovate's pip-compile manager) runs
exactly what this script runs.

``--check`` fails when a lock's header is not the command below, when a pinned package has no
hash, or when a requirement of its inputs (the ``.in`` files it includes, and
``pyproject.toml``'s dependencies for the locks that carry the library's own) is missing from
the lock or pinned outside its range: an input edited without a re-lock.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - tox's own Python may be 3.10
    import tomli as tomllib  # type: ignore[import-not-found,no-redef,unused-ignore]

ROOT = Path(__file__).resolve().parent.parent
PYTHONS = ("3.10", "3.11", "3.12", "3.13")


@dataclass(frozen=True)
class Lock:
    """One lock: its name (``requirements/<name>.lock``) and what it is compiled from."""

    name: str
    inputs: tuple[str, ...]
    extras: tuple[str, ...] = ()

    @property
    def output(self) -> str:
        """Return the lock's path relative to the repository root."""
        return f"requirements/{self.name}.lock"

    def command(self) -> list[str]:
        """Return the ``uv pip compile`` arguments, as the lock's header records them."""
        extras = [arg for extra in self.extras for arg in ("--extra", extra)]
        return [
            "uv", "pip", "compile", "--universal", "--python-version", PYTHONS[0],
            "--generate-hashes", *extras, "--output-file", self.output, *self.inputs,
        ]  # fmt: skip


LIBRARY = "pyproject.toml"  # the library's runtime dependencies and its "fast" extra
PLATFORM = "devpi/pyproject.toml"  # the platform tools' dependencies (common-utils-platform)
LOCKS = (
    Lock("tox", ("requirements/tox.in",)),
    Lock("lock", ("requirements/lock.in",)),
    Lock("build", ("requirements/build.in",)),
    Lock("test", (LIBRARY, "requirements/test.in"), ("fast",)),
    Lock("lint", ("requirements/lint.in",)),
    Lock("type", (LIBRARY, "requirements/type.in"), ("fast",)),
    Lock("docs", (LIBRARY, "requirements/docs.in")),
    Lock("service", (LIBRARY, "requirements/service.in"), ("fast",)),
    Lock("e2e", (LIBRARY, "requirements/e2e.in"), ("fast",)),
    Lock("bench", (LIBRARY, "requirements/bench.in"), ("fast",)),
    Lock("demo", (LIBRARY, "requirements/demo.in")),
    Lock("devpi", ("requirements/devpi.in", PLATFORM)),
    Lock("release", ("requirements/release.in",)),
    Lock("verify", ("requirements/verify.in",)),
    Lock("devpi-server", ("requirements/devpi-server.in",)),
)

_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(?P<version>[^\s;\\]+)")


def compile_locks(locks: list[Lock]) -> int:
    """Run uv for each lock; return the first non-zero exit code, else 0."""
    uv = shutil.which("uv")
    if uv is None:
        print("error: uv not found; run this through `python3 dev.py lock`", file=sys.stderr)
        return 2
    for lock in locks:
        print(f"lock: {lock.output}", flush=True)
        command = [uv, *lock.command()[1:], "--quiet"]
        code = subprocess.run(command, cwd=ROOT, check=False).returncode
        if code != 0:
            return code
    return 0


def pinned(lock_text: str) -> tuple[dict[str, list[Version]], list[str]]:
    """Return the pinned versions by canonical name, and the pins without a hash."""
    versions: dict[str, list[Version]] = {}
    unhashed: list[str] = []
    blocks = re.split(r"\n(?=[A-Za-z0-9])", "\n" + lock_text)
    for block in blocks:
        match = _PIN.match(block.strip())
        if match is None:
            continue
        name = canonicalize_name(match["name"])
        versions.setdefault(name, []).append(Version(match["version"]))
        if "--hash=sha256:" not in block:
            unhashed.append(name)
    return versions, unhashed


def requirements_of(path: Path, extras: tuple[str, ...]) -> list[Requirement]:
    """Return the direct requirements an input names (following ``-r`` includes)."""
    if path.name == "pyproject.toml":
        project = tomllib.loads(path.read_text(encoding="utf-8"))["project"]
        lines = list(project.get("dependencies", []))
        for extra in extras:
            lines += project.get("optional-dependencies", {}).get(extra, [])
        return [Requirement(line) for line in lines]
    found: list[Requirement] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("-r ", "-c ")):
            found += requirements_of((path.parent / line[3:].strip()).resolve(), ())
            continue
        try:
            found.append(Requirement(line))
        except InvalidRequirement as error:
            raise SystemExit(f"{path}: {line!r} is not a requirement ({error})") from None
    return found


def applies(requirement: Requirement) -> bool:
    """Tell whether a requirement's marker holds on any Python the locks cover."""
    marker: Marker | None = requirement.marker
    return marker is None or any(
        marker.evaluate({"python_version": py, "python_full_version": f"{py}.0"}) for py in PYTHONS
    )


def check_lock(lock: Lock, root: Path = ROOT) -> list[str]:
    """Return the problems of one lock (an empty list when it matches its inputs)."""
    path = root / lock.output
    if not path.is_file():
        return [f"{lock.output}: missing (python3 dev.py lock)"]
    text = path.read_text(encoding="utf-8")
    problems = []
    expected = "#    " + " ".join(lock.command())
    if expected not in text.splitlines():
        problems.append(f"{lock.output}: its header is not the command scripts/lock.py runs")
    versions, unhashed = pinned(text)
    problems += [f"{lock.output}: {name} has no --hash" for name in unhashed]
    for source in lock.inputs:
        for requirement in requirements_of(root / source, lock.extras):
            if not applies(requirement):
                continue
            name = canonicalize_name(requirement.name)
            pins = versions.get(name)
            if not pins:
                problems.append(f"{lock.output}: {requirement} ({source}) is not in the lock")
            elif not any(requirement.specifier.contains(pin, prereleases=True) for pin in pins):
                shown = ", ".join(str(pin) for pin in pins)
                problems.append(
                    f"{lock.output}: {name}=={shown} is outside {requirement} ({source})"
                )
    return problems


def main(argv: list[str]) -> int:
    """Re-lock (the default) or check the locks; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="check only, offline")
    parser.add_argument("names", nargs="*", help="lock names (default: all)")
    args = parser.parse_args(argv)
    by_name = {lock.name: lock for lock in LOCKS}
    unknown = [name for name in args.names if name not in by_name]
    if unknown:
        parser.error(f"unknown lock(s): {', '.join(unknown)} (known: {', '.join(by_name)})")
    chosen = [by_name[name] for name in args.names] if args.names else list(LOCKS)
    if not args.check:
        return compile_locks(chosen)
    problems = [problem for lock in chosen for problem in check_lock(lock)]
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print("the locks do not match their inputs: run `python3 dev.py lock`", file=sys.stderr)
        return 1
    print(f"{len(chosen)} locks match their inputs")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
