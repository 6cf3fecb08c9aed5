"""The release pipeline's steps: their exit codes, their logs, and how they run processes.

Every step of ``common-utils-release`` writes the whole output of every process
it runs (and how the step ended) to ``WORKDIR/logs/<step>.log``; a failed step's
one line on stderr names that file. Processes are started through `Step.run`
(trusted tools: git, pip, twine) or `run_untrusted_step` (code that comes with
the tag: the build backend, the test suite, the release notes script), both
with an environment the caller built from `private_env`: no credential of the
person or CI user running the release reaches them.

Example:
    >>> ex = ReleaseError("working tree is not clean", ExitCode.GUARD)
    >>> ex.code, str(ex), ex.log
    (<ExitCode.GUARD: 3>, 'working tree is not clean', None)
"""

from __future__ import annotations

import dataclasses
import enum
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from common_utils_platform.devsupport import (
    GitError,
    append_log,
    clean_pip_env,
    git,
    run,
    scrub_env,
    tail,
)
from common_utils_platform.sandbox import Sandbox, SandboxError

__all__ = [
    "ExitCode",
    "ReleaseError",
    "Reporter",
    "Step",
    "private_env",
    "run_untrusted_step",
    "take_back",
    "untrusted_workspace",
]


class ExitCode(enum.IntEnum):
    """Exit codes of the release command, one per kind of failure.

    Example:
        >>> int(ExitCode.GUARD), int(ExitCode.TAKEN)
        (3, 7)
    """

    OK = 0
    USAGE = 2
    GUARD = 3
    BUILD = 4
    SERVER = 5
    VERIFY = 6
    TAKEN = 7


