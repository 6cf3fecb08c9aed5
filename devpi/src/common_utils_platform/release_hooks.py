"""Server-side git hooks that make "tag it, push it, it is published" true.

Installed into a bare repository on the team's git host by
``common-utils-install-hooks REPO ...`` (see docs/release.md), which writes
``REPO/hooks/common_utils_release/release-hook.ini`` and two tiny ``pre-receive`` /
``post-receive`` scripts into ``REPO/hooks/``: each runs the hook venv's interpreter
on this module's entry point (``common-utils-pre-receive``, ``common-utils-post-receive``)
of the installed ``common_utils_platform`` package.

- ``pre-receive`` refuses, each with one line saying why, a tag that looks like
  a version but is not a release tag (``v1.5``, ``1.5.0``), a release tag on a
  commit reachable from neither ``main`` nor its ``release/X.Y`` branch, a
  version not newer than the newest release on its line, and deleting or moving
  a release tag. The rules are ``release_rules``'s, the ones the pipeline's
  guards use. A refused push changes no ref, so nothing is built.
- ``post-receive`` runs the release pipeline (``common_utils_platform.release``,
  with the hook venv's interpreter) for every new
  release tag, one at a time, in a fresh clone of the repository checked out at
  the tag (full history, the ``main`` and ``release/*`` branches as
  ``origin/...``). Its lines go to the pusher as they come (``remote: release:
  [build] ok in 2.41 s``), the whole output to a log file per run, and one
  outcome line per run to ``releases.log``. The pipeline works in
  ``LOG_DIR/vX.Y.Z-<time>/`` (its ``--workdir``), removed after a release and kept
  after a failure with each step's ``logs/<step>.log``. A failed run leaves the tag; the
  output says how to retry: ``REPO/hooks/post-receive --retry vX.Y.Z`` on the
  git host, as the git user.

The devpi password is read from the file named in the configuration (readable
by the git user only; the hook refuses a file others can read), handed to the
pipeline over a pipe (``DEVPI_PASSWORD_FD``, never an environment variable), and
never printed: a line that contains it is masked before it reaches the pusher or
the log. The tagged code runs as the sandbox user (``sandbox_user``), whose
boundary `check_sandbox` proves before every release: it reads neither the
password file nor the hook's environment, and writes neither the repository,
its hooks nor the logs.

Example:
    >>> update = RefUpdate("0" * 40, "a" * 40, "refs/tags/v1.6.0rc1")
    >>> update.tag, update.created, update.deleted
    ('v1.6.0rc1', True, False)
"""

from __future__ import annotations

import configparser
import contextlib
import dataclasses
import fcntl
import os
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TextIO

from common_utils_platform import release_rules
from common_utils_platform.devsupport import GitError, git
from common_utils_platform.release_rules import ReleaseRuleError, ReleaseVersion
from common_utils_platform.sandbox import AREA_NAME, Sandbox, SandboxError, protect_process

__all__ = [
    "CONFIG_NAME",
    "LIB_DIR_NAME",
    "HookConfig",
    "HookConfigError",
    "RefUpdate",
    "check_sandbox",
    "check_updates",
    "main",
    "parse_updates",
    "post_receive",
    "post_receive_command",
    "pre_receive_command",
    "run_release_for_tag",
]

CONFIG_NAME = "release-hook.ini"
LIB_DIR_NAME = "common_utils_release"
SECTION = "release"
_SHA_RE = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
_MASK = "********"


class HookConfigError(Exception):
    """The hook's configuration or password file is unusable (one line, no secret).

    Example:
        >>> str(HookConfigError("password file /x is missing"))
        'password file /x is missing'
    """


