"""Tag push publishes: a bare repository with the release hooks, a devpi-server, a clone, pip.

The module's git host is a bare repository that already held ``main`` and the release tag
``v1.0.0`` when the hooks were installed (as on a real host): by docs/release.md's two
install blocks, run as written (as root, a scratch directory in front of the host's paths),
so every push of the module proves that installation. A maintainer's clone pushes to it with
``git push``; what the pusher sees is git's own output (``remote: release: [build] ok in
...``). The devpi-server is the module's own (fresh indexes, so "no pin installs the newest
final" does not depend on other modules' releases); its base index holds the session's
wheelhouse only. The verify step runs one small test file (``--verify-pytest-args``): the
full suite against the installed wheel is covered by test_release.py.

docs/release.md's maintainer blocks (the tag push, the release candidate, the hotfix) run
here as written, in a bash shell in the maintainer's clone, with only the substitutions
the page names next to each block: its versions for this host's. Without root (no
``useradd``) the hooks are installed directly, with ``--no-sandbox``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import doctest
import grp
import importlib
import os
import pwd
import re
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from common_utils_platform.devpitools import DevpiServer, seed_base_index
from common_utils_platform.devsupport import GIT_ENV, git, make_checkout

from tests.conftest import REPO_ROOT

from .conftest import install_from, tool
from .sandbox_support import can_create_users, fresh_user_name, may_run_this_python, remove_user
from .test_developer_server import Terminal, block_after, commands

INSTALL_HOOKS = tool("common-utils-install-hooks")
STEP_NAMES = (
    "guards",
    "build",
    "login",
    "upload",
    "install",
    "import",
    "tests",
    "constraints",
    "push",
)
VERIFY_SELECTION = "{clone}/tests/test_problems.py"
PROJECT = "common-utils"
RELEASE_DOC = REPO_ROOT / "docs" / "release.md"
NOTES_FALLBACK = "these notes are the pending fragments"  # a final released without --write


HOOKS_HEADING = "### On the team's git host: server-side hooks"
HOOKS_AS_GIT_USER = "Then, as the git user, the hooks:"
HOST_PATHS = ("/etc/common-utils", "/opt/common-utils-release", "/srv/git/common_utils.git")


def doc_commands(heading: str, substitutions: dict[str, str]) -> list[str]:
    """The commands of docs/release.md's first bash block after ``heading``, substituted.

    Comment lines are dropped (a trailing comment stays: bash ignores it); ``substitutions``
    maps the page's text (versions, paths) to this host's in one pass, longest first, as the
    page says next to the block.
    """
    block = block_after(RELEASE_DOC.read_text(), heading)
    for old in substitutions:
        assert old in block, f"{old} is not in the block after {heading!r}"
    pattern = "|".join(re.escape(old) for old in sorted(substitutions, key=len, reverse=True))
    block = re.sub(pattern, lambda match: substitutions[match[0]], block)
    return [line for line in commands(block) if not line.startswith("#")]


@dataclasses.dataclass
class GitHost:
    """The module's git host, devpi-server and maintainer clone."""

    server: DevpiServer
    bare: Path
    work: Path
    password_file: Path
    password: str
    log_dir: Path
    sandbox_user: str | None = None

    @property
    def release_url(self) -> str:
        return self.server.simple_url(self.server.release_index)

    def released(self, version: str) -> dict[str, str]:
        return self.server.api().release_digests(self.server.release_index, PROJECT, version)

    def host_refs(self) -> str:
        return git(self.bare, "for-each-ref", "--format=%(refname) %(objectname)")

    def outcomes(self) -> list[str]:
        log = self.log_dir / "releases.log"
        return log.read_text().splitlines() if log.exists() else []

    def shell(self, state: Path, cwd: Path | None = None) -> Terminal:
        """A maintainer's bash in the clone (``cwd``: another clone), as the docs' blocks run."""
        return Terminal(cwd or self.work, {**os.environ, **GIT_ENV}, state)

    def push_main(self) -> None:
        """``git push origin main``: a branch push, accepted and nothing built."""
        done = push(self.work, "main")
        output = done.stdout + done.stderr
        assert done.returncode == 0, output
        assert "[build]" not in output, output


