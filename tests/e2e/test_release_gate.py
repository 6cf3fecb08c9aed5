"""The release-branch gate of the git host's pre-receive hook, attacked as a pusher would.

A bare repository with the hooks installed by ``common-utils-install-hooks`` holds
``main`` with ``v1.0.0`` and ``v1.1.0`` (pushed before the hooks, as on a real host). An
account that may push branches tries to publish an unreviewed commit through a
maintenance branch: by creating ``release/X.Y`` in the same push as the tag, or by
pushing a branch of a line that never started on ``main``. Every shape is refused by
the pre-receive hook with one line, and no ref changes (so nothing is built: the hook's
devpi URL is a closed port, never reached).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from common_utils_platform.devsupport import GIT_ENV, free_port, git, make_checkout

from .conftest import tool

INSTALL_HOOKS = tool("common-utils-install-hooks")


@dataclasses.dataclass
class Host:
    bare: Path
    work: Path

    def refs(self) -> str:
        return git(self.bare, "for-each-ref", "--format=%(refname) %(objectname)")


def push(work: Path, *refspecs: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "push", "origin", *refspecs],
        cwd=work,
        env={**os.environ, **GIT_ENV},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def unreviewed_commit(work: Path, base: str, message: str) -> str:
    """A commit on ``base`` that no review saw (not on main); its sha."""
    git(work, "checkout", "-q", "--detach", base)
    (work / "CHANGELOG.md").write_text(f"{message}\n")
    git(work, "commit", "-q", "-am", message)
    sha = git(work, "rev-parse", "HEAD")
    git(work, "checkout", "-q", "main")
    return sha


def tag(work: Path, name: str, commit: str) -> str:
    git(work, "tag", "-a", name, "-m", f"release {name}", commit)
    return f"refs/tags/{name}"


@pytest.fixture
def host(tmp_path: Path) -> Host:
    bare = tmp_path / "common_utils.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    work = make_checkout(tmp_path / "work", tag="v1.0.0")
    git(work, "commit", "-q", "--allow-empty", "-m", "the 1.1 feature")
    git(work, "tag", "v1.1.0")
    git(work, "remote", "add", "origin", str(bare))
    git(work, "push", "-q", "origin", "main", "v1.0.0", "v1.1.0")
    secrets = tmp_path / "secrets"
    secrets.mkdir(mode=0o700)
    password_file = secrets / "pw"
    password_file.write_text("not-used-Password-1\n")
    password_file.chmod(0o600)
    done = subprocess.run(
        [
            *INSTALL_HOOKS,
            str(bare),
            "--devpi-url",
            f"http://127.0.0.1:{free_port()}",
            "--password-file",
            str(password_file),
            "--no-sandbox",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return Host(bare=bare, work=work)


def _new_branch_new_line(work: Path) -> tuple[list[str], str]:
    """The reported attack: release/9.9 and v9.9.0 on an unreviewed commit, one push."""
    sha = unreviewed_commit(work, "main", "unreviewed 9.9")
    return (
        [f"{sha}:refs/heads/release/9.9", tag(work, "v9.9.0", sha)],
        "refused v9.9.0: release/9.9 is created by this push",
    )


def _new_branch_patch(work: Path) -> tuple[list[str], str]:
    """A patch of a started line (v1.0.0 is on main), but on a branch this push creates."""
    sha = unreviewed_commit(work, "v1.0.0", "unreviewed 1.0 patch")
    return (
        [f"{sha}:refs/heads/release/1.0", tag(work, "v1.0.1", sha)],
        "refused v1.0.1: release/1.0 is created by this push",
    )


def _new_branch_candidate(work: Path) -> tuple[list[str], str]:
    sha = unreviewed_commit(work, "main", "unreviewed 9.9 candidate")
    return (
        [f"{sha}:refs/heads/release/9.9", tag(work, "v9.9.0rc1", sha)],
        "refused v9.9.0rc1: release/9.9 is created by this push",
    )


def _line_not_started(work: Path) -> tuple[list[str], str]:
    """The branch pushed first (a branch alone is accepted), then the tag: the line never began."""
    sha = unreviewed_commit(work, "main", "unreviewed 9.9, branch first")
    done = push(work, f"{sha}:refs/heads/release/9.9")
    assert done.returncode == 0, done.stdout + done.stderr
    return (
        [tag(work, "v9.9.1", sha)],
        "refused v9.9.1: v9.9.1 is on release/9.9, whose line has not started: "
        "v9.9.0 is not on main",
    )


def _zero_on_its_branch(work: Path) -> tuple[list[str], str]:
    """vX.Y.0 itself never goes on release/X.Y, even on a branch that already exists."""
    sha = unreviewed_commit(work, "main", "unreviewed 9.8")
    done = push(work, f"{sha}:refs/heads/release/9.8")
    assert done.returncode == 0, done.stdout + done.stderr
    return (
        [tag(work, "v9.8.0", sha)],
        "refused v9.8.0: v9.8.0 is on release/9.8, whose line has not started",
    )


@pytest.mark.parametrize(
    "attack",
    [
        pytest.param(_new_branch_new_line, id="new-branch-new-line"),
        pytest.param(_new_branch_patch, id="new-branch-patch"),
        pytest.param(_new_branch_candidate, id="new-branch-candidate"),
        pytest.param(_line_not_started, id="line-not-started"),
        pytest.param(_zero_on_its_branch, id="x.y.0-on-its-branch"),
    ],
)
def test_a_release_tag_on_a_branch_made_for_it_is_refused_and_nothing_changes(
    host: Host, attack: Callable[[Path], tuple[list[str], str]]
) -> None:
    """Only a release branch that existed before the push, of a line started on main, counts."""
    refspecs, reason = attack(host.work)
    before = host.refs()
    done = push(host.work, *refspecs)
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    refusals = [line for line in output.splitlines() if line.startswith("remote: refused ")]
    assert len(refusals) == 1, output
    assert refusals[0].startswith(f"remote: {reason}"), output
    assert "pre-receive hook declined" in output
    assert "[build]" not in output
    assert host.refs() == before


def test_a_patch_on_an_existing_branch_of_a_started_line_passes_the_gate(host: Host) -> None:
    """The documented hotfix: the branch pushed first from the line's tag, then branch + tag.

    The hook and then the pipeline's guards accept it (the pipeline stops at the
    login: this host's devpi URL is a closed port).
    """
    work = host.work
    git(work, "switch", "-q", "-c", "release/1.0", "v1.0.0")
    try:
        done = push(work, "release/1.0")
        assert done.returncode == 0, done.stdout + done.stderr
        (work / "CHANGELOG.md").write_text("the fix\n")
        git(work, "commit", "-q", "-am", "the fix")
        tag(work, "v1.0.1", "HEAD")
        done = push(work, "release/1.0", "v1.0.1")
    finally:
        git(work, "switch", "-q", "main")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "remote: refused" not in output
    assert "remote: release: [guards] ok in " in output, output
    assert "on origin/release/1.0" in output