@dataclasses.dataclass(frozen=True)
class HookConfig:
    """What the hooks need to run the pipeline; stored as ``release-hook.ini``.

    No password: ``password_file`` names a file only the git user can read.

    Example:
        >>> config = HookConfig(devpi_url="http://127.0.0.1:3141", password_file=Path("/pw"))
        >>> config.devpi_user, config.release_index, "verify_pytest_args" in config.to_ini()
        ('ci-release', 'team/release', True)
    """

    devpi_url: str
    password_file: Path
    devpi_user: str = "ci-release"
    staging_index: str = "team/staging"
    release_index: str = "team/release"
    python: str = sys.executable
    log_dir: Path | None = None
    verify_pytest_args: str = ""
    skip_tests: bool = False
    timeout: float = 3600.0
    sandbox_user: str = ""
    no_sandbox: bool = False

    def to_ini(self) -> str:
        """Return the configuration as the text of ``release-hook.ini``."""
        lines = [
            "# Written by common-utils-install-hooks; re-run it to change a value.",
            "# No password here: password_file names a file only the git user can read.",
            f"[{SECTION}]",
        ]
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is None:
                value = ""
            elif isinstance(value, bool):
                value = "true" if value else "false"
            lines.append(f"{field.name} = {value}")
        return "\n".join(lines) + "\n"

    @classmethod
    def load(cls, path: Path) -> HookConfig:
        """Read ``release-hook.ini``.

        Raises:
            HookConfigError: The file is missing or a value is malformed.
        """
        parser = configparser.ConfigParser(interpolation=None)
        try:
            with path.open(encoding="utf-8") as fh:
                parser.read_file(fh)
        except (OSError, configparser.Error) as ex:
            raise HookConfigError(f"cannot read the hook configuration {path}: {ex}") from None
        if not parser.has_section(SECTION):
            raise HookConfigError(f"{path} has no [{SECTION}] section")
        values = dict(parser.items(SECTION))
        try:
            return cls(
                devpi_url=values["devpi_url"],
                password_file=Path(values["password_file"]),
                devpi_user=values.get("devpi_user", cls.devpi_user),
                staging_index=values.get("staging_index", cls.staging_index),
                release_index=values.get("release_index", cls.release_index),
                python=values.get("python", "") or sys.executable,
                log_dir=Path(values["log_dir"]) if values.get("log_dir") else None,
                verify_pytest_args=values.get("verify_pytest_args", ""),
                skip_tests=parser.getboolean(SECTION, "skip_tests", fallback=False),
                timeout=parser.getfloat(SECTION, "timeout", fallback=cls.timeout),
                sandbox_user=values.get("sandbox_user", ""),
                no_sandbox=parser.getboolean(SECTION, "no_sandbox", fallback=False),
            )
        except (KeyError, ValueError) as ex:
            raise HookConfigError(f"{path}: missing or malformed value {ex}") from None

    def read_password(self) -> str:
        """Return the devpi password from ``password_file``.

        Raises:
            HookConfigError: The file is missing, empty, or readable by others.
        """
        return read_password_file(self.password_file)