def push(work: Path, *refspecs: str, force: bool = False) -> subprocess.CompletedProcess[str]:
    """``git push origin REFSPECS`` as a maintainer; output as the pusher sees it."""
    return subprocess.run(
        ["git", "push", *(["--force"] if force else []), "origin", *refspecs],
        cwd=work,
        env={**os.environ, **GIT_ENV},
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )


def commit(work: Path, message: str) -> None:
    with (work / "CHANGELOG.md").open("a") as fh:
        fh.write(f"\n- {message}\n")
    git(work, "commit", "-q", "-am", message)


def tag(work: Path, name: str, ref: str = "HEAD") -> None:
    git(work, "tag", "-a", name, "-m", f"release {name}", ref)


def release_credentials(server: DevpiServer) -> tuple[str, str]:
    """The account the pipeline publishes as (the dedicated release user where there is one)."""
    user = getattr(server, "release_user", None) or server.user
    password = getattr(server, "release_password", None) or server.password
    return str(user), str(password)


def install_hooks_as_the_docs_say(
    server: DevpiServer, scratch: Path, password: str, private: Path, cleanup: contextlib.ExitStack
) -> str:
    """docs/release.md's two install blocks as written: root's, then the git user's.

    The substitutions are the ones the page names next to the blocks; the git user is this
    process's (root, the owner of the bare repository). Returns the sandbox user's name.
    """
    box = fresh_user_name()
    cleanup.callback(remove_user, box)  # the useradd line makes it
    paths = {path: f"{scratch}{path}" for path in HOST_PATHS}
    git_user = f"-o {pwd.getpwuid(os.geteuid()).pw_name} -g {grp.getgrgid(os.getegid()).gr_name}"
    as_root = doc_commands(
        HOOKS_HEADING,
        {
            "/etc/common-utils": paths["/etc/common-utils"],
            "/opt/common-utils-release": paths["/opt/common-utils-release"],
            "common-utils-sandbox": box,
            "-o git -g git": git_user,
        },
    )
    *_, install_hooks = as_git_user = doc_commands(
        HOOKS_AS_GIT_USER,
        {**paths, "common-utils-sandbox": box, "https://devpi.example.internal": server.url},
    )
    assert install_hooks.startswith(f"{paths['/opt/common-utils-release']}/bin/common-utils-")
    as_git_user[-1] += f" --verify-pytest-args {shlex.quote(VERIFY_SELECTION)} --timeout 900"
    # $EDITOR as the page runs it: here a script that writes the password into its file.
    editor = private / "editor"
    editor.write_text(f"#!/bin/sh\nprintf '%s\\n' {shlex.quote(password)} > \"$1\"\n")
    editor.chmod(0o700)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEVPI_")}
    env["EDITOR"] = str(editor)
    checkout = private / "checkout"  # the git host's checkout of the repository
    git(private, "clone", "-q", str(scratch / "srv/git/common_utils.git"), str(checkout))
    output = Terminal(checkout, env, private / "root-shell").run(
        "release.md hooks as root", "\n".join(as_root), timeout=900
    )
    cleanup.enter_context(may_run_this_python(box))
    output += Terminal(checkout, env, private / "git-shell").run(
        "release.md hooks as the git user", "\n".join(as_git_user), timeout=300
    )
    assert password not in output
    return box


