"""The service's own version from its git tag, push-time stamps, stale stamps refused."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import example_app
import pytest
from unit_support import SERVICE_ROOT

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV, "HOME": str(cwd)}
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture
def service_repo(tmp_path: Path) -> Path:
    """A copy of the service's package as its own git repository, tagged v3.2.1."""
    root = tmp_path / "svc"
    shutil.copytree(
        SERVICE_ROOT / "example_app",
        root / "example_app",
        ignore=shutil.ignore_patterns("__pycache__", "_version.py"),
    )
    shutil.copy(SERVICE_ROOT / ".gitignore", root / ".gitignore")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "service")
    git(root, "tag", "v3.2.1")
    return root


def run_in(root: Path, code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` with ``root`` first on sys.path and common_utils importable."""
    import common_utils

    library = str(Path(common_utils.__file__).resolve().parent.parent)
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=root,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(root), library])},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_version_is_computed_not_hard_coded() -> None:
    from common_utils.version import version_of

    assert example_app.__version__ == version_of(SERVICE_ROOT, SERVICE_ROOT / "example_app")


def test_tagged_service_reports_its_tag_and_the_stamp_survives_without_git(
    service_repo: Path, tmp_path: Path
) -> None:
    done = run_in(service_repo, "import example_app; print(example_app.__version__)")
    assert done.stdout.strip() == "3.2.1", done.stderr
    done = run_in(service_repo, "from example_app import stamp; raise SystemExit(stamp.main())")
    assert done.returncode == 0, done.stderr
    assert "example-app 3.2.1 -> example_app/_version.py" in done.stdout
    assert git(service_repo, "status", "--porcelain") == ""  # the stamp is git-ignored
    # What cf push uploads: the tree without .git.
    droplet = tmp_path / "droplet"
    shutil.copytree(service_repo, droplet, ignore=shutil.ignore_patterns(".git"))
    done = run_in(droplet, "import example_app; print(example_app.__version__)")
    assert done.stdout.strip() == "3.2.1", done.stderr


def test_stale_service_stamp_is_refused_with_one_line(service_repo: Path) -> None:
    (service_repo / "example_app" / "_version.py").write_text("version = '3.0.0'\n")
    done = run_in(service_repo, "import example_app; example_app.app")
    assert done.returncode == example_app.CONFIGURATION_ERROR_EXIT_STATUS
    assert done.stderr.count("\n") == 1
    assert "stale version stamp" in done.stderr
    assert "it says 3.0.0" in done.stderr
    assert "python -m example_app.stamp" in done.stderr


def test_stamp_without_a_tag_fails_with_one_line(service_repo: Path) -> None:
    git(service_repo, "tag", "-d", "v3.2.1")
    done = run_in(service_repo, "from example_app import stamp; raise SystemExit(stamp.main())")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "cannot stamp" in done.stderr
