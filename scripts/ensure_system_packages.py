"""Install the Debian packages a tox environment needs, when they are missing.

Usage: ``python scripts/ensure_system_packages.py chromium wrk``

Runs ``apt-get`` only when a tool is missing and we are root on a Debian-like
system. Outside CI a tool that cannot be installed is reported and the tests
that need it skip with that reason; in CI (``CI=true``) it is an error, so CI
can never go green by skipping the main path.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

# Debian package -> the command it provides.
COMMANDS = {
    "chromium": "chromium",
    "wrk": "wrk",
    "chromium-driver": "chromedriver",
    # systemd-analyze verify checks the units without a running systemd
    "systemd": "systemd-analyze",
    # the coupling guide's flowchart (tox -e docs)
    "graphviz": "dot",
    "ca-certificates": "update-ca-certificates",
}


POLICY_RC_D = Path("/usr/sbin/policy-rc.d")


@contextlib.contextmanager
def no_service_starts() -> Iterator[None]:
    """Keep Debian's maintainer scripts from starting services (nginx on port 80).

    The tests start the daemons they need themselves, on loopback ports, and end
    them; an installed package must not leave a system service running.
    """
    if POLICY_RC_D.exists():
        yield
        return
    POLICY_RC_D.write_text("#!/bin/sh\n# written by scripts/ensure_system_packages.py\nexit 101\n")
    POLICY_RC_D.chmod(0o755)
    try:
        yield
    finally:
        POLICY_RC_D.unlink(missing_ok=True)


def main(packages: list[str]) -> int:
    """Install each missing package; return the process exit code."""
    missing = [pkg for pkg in packages if shutil.which(COMMANDS.get(pkg, pkg)) is None]
    if not missing:
        return 0
    in_ci = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
    can_install = shutil.which("apt-get") is not None and os.geteuid() == 0
    if can_install:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        print(f"installing Debian packages: {' '.join(missing)}", flush=True)
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
        with no_service_starts():
            done = subprocess.run(
                ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
                check=False,
                env=env,
            )
        if done.returncode == 0:
            return 0
    message = f"cannot install {' '.join(missing)} (need root and apt-get)"
    if in_ci:
        print(f"error: {message}", file=sys.stderr)
        return 1
    print(f"warning: {message}; the tests that need them will skip", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