def install_hooks_without_sandbox(server: DevpiServer, bare: Path, password_file: Path) -> None:
    """Without root there is no sandbox user: the installer alone, with ``--no-sandbox``."""
    done = subprocess.run(
        [
            *INSTALL_HOOKS,
            str(bare),
            *("--devpi-url", server.url, "--devpi-user", release_credentials(server)[0]),
            *("--password-file", str(password_file), "--no-sandbox"),
            *("--verify-pytest-args", VERIFY_SELECTION, "--timeout", "900"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def host(devpi_wheelhouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitHost]:
    server = DevpiServer.temporary(bases=("root/deps",), role="primary")
    # The host's /etc, /opt and /srv: the sandbox user enters it (x only), as it enters /.
    scratch = Path(tempfile.mkdtemp(prefix="githost-"))
    scratch.chmod(0o711)
    cleanup = contextlib.ExitStack()
    cleanup.callback(shutil.rmtree, scratch, ignore_errors=True)
    try:
        server.start()
        server.bootstrap()
        seed_base_index(server, devpi_wheelhouse, index="root/deps")
        bare = scratch / "srv" / "git" / "common_utils.git"
        bare.parent.mkdir(parents=True)
        git(bare.parent, "init", "-q", "--bare", "-b", "main", str(bare))
        work = make_checkout(tmp_path_factory.mktemp("githost") / "work", tag=None)
        tag(work, "v1.0.0")
        git(work, "remote", "add", "origin", str(bare))
        git(work, "push", "-q", "origin", "main", "v1.0.0")  # history from before the hooks
        password = release_credentials(server)[1]
        password_file = scratch / "etc" / "common-utils" / "devpi-release-password"
        box: str | None = None
        if can_create_users():
            private = tmp_path_factory.mktemp("install-hooks")
            box = install_hooks_as_the_docs_say(server, scratch, password, private, cleanup)
        else:
            password_file.parent.mkdir(parents=True)
            password_file.write_text(password + "\n")
            password_file.chmod(0o600)
            install_hooks_without_sandbox(server, bare, password_file)
        config = (bare / "hooks" / "common_utils_release" / "release-hook.ini").read_text()
        assert password not in config
        yield GitHost(
            server=server,
            bare=bare,
            work=work,
            password_file=password_file,
            password=password,
            log_dir=bare / "release-logs",
            sandbox_user=box,
        )
    finally:
        server.stop()
        server.cleanup()
        cleanup.close()


@pytest.fixture(scope="module")
def pushed_v110(host: GitHost, tmp_path_factory: pytest.TempPathFactory) -> str:
    """docs/release.md's tag push (v1.1.0 for v1.5.0) of a commit on main: the pusher's output."""
    (tag_and_push,) = doc_commands("# Releasing common_utils", {"1.5.0": "1.1.0"})
    commit(host.work, "the 1.1 feature")
    host.push_main()  # the page's commit is on origin/main already
    shell = host.shell(tmp_path_factory.mktemp("shell") / "v1.1.0")
    return shell.run("release.md tag push", tag_and_push, timeout=900)


def test_pushing_a_release_tag_publishes_it_and_shows_the_steps(
    host: GitHost, pushed_v110: str, tmp_path: Path
) -> None:
    for step in STEP_NAMES:
        assert re.search(rf"^remote: release: \[{step}\] ok in \d", pushed_v110, re.M), step
    assert "remote: release: released common-utils==1.1.0" in pushed_v110
    assert "release-hook: v1.1.0 done in" in pushed_v110
    assert " passed" in pushed_v110  # the verify step ran the selected tests
    assert host.password not in pushed_v110
    assert "Traceback" not in pushed_v110
    assert sorted(host.released("1.1.0")) == [
        "common_utils-1.1.0-py3-none-any.whl",
        "common_utils-1.1.0.tar.gz",
    ]
    (outcome,) = [line for line in host.outcomes() if " v1.1.0 " in line]
    assert " ok " in outcome
    assert install_from(host.release_url, "common-utils==1.1.0", tmp_path / "venv") == "1.1.0"


def _malformed(name: str) -> Callable[[Path], list[str]]:
    def spoil(work: Path) -> list[str]:
        git(work, "tag", name)
        return [f"refs/tags/{name}"]

    return spoil


def _side_branch(work: Path) -> list[str]:
    git(work, "checkout", "-q", "-b", "feature/side")
    commit(work, "work in progress")
    tag(work, "v1.5.0")
    git(work, "checkout", "-q", "main")
    return ["feature/side", "v1.5.0"]


def _moved(work: Path) -> list[str]:
    git(work, "tag", "-f", "-a", "v1.0.0", "-m", "moved", "main")
    return ["+refs/tags/v1.0.0"]


def _deleted(work: Path) -> list[str]:
    return [":refs/tags/v1.0.0"]


def _not_newer(work: Path) -> list[str]:
    tag(work, "v0.9.0")
    return ["v0.9.0"]


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        pytest.param(_malformed("v1.1"), "'v1.1' is not a release tag", id="v1.1"),
        pytest.param(_malformed("1.5.0"), "'1.5.0' is not a release tag", id="1.5.0"),
        pytest.param(_side_branch, "v1.5.0 is on no allowed branch", id="side-branch"),
        pytest.param(_moved, "refused v1.0.0: a release tag never moves", id="moved-tag"),
        pytest.param(_deleted, "refused v1.0.0: a release tag is never deleted", id="deleted"),
        pytest.param(_not_newer, "v0.9.0 is not newer than v1.", id="not-newer"),
    ],
)
def test_bad_tag_push_is_refused_with_one_line_and_nothing_changes(
    host: GitHost, spoil: Callable[[Path], list[str]], reason: str
) -> None:
    refs_before, serial_before, outcomes_before = (
        host.host_refs(),
        host.server.serial(),
        host.outcomes(),
    )
    v100 = git(host.work, "rev-parse", "v1.0.0")
    try:
        done = push(host.work, *spoil(host.work))
    finally:
        git(host.work, "update-ref", "refs/tags/v1.0.0", v100)  # undo a local move
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    refusals = [line for line in output.splitlines() if line.startswith("remote: refused ")]
    assert len(refusals) == 1, output
    assert reason in refusals[0]
    assert "pre-receive hook declined" in output
    assert "[build]" not in output
    assert "Traceback" not in output
    assert host.host_refs() == refs_before
    assert host.server.serial() == serial_before
    assert host.outcomes() == outcomes_before


def test_release_candidate_then_its_final_as_the_docs_say(
    host: GitHost, pushed_v110: str, tmp_path: Path
) -> None:
    """v1.2.0rc1, then v1.2.0 on the notes commit: only ``--pre`` or a pin gets the candidate.

    docs/release.md's candidate block, 1.2.0 for 1.6.0; the final's notes are the
    committed CHANGELOG.md section and its code is the candidate's.
    """
    candidate, *final = doc_commands("## Release candidates", {"1.6.0": "1.2.0"})
    commit(host.work, "the 1.2 feature, for trying out")
    (host.work / "changes" / "+trying.feature.md").write_text("The 1.2 feature.\n")
    git(host.work, "add", "changes")
    git(host.work, "commit", "-q", "-m", "the 1.2 feature's release note")
    host.push_main()
    shell = host.shell(tmp_path / "shell")
    output = shell.run("release.md candidate", candidate, timeout=900)
    assert "remote: release: [push] ok in " in output, output
    assert sorted(host.released("1.2.0rc1")) == [
        "common_utils-1.2.0rc1-py3-none-any.whl",
        "common_utils-1.2.0rc1.tar.gz",
    ]
    url = host.release_url
    assert install_from(url, "common-utils", tmp_path / "no-pin") == "1.1.0"
    assert install_from(url, "common-utils", tmp_path / "pre", "--pre") == "1.2.0rc1"
    assert install_from(url, "common-utils==1.2.0rc1", tmp_path / "pin") == "1.2.0rc1"

    output = shell.run("release.md final", "\n".join(final), timeout=900)
    assert "remote: release: released common-utils==1.2.0" in output, output
    assert NOTES_FALLBACK not in output, "the final's notes are its CHANGELOG.md section"
    changed = git(host.work, "diff", "--name-only", "v1.2.0rc1", "v1.2.0").split()
    assert changed == ["CHANGELOG.md", "changes/+trying.feature.md"]
    assert "## [1.2.0]" in git(host.work, "show", "v1.2.0:CHANGELOG.md")
    assert git(host.work, "rev-parse", "main") == git(host.bare, "rev-parse", "main")
    assert sorted(host.released("1.2.0")) == [
        "common_utils-1.2.0-py3-none-any.whl",
        "common_utils-1.2.0.tar.gz",
    ]


def test_hotfix_on_a_release_branch_is_published_while_main_is_ahead(
    host: GitHost, pushed_v110: str, tmp_path: Path
) -> None:
    """A fix on main, backported to release/1.0 from v1.0.0: v1.0.1 published beside 1.1.x.

    docs/release.md's hotfix block: 1.0 for 1.9, v1.0.0 for v1.9.3, 1.0.1 for 1.9.4, the
    fix's sha for ``<fix commit on main>``; the first hotfix's branch line runs in the
    maintainer's clone, the later hotfix's in a second maintainer's fresh clone.
    """
    work = host.work
    (work / "changes" / "+hotfix.fix.md").write_text("The security fix.\n")
    with (work / "README.md").open("a") as fh:
        fh.write("\n<!-- the security fix -->\n")
    git(work, "add", "changes", "README.md")
    git(work, "commit", "-q", "-m", "security fix")
    fix = git(work, "rev-parse", "HEAD").strip()
    host.push_main()  # the fix lands on main first
    fetch, first, later, *backport = doc_commands(
        "## Hotfix: maintenance lines",
        {"1.9": "1.0", "v1.9.3": "v1.0.0", "1.9.4": "1.0.1", "<fix commit on main>": fix},
    )
    assert first.startswith("git switch -c "), first
    assert later.startswith("git switch release/"), later
    shell = host.shell(tmp_path / "shell")
    try:
        shell.run("release.md hotfix branch", f"{fetch}\n{first}", timeout=300)
        output = shell.run("release.md hotfix", "\n".join(backport), timeout=900)
        assert f"(cherry picked from commit {fix})" in git(
            work, "log", "-1", "--format=%B", "HEAD~"
        )
    finally:
        git(work, "checkout", "-q", "main")
    assert "remote: release: released common-utils==1.0.1" in output, output
    assert NOTES_FALLBACK not in output, "the hotfix's notes are its CHANGELOG.md section"
    assert "## [1.0.1]" in git(work, "show", "v1.0.1:CHANGELOG.md")
    assert install_from(host.release_url, "common-utils==1.0.1", tmp_path / "venv") == "1.0.1"
    assert host.released("1.1.0"), "the newer line is untouched"
    # A later hotfix, by another maintainer: the branch exists, the clone gets its tip.
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(host.bare), str(other))
    host.shell(tmp_path / "other-shell", cwd=other).run(
        "release.md later hotfix", f"{fetch}\n{later}", timeout=300
    )
    assert git(other, "rev-parse", "HEAD") == git(host.bare, "rev-parse", "release/1.0")
    assert git(other, "rev-parse", "HEAD") == git(other, "rev-parse", "v1.0.1^{commit}")