class ReleaseError(Exception):
    """Stop the pipeline with a one-line message and an exit code.

    Args:
        message: What went wrong and what to do (never a secret).
        code: The ``ExitCode``.
        log: The failed step's log file (set by the step it happened in).

    Example:
        >>> ex = ReleaseError("working tree is not clean", ExitCode.GUARD)
        >>> ex.code, str(ex)
        (<ExitCode.GUARD: 3>, 'working tree is not clean')
    """

    def __init__(self, message: str, code: ExitCode, *, log: Path | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.log = log


@dataclasses.dataclass
class Step:
    """One step of a run: its name, its log file, its notes and its kind of failure.

    Example:
        >>> step = Step("build", Path("/tmp/x/logs/build.log"), ExitCode.BUILD)
        >>> step.fail("python -m build failed").log
        PosixPath('/tmp/x/logs/build.log')
    """

    name: str
    log: Path
    code: ExitCode
    notes: list[str] = dataclasses.field(default_factory=list)
    #: The sandbox user and its area (``WORKDIR/sandbox``) when the run has one.
    sandbox: Sandbox | None = None
    area: Path | None = None

    def fail(self, message: str, code: ExitCode | None = None) -> ReleaseError:
        """Return the error that stops the run in this step (the caller raises it)."""
        return ReleaseError(message, code or self.code, log=self.log)

    def run(
        self,
        cmd: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path | None = None,
        timeout: float = 900,
    ) -> subprocess.CompletedProcess[str]:
        """Run a trusted tool (pip, twine, an interpreter probe); its output goes to the log.

        Raises:
            ReleaseError: It ran past ``timeout`` seconds (the step's code).
        """
        try:
            return run(cmd, cwd=cwd, env=env, timeout=timeout, log=self.log)
        except subprocess.TimeoutExpired:
            raise self.fail(f"{Path(cmd[0]).name} did not finish within {timeout:.0f} s") from None

    def git(self, cwd: Path, *args: str, env: Mapping[str, str]) -> str:
        """Run git in ``cwd``; return its output.

        Raises:
            ReleaseError: ``GUARD`` when git fails.
        """
        try:
            return git(cwd, *args, env=env, log=self.log)
        except GitError as ex:
            raise self.fail(str(ex), ExitCode.GUARD) from None
        except subprocess.TimeoutExpired:
            raise self.fail(f"git {args[0]} did not finish in {cwd}", ExitCode.GUARD) from None

    def tail(self, done: subprocess.CompletedProcess[str], lines: int = 15) -> str:
        """The last ``lines`` lines of a process's output (the whole is in the log)."""
        return tail((done.stdout or "") + (done.stderr or ""), lines)


def run_untrusted_step(
    step: Step,
    cmd: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
) -> subprocess.CompletedProcess[str]:
    """Run code that came with the tag: the build backend, the test suite, the notes script.

    The seam for running it isolated: every untrusted process of the pipeline is
    started here and nowhere else, so a sandbox (another user, no credential on
    any file descriptor) is added in this one function. ``env`` must come from
    `private_env`: no credential variable. Output goes to the step's log.

    Raises:
        subprocess.TimeoutExpired: It ran past ``timeout`` seconds (logged first);
            the caller says what that means for its step.
        ValueError: ``env`` holds a variable named like a credential.
    """
    leaked = sorted(set(env) - set(scrub_env(env)) - _ALLOWED_IN_PRIVATE_ENV)
    if leaked:
        raise ValueError(f"an untrusted step must not get {', '.join(leaked)}")
    if step.sandbox is None or step.area is None:
        return run(cmd, cwd=cwd, env=env, timeout=timeout, log=step.log)
    # The sandbox user's own HOME in its area: the workdir's is not writable to it.
    home = _untrusted_dir(step, step.area / "home", "home")
    boxed = {**env, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}
    try:
        done = step.sandbox.run(cmd, cwd=cwd, env=boxed, timeout=timeout)
    except subprocess.TimeoutExpired as ex:
        output = "".join(
            part.decode("utf-8", "replace") if isinstance(part, bytes) else part or ""
            for part in (ex.output, ex.stderr)
        )
        append_log(step.log, cmd, cwd, output, f"killed after {timeout:.0f} s (timeout)")
        raise
    append_log(
        step.log, cmd, cwd, done.stdout + done.stderr,
        f"exit {done.returncode} (as the sandbox user {step.sandbox.user})",
    )  # fmt: skip
    return done


def untrusted_workspace(step: Step, clone: Path, out: Path, name: str) -> tuple[Path, Path]:
    """Return the tree the tagged code runs on and the directory it writes, for step ``name``.

    Without a sandbox: ``clone`` and ``out`` (made). With one: a copy of ``clone``
    (``NAME-src``) and a directory ``NAME``, both the sandbox user's, in its area;
    what it writes comes back to ``out`` through `take_back`.
    """
    return _untrusted_copy(step, clone, f"{name}-src"), _untrusted_dir(step, out, name)


def _untrusted_copy(step: Step, tree: Path, name: str) -> Path:
    """Return the tree an untrusted step may change: ``tree``, or its copy in the sandbox area.

    The trusted clone is never handed to the sandbox user: its ``.git/config``
    is read by the pipeline's own git afterwards.
    """
    if step.sandbox is None or step.area is None:
        return tree
    target = step.area / name
    if not target.exists():
        try:
            step.sandbox.give(tree, target)
        except (OSError, SandboxError) as ex:
            raise step.fail(f"cannot give {tree.name} to the sandbox: {ex}") from None
    return target


def _untrusted_dir(step: Step, path: Path, name: str) -> Path:
    """Return the directory an untrusted step writes: ``path``, or ``name`` in the sandbox area."""
    if step.sandbox is None or step.area is None:
        path.mkdir(parents=True, exist_ok=True)
        return path
    target = step.area / name
    try:
        step.sandbox.make_dir(target)
    except (OSError, SandboxError) as ex:
        raise step.fail(f"cannot make {name} in the sandbox: {ex}") from None
    return target


def take_back(step: Step, produced: Path, dest: Path) -> list[Path]:
    """Copy what an untrusted step wrote into ``produced`` to ``dest``, regular files only.

    Without a sandbox ``produced`` is ``dest`` and nothing is copied. With one,
    a link, a FIFO or a device among them stops the step (the sandbox user
    could point a link at a file only the pipeline may read).
    """
    if produced == dest:
        return sorted(p for p in dest.iterdir() if p.is_file()) if dest.is_dir() else [dest]
    try:
        if produced.is_dir() and not produced.is_symlink():
            return Sandbox.take_dir(produced, dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(Sandbox.take_file(produced))
    except SandboxError as ex:
        raise step.fail(f"the step's output is refused: {ex}") from None
    return [dest]


# What private_env itself sets (pip's configuration switches), and the verify plugin's paths.
_ALLOWED_IN_PRIVATE_ENV = frozenset(
    {
        "NETRC",
        "PIP_CONFIG_FILE",
        "PIP_DISABLE_PIP_VERSION_CHECK",
        "PIP_NO_INPUT",
        "PIP_KEYRING_PROVIDER",
        "PIP_INDEX_URL",
        "_RELEASE_VERIFY_LOG",
        "_RELEASE_VERIFY_PREFIX",
        "_RELEASE_VERIFY_IMPORT",
    }
)


def private_env(workdir: Path, *, pip: bool = False) -> dict[str, str]:
    """Return a scrubbed environment with a private, empty ``HOME``.

    No credential variable, no ``~/.netrc``, ``~/.pypirc`` or pip/twine config
    of the person or CI user running the release; ``pip=True`` also disables
    pip's configuration files and keyring lookups.

    Example:
        >>> import tempfile
        >>> env = private_env(Path(tempfile.mkdtemp()), pip=True)
        >>> env["PIP_KEYRING_PROVIDER"], env["NETRC"]
        ('disabled', '/dev/null')
    """
    home = workdir / "home"
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    env = scrub_env()
    if pip:
        env = clean_pip_env(env)
        env["PIP_KEYRING_PROVIDER"] = "disabled"
    env.update({"HOME": str(home), "NETRC": "/dev/null", "XDG_CONFIG_HOME": str(home / ".config")})
    return env


class Reporter:
    """Print each step's start and end; keep each step's log in ``logs``."""

    def __init__(
        self, out: TextIO, logs: Path, *, sandbox: Sandbox | None = None, area: Path | None = None
    ) -> None:
        self.out = out
        self.logs = logs
        self.timings: dict[str, float] = {}
        self.sandbox = sandbox
        self.area = area

    def say(self, text: str) -> None:
        """Print one progress line."""
        print(f"release: {text}", file=self.out, flush=True)

    @contextmanager
    def step(self, name: str, doing: str, code: ExitCode) -> Iterator[Step]:
        """Run the body as step ``name``: a failure there names the step's log."""
        self.logs.mkdir(parents=True, exist_ok=True)
        step = Step(name, self.logs / f"{name}.log", code, sandbox=self.sandbox, area=self.area)
        with step.log.open("a", encoding="utf-8") as log:
            log.write(f"# step {name}: {doing}\n")
        self.say(f"[{name}] {doing}")
        started = time.perf_counter()
        try:
            yield step
        except BaseException as ex:
            took = time.perf_counter() - started
            self.timings[name] = took
            if isinstance(ex, ReleaseError) and ex.log is None:
                ex.log = step.log
            with step.log.open("a", encoding="utf-8") as log:
                log.write(f"# step {name} FAILED after {took:.2f} s: {ex}\n")
            self.say(f"[{name}] FAILED after {took:.2f} s")
            raise
        took = time.perf_counter() - started
        self.timings[name] = took
        suffix = f": {'; '.join(step.notes)}" if step.notes else ""
        with step.log.open("a", encoding="utf-8") as log:
            log.write(f"# step {name} ok in {took:.2f} s{suffix}\n")
        self.say(f"[{name}] ok in {took:.2f} s{suffix}")
