"""The version of a checkout without release tags: from source, installed, and in the docs."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from common_utils.version import version_of

from .conftest import REPO_ROOT

_GIT = shutil.which("git")


@pytest.fixture
def tagless_checkout(tmp_path: Path) -> Path:
    """A git checkout with the library's setuptools-scm settings, two commits, no tag."""
    if _GIT is None:
        pytest.skip("git is not installed")
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    git = [_GIT, "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    for message in ("one", "two"):
        subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", message], check=True)
    subprocess.run([*git, "add", "pyproject.toml"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "config"], check=True)
    return tmp_path


def test_a_tagless_checkout_is_0_unknown_from_source_and_0_1_devn_when_installed(
    tagless_checkout: Path,
) -> None:
    """From source ``0+unknown``; built by setuptools-scm (pip install) ``0.1.devN+g<commit>``."""
    pytest.importorskip("setuptools_scm")
    assert version_of(tagless_checkout) == "0+unknown"
    built = subprocess.run(
        [sys.executable, "-m", "setuptools_scm"],
        cwd=tagless_checkout,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.strip()
    assert re.fullmatch(r"0\.1\.dev3\+g[0-9a-f]{7,}", built), built


def test_consuming_docs_name_both_versions_of_a_tagless_checkout() -> None:
    """docs/consuming.md does not promise ``0+unknown`` for an installed copy."""
    text = (REPO_ROOT / "docs" / "consuming.md").read_text(encoding="utf-8")
    assert "`0+unknown`" in text
    assert "`0.1.devN+g<commit>`" in text
