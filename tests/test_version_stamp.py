"""common_utils.version: a checkout's version from git, push-time stamps, stale stamps refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from common_utils_platform.devsupport import git

from common_utils import version as cv
from common_utils.version import (
    UNKNOWN_VERSION,
    Stamp,
    StampError,
    has_git_metadata,
    read_stamp,
    verify_stamp,
    version_of,
    write_stamp,
)


def make_repo(root: Path, tag: str | None = "v1.2.3") -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / ".gitignore").write_text("pkg/_version.py\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "init")
    if tag:
        git(root, "tag", tag)
    return root


def test_has_git_metadata(tmp_path: Path) -> None:
    assert not has_git_metadata(tmp_path)
    assert has_git_metadata(make_repo(tmp_path / "r"))


def test_read_stamp_missing_or_without_version(tmp_path: Path) -> None:
    assert read_stamp(tmp_path) is None
    (tmp_path / "_version.py").write_text("x = 1\n")
    assert read_stamp(tmp_path) is None


def test_read_stamp_of_setuptools_scm_without_importing(tmp_path: Path) -> None:
    (tmp_path / "_version.py").write_text(
        "raise SystemExit('never imported')\n"
        "__version__ = version = '1.4.1.dev2+gabc1234'\n"
        "__commit_id__ = commit_id = 'gabc1234'\n"
    )
    assert read_stamp(tmp_path) == Stamp(
        "1.4.1.dev2+gabc1234", "gabc1234", tmp_path / "_version.py"
    )


def test_version_of_a_tagged_checkout_is_the_tag_and_ignores_a_stamp(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "svc")
    (root / "pkg" / "_version.py").write_text("version = '0.0.1'\n")
    assert version_of(root, root / "pkg") == "1.2.3"
    (root / "new.txt").write_text("x")
    git(root, "add", "new.txt")
    git(root, "commit", "-q", "-m", "more")
    head = git(root, "rev-parse", "--short", "HEAD")
    assert version_of(root) == f"1.2.4.dev1+g{head}"


def test_version_of_falls_back_to_the_stamp_then_unknown(tmp_path: Path) -> None:
    untagged = make_repo(tmp_path / "untagged", tag=None)
    assert version_of(untagged, untagged / "pkg") == UNKNOWN_VERSION
    (untagged / "pkg" / "_version.py").write_text("version = '2.0.0'\n")
    assert version_of(untagged, untagged / "pkg") == "2.0.0"
    droplet = tmp_path / "droplet"
    (droplet / "pkg").mkdir(parents=True)
    assert version_of(droplet) == UNKNOWN_VERSION
    assert version_of(droplet, droplet / "pkg") == UNKNOWN_VERSION
    (droplet / "pkg" / "_version.py").write_text('version = "3.1.4"\n')
    assert version_of(droplet, droplet / "pkg") == "3.1.4"


def test_write_stamp_records_version_and_commit_and_is_read_back(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "svc")
    stamp = write_stamp(root, root / "pkg")
    head = git(root, "rev-parse", "HEAD")
    assert stamp == Stamp("1.2.3", head, root / "pkg" / "_version.py")
    assert read_stamp(root / "pkg") == stamp
    # The stamp is git-ignored: stamping does not make the tree dirty.
    assert version_of(root) == "1.2.3"
    namespace: dict[str, object] = {}
    exec(stamp.path.read_text(), namespace)  # noqa: S102 - our own file, as Python imports it
    assert namespace["__version__"] == namespace["version"] == "1.2.3"


def imported_version(root: Path) -> str:
    """``pkg._version.version`` as a fresh interpreter imports it (bytecode cache on)."""
    done = subprocess.run(
        [sys.executable, "-c", "import pkg._version as v; print(v.version)"],
        cwd=root, capture_output=True, text=True, check=True, timeout=60,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": ""},
    )  # fmt: skip
    return done.stdout.strip()


def test_a_restamp_in_the_same_second_is_what_the_next_import_sees(tmp_path: Path) -> None:
    # Python trusts a cached .pyc whose recorded source mtime (whole seconds) and
    # size match: "1.2.3" -> "1.2.4" keeps the size, so a re-stamp within the
    # second the last import cached it would serve the old version.
    root = make_repo(tmp_path / "svc")
    first = write_stamp(root, root / "pkg")
    assert imported_version(root) == "1.2.3"
    assert list((root / "pkg" / "__pycache__").glob("_version.*.pyc"))
    old = first.path.stat()
    git(root, "commit", "-q", "--allow-empty", "-m", "fix")
    git(root, "tag", "v1.2.4")
    again = write_stamp(root, root / "pkg")
    assert again.path.stat().st_size == old.st_size
    os.utime(again.path, ns=(old.st_atime_ns, old.st_mtime_ns))  # the same second, for sure
    assert imported_version(root) == "1.2.4"


def test_write_stamp_without_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_repo(tmp_path / "svc")
    monkeypatch.setattr(cv, "git_output", lambda *_: None)
    stamp = write_stamp(root, root / "pkg")
    assert stamp.commit is None
    assert "commit_id" not in stamp.path.read_text()


def test_write_stamp_refuses_without_git_or_tag(tmp_path: Path) -> None:
    with pytest.raises(StampError, match="is not a git checkout"):
        write_stamp(tmp_path, tmp_path)
    untagged = make_repo(tmp_path / "untagged", tag=None)
    with pytest.raises(StampError, match=r"no strict vX\.Y\.Z tag"):
        write_stamp(untagged, untagged / "pkg")


def test_verify_stamp(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "lib", tag="v1.0.0")
    assert verify_stamp(root, root / "pkg") is None  # no stamp: git decides
    stamp = write_stamp(root, root / "pkg")
    assert verify_stamp(root, root / "pkg") == stamp
    # The checkout moves on (a submodule checked out at a newer tag); the stamp stays.
    (root / "f").write_text("x")
    git(root, "add", "f")
    git(root, "commit", "-q", "-m", "next")
    git(root, "tag", "v1.1.0")
    with pytest.raises(StampError) as caught:
        verify_stamp(root, root / "pkg")
    message = str(caught.value)
    assert "\n" not in message
    assert "it says 1.0.0" in message
    assert "is 1.1.0" in message


def test_verify_stamp_trusts_a_droplet_and_an_untagged_checkout(tmp_path: Path) -> None:
    droplet = tmp_path / "droplet"
    droplet.mkdir()
    (droplet / "_version.py").write_text("version = '9.9.9'\n")
    assert verify_stamp(droplet, droplet) is None
    untagged = make_repo(tmp_path / "untagged", tag=None)
    (untagged / "pkg" / "_version.py").write_text("version = '9.9.9'\n")
    assert verify_stamp(untagged, untagged / "pkg") is None
