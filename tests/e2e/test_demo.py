"""The README's main command: the demo runs the whole workflow to a green summary."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.conftest import REPO_ROOT


def _demo_dirs() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("common-utils-demo-*")}


def test_demo_releases_and_serves_both_consumers_then_leaves_nothing_behind() -> None:
    before = _demo_dirs()
    # The release pipeline's own test run is covered by tests/e2e/test_release.py;
    # here the verify step installs from staging without re-running the suite.
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "demo" / "demo.py"), "--skip-release-tests"],
        capture_output=True,
        text=True,
        timeout=1200,
        env={**os.environ, "NO_COLOR": "1"},
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-2000:]
    for number in range(1, 6):
        assert re.search(rf"^\[{number}/5\] ", out, re.MULTILINE), f"step {number} missing"
    # The release is a tag push to a git host with the hooks: the push output carries
    # the pipeline's step lines, as a maintainer's terminal would.
    assert re.search(r"git push host HEAD:main v\S+ ", out)
    for step in ("guards", "build", "login", "upload", "install", "import", "constraints", "push"):
        assert re.search(rf"^ +remote: release: \[{step}\] ok in ", out, re.MULTILINE), step
    released = re.search(r"remote: release: released common-utils==(\S+):", out)
    assert released is not None
    version = released.group(1)
    assert re.search(rf"\* \[new tag\] +v{re.escape(version)} ", out)
    rows = {
        line.split("  ")[0]: line
        for line in out.splitlines()
        if line.startswith(("pip consumer ", "submodule consumer "))
    }
    for consumer, source in (("pip consumer", " pip "), ("submodule consumer", " submodule ")):
        assert version in rows[consumer]
        assert source in rows[consumer]
        assert "5/5 passed" in rows[consumer]
    assert "demo succeeded" in out
    assert "nothing left running" in out
    assert _demo_dirs() <= before, "the demo left its temp directory behind"