def read_password_file(path: Path) -> str:
    """Read a password file that only its owner may read.

    Raises:
        HookConfigError: One line naming the file and what is wrong with it.

    Example:
        >>> read_password_file(Path("/nonexistent/pw"))
        Traceback (most recent call last):
        ...
        common_utils_platform.release_hooks.HookConfigError: password file /nonexistent/pw does ...
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        raise HookConfigError(f"password file {path} does not exist") from None
    except OSError as ex:
        raise HookConfigError(f"password file {path}: {ex.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise HookConfigError(f"password file {path} is not a regular file")
    if info.st_mode & 0o077:
        raise HookConfigError(
            f"password file {path} is readable by others (mode {stat.S_IMODE(info.st_mode):o}): "
            f"chmod 600 {path}"
        )
    if info.st_uid != os.geteuid():
        raise HookConfigError(f"password file {path} belongs to another user than the git user")
    try:
        password = path.read_text(encoding="utf-8").strip()
    except OSError as ex:
        raise HookConfigError(f"password file {path}: {ex.strerror}") from None
    if not password:
        raise HookConfigError(f"password file {path} is empty")
    return password


@dataclasses.dataclass(frozen=True)
class RefUpdate:
    """One line of a pre-/post-receive hook's input: ``<old> <new> <ref>``.

    Example:
        >>> RefUpdate("a" * 40, "0" * 40, "refs/heads/main").deleted
        True
    """

    old: str
    new: str
    ref: str

    @property
    def created(self) -> bool:
        """The ref did not exist before this push."""
        return set(self.old) == {"0"}

    @property
    def deleted(self) -> bool:
        """The push deletes the ref."""
        return set(self.new) == {"0"}

    @property
    def tag(self) -> str | None:
        """The tag name for ``refs/tags/...``, else ``None``."""
        return self.ref[len("refs/tags/") :] if self.ref.startswith("refs/tags/") else None

    @property
    def branch(self) -> str | None:
        """The branch name for ``refs/heads/...``, else ``None``."""
        return self.ref[len("refs/heads/") :] if self.ref.startswith("refs/heads/") else None


def parse_updates(lines: Iterable[str]) -> list[RefUpdate]:
    r"""Parse a hook's standard input.

    Example:
        >>> parse_updates([f"{'0' * 40} {'b' * 40} refs/tags/v1.0.0\n", "\n"])[0].tag
        'v1.0.0'
    """
    updates = []
    for line in lines:
        parts = line.split()
        if len(parts) == 3 and _SHA_RE.match(parts[0]) and _SHA_RE.match(parts[1]):
            updates.append(RefUpdate(*parts))
    return updates


def check_updates(git_dir: Path, updates: Sequence[RefUpdate]) -> list[str]:
    """Apply the release rules to a push; return one refusal line per offending ref.

    Branch tips are taken as they will be after the push (a push of ``main``
    together with a tag on its new commit is fine), but a ``release/X.Y``
    branch counts only if it existed before the push: whoever may push a new
    branch could otherwise create ``release/9.9`` on an unreviewed commit and
    tag it in the same push. Which accounts may create ``release/*`` branches
    and ``v*`` tags is the git host's ref permission (docs/release.md). Tags
    that do not look like versions (``demo-2024``) and branches pass untouched.
    An empty list accepts.
    """
    branches = release_rules.git_branches(git_dir)
    created: dict[str, str] = {}
    for update in updates:
        name = update.branch
        if name is None or (name != release_rules.MAIN_BRANCH and not _is_release_branch(name)):
            continue
        if update.deleted:
            branches.pop(name, None)
        elif name != release_rules.MAIN_BRANCH and name not in branches:
            created[name] = update.new  # NOTE: never trusted for a tag in this push
        else:
            branches[name] = update.new
    existing = release_rules.git_release_tags(git_dir)
    is_ancestor = release_rules.git_is_ancestor(git_dir)
    refusals = []
    for update in updates:
        tag = update.tag
        if tag is None:
            continue
        release = release_rules.is_release_tag(tag)
        if not release and not release_rules.looks_like_version_tag(tag):
            continue
        if update.deleted:
            if release:
                refusals.append(
                    f"refused {tag}: a release tag is never deleted (a bad release is fixed "
                    "forward with a new patch version; see docs/release.md)"
                )
            continue
        if not update.created:
            if release:
                refusals.append(
                    f"refused {tag}: a release tag never moves (it already names another "
                    "commit); tag the fix with a new version"
                )
            else:
                refusals.append(_grammar_refusal(tag))
            continue
        commit = release_rules.git_commit(git_dir, update.new)
        if commit is None:
            refusals.append(f"refused {tag}: it does not point to a commit")
            continue
        try:
            version = release_rules.check_new_tag(
                tag,
                commit,
                branches=branches,
                existing_tags=existing,
                is_ancestor=is_ancestor,
            )
        except ReleaseRuleError as ex:
            reason = _created_branch_reason(git_dir, tag, commit, created) or str(ex)
            refusals.append(f"refused {tag}: {reason}")
            continue
        existing.append(version.tag)
    return refusals


def _created_branch_reason(git_dir: Path, tag: str, commit: str, created: Mapping[str, str]) -> str:
    """Say so when a refused tag sits on the release branch this very push creates."""
    if not release_rules.is_release_tag(tag):
        return ""
    major, minor = release_rules.parse_tag(tag).line
    own = f"release/{major}.{minor}"
    if own not in created or not release_rules.git_is_ancestor(git_dir)(commit, created[own]):
        return ""
    return (
        f"{own} is created by this push: a release tag goes only on a release branch that "
        f"existed before the push (push {own} alone first, then the tag; a new line starts "
        "with its vX.Y.0 on main)"
    )


def _is_release_branch(name: str) -> bool:
    return release_rules.branch_line(name) is not None


def _grammar_refusal(tag: str) -> str:
    try:
        release_rules.parse_tag(tag)
    except ReleaseRuleError as ex:
        return f"refused {tag}: {ex}"
    return f"refused {tag}: not a release tag"


def pre_receive(git_dir: Path, stdin: TextIO, err: TextIO) -> int:
    """Run the pre-receive checks; print refusals to ``err``; return the exit code."""
    updates = parse_updates(stdin)
    try:
        refusals = check_updates(git_dir, updates)
    except (HookConfigError, OSError, subprocess.SubprocessError) as ex:
        # Fail closed: a push whose tags cannot be checked is not accepted.
        print(f"refused: the release rules could not be checked: {ex}", file=err)
        return 1
    for line in refusals:
        print(line, file=err)
    if refusals:
        print("nothing was updated and nothing is built; see docs/release.md", file=err)
        return 1
    return 0


# --------------------------------------------------------------------------- post-receive


class _Sink:
    """Write lines to the pusher (while it listens) and to the run's log file."""

    def __init__(self, out: TextIO, log: TextIO, secret: str) -> None:
        self.out: TextIO | None = out
        self.log = log
        self.secret = secret

    def line(self, text: str) -> None:
        text = text.rstrip("\n")
        if self.secret and self.secret in text:
            text = text.replace(self.secret, _MASK)
        self.log.write(text + "\n")
        self.log.flush()
        if self.out is None:
            return
        try:
            self.out.write(text + "\n")
            self.out.flush()
        except (BrokenPipeError, OSError, ValueError):
            # The pusher went away (Ctrl-C, lost connection): the release goes on, logged.
            self.out = None


def _clean_env() -> dict[str, str]:
    """The hook's environment without git's ``GIT_*`` variables (they point into the bare repo)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}


@contextlib.contextmanager
def _release_lock(log_dir: Path) -> Iterator[None]:
    """One release at a time per repository (two pushes of tags wait for each other)."""
    with (log_dir / ".release.lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def retry_command(git_dir: Path, tag: str) -> str:
    """Return the command that re-runs the release of ``tag`` on the git host.

    Example:
        >>> retry_command(Path("/srv/git/common_utils.git"), "v1.4.0")
        '/srv/git/common_utils.git/hooks/post-receive --retry v1.4.0'
    """
    return f"{shlex.quote(str(git_dir / 'hooks' / 'post-receive'))} --retry {tag}"


def _utc_stamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def run_release_for_tag(
    git_dir: Path, config: HookConfig, tag: str, commit: str, out: TextIO
) -> int:
    """Run the pipeline for ``tag`` in a fresh clone; stream and log; return its exit code."""
    log_dir = config.log_dir or git_dir / "release-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    run_log = log_dir / f"{tag}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.log"
    workdir = run_log.with_suffix("")  # the pipeline's --workdir: kept when the run fails
    pusher = os.environ.get("GL_USERNAME") or os.environ.get("REMOTE_USER") or "-"
    started = time.monotonic()

    def outcome(result: str) -> None:
        with (log_dir / "releases.log").open("a", encoding="utf-8") as fh:
            fh.write(
                f"{_utc_stamp()} {tag} {commit[:12]} {result} "
                f"{time.monotonic() - started:.1f}s log={run_log.name} pusher={pusher}\n"
            )

    try:
        sandbox = check_sandbox(git_dir, config)
        password = config.read_password()
    except HookConfigError as ex:
        _say(out, f"release-hook: {tag}: not released: {ex}")
        _say(out, f"release-hook: fix it on the git host, then run: {retry_command(git_dir, tag)}")
        with run_log.open("w", encoding="utf-8") as fh:
            fh.write(f"{ex}\n")
        outcome("failed exit=2 (hook configuration)")
        return 2
    with run_log.open("w", encoding="utf-8") as log, _release_lock(log_dir):
        sink = _Sink(out, log, password)
        sink.line(f"release-hook: {tag} ({commit[:12]}): running the release pipeline")
        code = _run_pipeline(git_dir, config, tag, password, sink, workdir)
        took = time.monotonic() - started
        if code == 0:
            _remove_workdir(workdir, sandbox)
            sink.line(f"release-hook: {tag} done in {took:.1f} s (log: {run_log})")
            outcome("ok")
        else:
            sink.line(
                f"release-hook: {tag} FAILED (exit {code}) after {took:.1f} s; the tag stays and "
                f"{config.release_index} holds nothing new for it"
            )
            sink.line(
                "release-hook: fix the cause (see the lines above and docs/release.md), then "
                f"retry on the git host as the git user: {retry_command(git_dir, tag)}"
            )
            sink.line(f"release-hook: log: {run_log}")
            if workdir.is_dir():
                sink.line(f"release-hook: kept for debugging: {workdir} (logs/<step>.log)")
            outcome(f"failed exit={code}")
    return code


def _remove_workdir(workdir: Path, sandbox: Sandbox | None) -> None:
    """Remove a successful run's work directory, the sandbox user's area (its files) first."""
    if sandbox is not None and (workdir / AREA_NAME).is_dir():
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            sandbox.run_plain(["/bin/rm", "-rf", "--", str(workdir / AREA_NAME)], timeout=300)
    shutil.rmtree(workdir, ignore_errors=True)


def check_sandbox(git_dir: Path, config: HookConfig) -> Sandbox | None:
    """Return the sandbox the tagged code runs in, once its boundary is proven.

    The sandbox user must read neither the password file nor this process's
    environment, and write neither the repository, its hooks, nor the logs; it must
    be able to enter the log directory, which holds each release's work directory. Without
    a sandbox user the hooks release only when installed with ``--no-sandbox``.

    Raises:
        HookConfigError: No sandbox configured, or its boundary does not hold.
    """
    if not config.sandbox_user:
        if config.no_sandbox:
            return None
        raise HookConfigError(
            "no sandbox user: the tagged code would run as the git user, who can read the "
            "release password; re-run common-utils-install-hooks with --sandbox-user "
            "(docs/release.md)"
        )
    try:
        sandbox = Sandbox.from_user(config.sandbox_user)
        lib = git_dir / "hooks" / LIB_DIR_NAME
        logs = config.log_dir or git_dir / "release-logs"
        # Each release's work directory goes in the log directory (or what will become it).
        entered = next(path for path in (logs, *logs.parents) if path.exists())
        sandbox.check_boundary(
            unreadable=[config.password_file],
            unwritable=[git_dir, git_dir / "hooks", lib, logs],
            reachable=[entered],
        )
    except SandboxError as ex:
        raise HookConfigError(str(ex)) from None
    return sandbox


def _say(out: TextIO, text: str) -> None:
    with contextlib.suppress(BrokenPipeError, OSError, ValueError):
        print(text, file=out, flush=True)


def _run_pipeline(
    git_dir: Path, config: HookConfig, tag: str, password: str, sink: _Sink, workdir: Path
) -> int:
    env = _clean_env()
    with tempfile.TemporaryDirectory(prefix=f"release-hook-{tag}-") as tmp:
        clone = Path(tmp) / "src"
        try:
            git(Path(tmp), "clone", "--quiet", "--no-checkout", str(git_dir), str(clone), env=env)
            git(clone, "checkout", "--quiet", "--detach", f"refs/tags/{tag}", env=env)
        except (GitError, subprocess.TimeoutExpired) as ex:
            sink.line(f"release-hook: git clone of {tag} failed: {ex}")
            return 3
        cmd = [config.python, "-m", "common_utils_platform.release", "--checkout", str(clone),
               "--workdir", str(workdir)]  # fmt: skip
        if config.sandbox_user:
            cmd += ["--sandbox-user", config.sandbox_user]
        if config.skip_tests:
            cmd.append("--skip-tests")
        elif config.verify_pytest_args:
            cmd += ["--pytest-args", config.verify_pytest_args]
        # NOTE: the password goes over a pipe (DEVPI_PASSWORD_FD), never into an environment
        # (/proc/<pid>/environ) or an argv; the pipe holds it until the pipeline reads it.
        reader, writer = os.pipe()
        env.update(
            {
                "DEVPI_URL": config.devpi_url,
                "DEVPI_USER": config.devpi_user,
                "DEVPI_PASSWORD_FD": str(reader),
                "DEVPI_STAGING_INDEX": config.staging_index,
                "DEVPI_RELEASE_INDEX": config.release_index,
                "PYTHONUNBUFFERED": "1",
            }
        )
        try:
            proc = subprocess.Popen(
                cmd,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                cwd=tmp,
                env=env,
                start_new_session=True,
                pass_fds=(reader,),
            )
        except OSError as ex:
            os.close(writer)
            sink.line(f"release-hook: cannot start {config.python}: {ex.strerror}")
            return 2
        finally:
            os.close(reader)
        with contextlib.suppress(OSError), os.fdopen(writer, "wb") as pipe:
            pipe.write(password.encode("utf-8"))
        timed_out = threading.Event()

        def stop() -> None:
            timed_out.set()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)

        timer = threading.Timer(config.timeout, stop)
        timer.start()
        try:
            for line in proc.stdout or ():
                sink.line(line)
            code = proc.wait()
        finally:
            timer.cancel()
        if timed_out.is_set():
            sink.line(f"release-hook: the pipeline did not finish within {config.timeout:.0f} s")
            return 6
        return code


def post_receive(
    git_dir: Path, config: HookConfig, updates: Sequence[RefUpdate], out: TextIO
) -> int:
    """Release every release tag this push created, oldest version first."""
    tags: list[tuple[ReleaseVersion, str, str]] = []
    for update in updates:
        tag = update.tag
        if tag and update.created and not update.deleted and release_rules.is_release_tag(tag):
            tags.append((release_rules.parse_tag(tag), tag, update.new))
    code = 0
    for _version, tag, new in sorted(tags):
        commit = release_rules.git_commit(git_dir, new)
        if commit is None:  # pre-receive accepted only tags of commits
            raise HookConfigError(f"{tag} does not point to a commit")
        code = run_release_for_tag(git_dir, config, tag, commit, out) or code
    return code


def retry(git_dir: Path, config: HookConfig, tag: str, out: TextIO) -> int:
    """Re-run the release of an existing release tag (``post-receive --retry vX.Y.Z``)."""
    if not release_rules.is_release_tag(tag):
        _say(out, f"release-hook: {tag!r} is not a release tag (vX.Y.Z or vX.Y.ZrcN)")
        return 2
    commit = release_rules.git_commit(git_dir, f"refs/tags/{tag}")
    if commit is None:
        _say(out, f"release-hook: the repository {git_dir} has no tag {tag}")
        return 2
    return run_release_for_tag(git_dir, config, tag, commit, out)


def _git_dir() -> Path:
    """The repository the hook runs in (git runs hooks with ``$GIT_DIR`` set, or in it)."""
    configured = os.environ.get("GIT_DIR")
    if configured:
        return Path(configured).resolve()
    # ``hooks/post-receive --retry`` run by hand: the repository is the hook's parent's parent.
    return Path(sys.argv[0]).resolve().parent.parent


def main(hook: str, argv: Sequence[str] | None = None) -> int:
    """Entry point of the installed ``pre-receive`` and ``post-receive`` scripts."""
    args = list(sys.argv[1:] if argv is None else argv)
    git_dir = _git_dir()
    if hook == "pre-receive":
        return pre_receive(git_dir, sys.stdin, sys.stderr)
    # NOTE: post-receive reads the password: no other process of the git user may read
    # this one's memory (the tagged code runs as the sandbox user anyway).
    protect_process()
    config_path = git_dir / "hooks" / LIB_DIR_NAME / CONFIG_NAME
    try:
        config = HookConfig.load(config_path)
    except HookConfigError as ex:
        _say(sys.stdout, f"release-hook: not released: {ex}")
        return 2
    if args[:1] == ["--retry"] and len(args) == 2:
        return retry(git_dir, config, args[1], sys.stdout)
    if args:
        _say(sys.stdout, "usage: post-receive [--retry vX.Y.Z]   (git runs it without arguments)")
        return 2
    try:
        return post_receive(git_dir, config, parse_updates(sys.stdin), sys.stdout)
    except (HookConfigError, OSError, subprocess.SubprocessError) as ex:
        _say(sys.stdout, f"release-hook: not released: {ex}")
        return 2
    except KeyboardInterrupt:
        return 130


def pre_receive_command() -> int:
    """Run the ``pre-receive`` hook (the ``common-utils-pre-receive`` command)."""
    return main("pre-receive")


def post_receive_command() -> int:
    """Run the ``post-receive`` hook (the ``common-utils-post-receive`` command)."""
    return main("post-receive")