def test_failed_pipeline_keeps_the_tag_says_how_to_retry_and_the_retry_publishes(
    host: GitHost, pushed_v110: str, tmp_path: Path
) -> None:
    """A wrong password on the git host: the login step fails, nothing is released."""
    wrong = "not-the-Password-42"
    host.password_file.write_text(wrong + "\n")
    try:
        commit(host.work, "the 1.3 feature")
        tag(host.work, "v1.3.0")
        done = push(host.work, "main", "v1.3.0")
    finally:
        host.password_file.write_text(host.password + "\n")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output  # refs are updated before post-receive runs
    assert "remote: release: [login] FAILED" in output, output
    assert "release-hook: v1.3.0 FAILED (exit 5)" in output
    assert wrong not in output
    assert "Traceback" not in output
    assert "v1.3.0" in host.host_refs()
    assert host.released("1.3.0") == {}
    assert " failed exit=5 " in host.outcomes()[-1]
    # The failed run's work directory stays in the log directory, its login log named.
    kept = re.search(r"release-hook: kept for debugging: (\S+) \(logs/<step>\.log\)", output)
    assert kept is not None, output
    workdir = Path(kept.group(1))
    assert workdir.parent == host.log_dir
    assert f"full output: {workdir / 'logs' / 'login.log'}" in output
    assert "# step login FAILED" in (workdir / "logs" / "login.log").read_text()
    match = re.search(r"retry on the git host as the git user: (\S+) --retry v1\.3\.0", output)
    assert match is not None, output
    retried = subprocess.run(
        [match.group(1), "--retry", "v1.3.0"],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
        env={k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
    )
    retry_output = retried.stdout + retried.stderr
    assert retried.returncode == 0, retry_output
    assert "release: released common-utils==1.3.0" in retry_output
    assert host.password not in retry_output
    assert sorted(host.released("1.3.0")) == [
        "common_utils-1.3.0-py3-none-any.whl",
        "common_utils-1.3.0.tar.gz",
    ]
    assert " v1.3.0 " in host.outcomes()[-1]
    assert " ok " in host.outcomes()[-1]
    # A released run's work directory is removed; the failed one's is still there.
    assert [path.name for path in host.log_dir.glob("v1.3.0-*") if path.is_dir()] == [workdir.name]


# The tagged code's attack on the release password, run from setup.py (the build backend),
# the verify step's tests and the release notes script: every process's environment, the
# password file, and a write into the hooks. What it got goes to a world-writable directory.
ATTACK = """
def _attack(where):
    import glob, os
    got = [f"uid={{os.getuid()}}"]
    for path in glob.glob("/proc/[0-9]*/environ") + glob.glob("/proc/[0-9]*/cmdline"):
        try:
            text = open(path, "rb").read().decode("utf-8", "replace").replace("\\0", " ")
        except OSError:
            continue
        got.append(f"{{os.path.basename(path)}}: {{text}}".replace("\\n", " "))
    try:
        got.append("password file: " + open({password_file!r}).read())
    except OSError as ex:
        got.append(f"password file refused: {{ex.errno}}")
    for target in ({hooks!r}, {post_receive!r}):
        try:
            with open(target if target.endswith("post-receive") else target + "/pwned", "a") as fh:
                fh.write("# pwned\\n")
            got.append(f"wrote {{target}}")
        except OSError as ex:
            got.append(f"write refused: {{target}} {{ex.errno}}")
    with open(os.path.join({loot!r}, f"{{where}}-{{os.getpid()}}"), "w") as fh:
        fh.write("\\n".join(got))
"""


def _plant(path: Path, code: str, call: str) -> None:
    """Put the attack at the top of a Python file of the tagged commit (after its docstring)."""
    text = path.read_text()
    head, sep, rest = text.partition("from __future__ import annotations\n")
    if not sep:
        head, rest = "", text
    path.write_text(head + sep + code + call + "\n" + rest)


def test_tagged_code_never_reaches_the_release_password(host: GitHost, pushed_v110: str) -> None:
    """setup.py, the tests and the notes script of a tag try every way to the password.

    The release runs (the sandbox user runs that code) and the password is in none of
    what the code saw; the hooks are unchanged. Needs root to create the sandbox user.
    """
    if host.sandbox_user is None:
        pytest.skip("the sandbox user needs root (useradd) on this machine")
    loot = Path(tempfile.mkdtemp(prefix="release-loot-"))
    loot.chmod(0o1777)
    hooks = host.bare / "hooks"
    before = {p.name: p.read_bytes() for p in hooks.iterdir() if p.is_file()}
    code = ATTACK.format(
        password_file=str(host.password_file),
        hooks=str(hooks),
        post_receive=str(hooks / "post-receive"),
        loot=str(loot),
    )
    work = host.work
    _plant(work / "setup.py", code, "_attack('build')")
    _plant(work / "scripts" / "release_notes.py", code, "_attack('notes')")
    tests = work / "tests" / "test_problems.py"
    tests.write_text(tests.read_text() + code + "\n\ndef test_attack():\n    _attack('tests')\n")
    git(work, "commit", "-q", "-am", "an innocent-looking change")
    tag(work, "v1.4.0")
    try:
        done = push(work, "main", "v1.4.0")
        output = done.stdout + done.stderr
        stolen = {p.name: p.read_text() for p in loot.iterdir()}
    finally:
        shutil.rmtree(loot, ignore_errors=True)
    assert done.returncode == 0, output
    assert {name.split("-")[0] for name in stolen} >= {"build", "tests", "notes"}, output
    for where, got in stolen.items():
        lines = got.split("\n")  # one record a line: the attack made newlines in one spaces
        leaks = [line.replace(host.password, "<PASSWORD>") for line in lines
                 if host.password in line]  # fmt: skip
        assert not leaks, f"{where} read the release password in: {leaks}"
        assert "password file refused: 13" in lines, where
        # any process's command line may name the variable (a developer's shell, say); what
        # must not be readable is an environment holding it
        environs = [line for line in lines if re.match(r"environ: .*DEVPI_PASSWORD=", line)]
        assert not environs, f"{where} read an environment with the password variable"
        # the attack's own records start their lines; another process's command line may
        # hold the same words (a CI runner's script did), so only whole lines count
        writes = [line for line in lines if line.startswith("wrote ")]
        assert not writes, f"{where} {writes}"
        assert lines[0] != f"uid={os.geteuid()}", f"{where} ran as the release's own user"
    assert "release: released common-utils==1.4.0" in output, output
    assert host.password not in output
    after = {p.name: p.read_bytes() for p in hooks.iterdir() if p.is_file()}
    assert after == before
    logs = "".join(p.read_text(errors="replace") for p in host.log_dir.glob("*.log"))
    assert host.password not in logs


@pytest.mark.parametrize("module", ["release_hooks", "install_hooks"])
def test_hook_modules_docstring_examples(module: str) -> None:
    imported = importlib.import_module(f"common_utils_platform.{module}")
    result = doctest.testmod(imported, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
