"""Process, virtualenv and git helpers shared by the devpi tooling, demo, e2e tests and benchmarks.

The one internal home for what those places used to write again each: a free
loopback port, a server process that is started, polled on its health URL and
stopped by its PID, a virtualenv with a package installed into it and the
version it imports, and git with a fixed identity.

Why here: this module is part of ``common_utils_platform``, the platform team's
tools package (``pip install ./devpi``); the release pipeline, the git hooks, the
operations commands, the demo, the e2e tests and the benchmarks all import it from
the installed package, never from a path put on ``sys.path``.

Standard library only: the hooks' interpreter has the release toolchain and
nothing else.

Example:
    >>> 0 < free_port() < 65536
    True
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import venv
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

__all__ = [
    "GIT_ENV",
    "LIBRARY_PROBE",
    "REPO_ROOT",
    "GitError",
    "ServerProcess",
    "append_log",
    "clean_pip_env",
    "find_checkout",
    "free_port",
    "git",
    "make_checkout",
    "make_venv",
    "pip_install",
    "probe_library",
    "run",
    "scrub_env",
    "source_files",
    "tail",
    "twine_upload",
]


def find_checkout() -> Path | None:
    """Return the common_utils checkout the tools work on, or ``None`` outside one.

    The source tree this module is in when it runs from a checkout (``devpi/src/...``),
    else the nearest directory at or above the current one that holds both
    ``pyproject.toml`` and ``devpi/pyproject.toml`` (the installed package run in a checkout).
    """
    here = Path(__file__).resolve()
    source = [here.parents[3]] if len(here.parents) > 3 else []
    cwd = Path.cwd().resolve()
    for candidate in [*source, cwd, *cwd.parents]:
        if (candidate / "devpi" / "pyproject.toml").is_file() and (
            candidate / "pyproject.toml"
        ).is_file():
            return candidate
    return None


# The checkout the demo, the e2e tests and the benchmarks work on (they run in one); the
# current directory elsewhere (the hooks and the operations commands do not use it).
REPO_ROOT = find_checkout() or Path.cwd().resolve()
# A fixed identity and no system configuration: commits made by tests and tools
# do not depend on the machine.
GIT_ENV = {
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}
# Prints the version and the file of the common_utils an interpreter imports.
LIBRARY_PROBE = "import common_utils; print(common_utils.__version__); print(common_utils.__file__)"


# --------------------------------------------------------------------------- processes


def clean_pip_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return an environment in which pip reads no configuration at all.

    The machine's (or a developer's) pip configuration may add
    ``extra-index-url`` or ``find-links``; an install that must come from devpi
    alone drops every ``PIP_*`` variable and points ``PIP_CONFIG_FILE`` at
    ``os.devnull``.

    Example:
        >>> env = clean_pip_env({"PIP_FIND_LINKS": "/x", "PATH": "/bin"})
        >>> sorted(env)
        ['PATH', 'PIP_CONFIG_FILE', 'PIP_DISABLE_PIP_VERSION_CHECK', 'PIP_NO_INPUT']
    """
    source = os.environ if base is None else base
    env = {k: v for k, v in source.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    return env


_SECRET_NAME_RE = re.compile(
    r"PASS|TOKEN|SECRET|CREDENTIAL|KEY|AUTH|COOKIE|NETRC|SESSION|JWT", re.IGNORECASE
)
_SECRET_PREFIXES = ("DEVPI_", "TWINE_", "PIP_", "UV_", "_RELEASE_", "_DEVPI_")


def scrub_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return ``base`` (default ``os.environ``) without anything that may be a credential.

    Drops every ``DEVPI_*``, ``TWINE_*``, ``PIP_*`` and ``UV_*`` variable and every
    variable whose name mentions a password, token, secret, key, credential or
    auth (``GITHUB_TOKEN``, ``CI_JOB_TOKEN``, ``AWS_SECRET_ACCESS_KEY``,
    ``SSH_AUTH_SOCK``...). Child processes that need one credential get it added
    back explicitly; everything else (build backends, pip, the tests) runs without.

    Example:
        >>> sorted(scrub_env({"PATH": "/bin", "DEVPI_PASSWORD": "x", "GITHUB_TOKEN": "y",
        ...                   "MY_API_KEY": "z", "LANG": "C"}))
        ['LANG', 'PATH']
    """
    source = os.environ if base is None else base
    return {
        name: value
        for name, value in source.items()
        if not name.upper().startswith(_SECRET_PREFIXES) and not _SECRET_NAME_RE.search(name)
    }


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def run(
    cmd: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 900,
    log: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` to its end with text output captured; the caller checks the exit code.

    ``env=None`` inherits this process's environment. With ``log``, the command,
    its whole output and how it ended are appended to that file (also when it
    runs past ``timeout`` seconds, which raises ``subprocess.TimeoutExpired``).
    The environment is never written there: it may hold a credential.
    """
    try:
        done = subprocess.run(
            list(cmd),
            cwd=cwd,
            env=None if env is None else dict(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as ex:
        if log is not None:
            output = _text(ex.stdout) + _text(ex.stderr)
            append_log(log, cmd, cwd, output, f"killed after {timeout:.0f} s (timeout)")
        raise
    if log is not None:
        append_log(log, cmd, cwd, done.stdout + done.stderr, f"exit {done.returncode}")
    return done


def _text(data: str | bytes | None) -> str:
    if isinstance(data, bytes):
        return data.decode("utf-8", errors="replace")
    return data or ""


def append_log(log: Path, cmd: Sequence[str], cwd: Path | None, output: str, end: str) -> None:
    r"""Append one command's record to ``log``: ``$ argv`` (and where), its output, how it ended.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "logs" / "build.log"
        >>> append_log(path, ["echo", "hi"], None, "hi\n", "exit 0")
        >>> print(path.read_text(), end="")
        $ echo hi
        hi
        [exit 0]
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    where = f"   (in {cwd})" if cwd is not None else ""
    body = output if not output or output.endswith("\n") else output + "\n"
    with log.open("a", encoding="utf-8") as sink:
        sink.write(f"$ {shlex.join(str(part) for part in cmd)}{where}\n{body}[{end}]\n")


def twine_upload(
    index_url: str,
    files: Iterable[Path],
    *,
    user: str,
    password: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
    log: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Upload ``files`` with twine to the devpi index at ``index_url`` as ``user``.

    The one upload of the platform tools (the release pipeline, the demo, the
    tests and the benchmarks). The credentials go through twine's environment
    variables, never its command line; ``env=None`` starts from this process's
    environment. The caller checks the exit code (a run past ``timeout``
    seconds raises); ``log`` as for `run`.
    """
    cmd = [sys.executable, "-m", "twine", "upload", "--non-interactive", "--disable-progress-bar"]
    credentials = {"TWINE_USERNAME": user, "TWINE_PASSWORD": password}
    return run(
        [*cmd, "--repository-url", index_url, *map(str, files)],
        env={**(os.environ if env is None else env), **credentials},
        timeout=timeout,
        log=log,
    )


def tail(text: str, lines: int = 15) -> str:
    """Return the last ``lines`` lines of ``text`` (stripped), for an error message."""
    return "\n".join(text.strip().splitlines()[-lines:])


@dataclasses.dataclass
class ServerProcess:
    """A server on a loopback port: started, polled on its health URL, stopped by PID.

    Its output goes to ``log`` (stderr always, stdout unless started with
    ``stdout=False``).
    """

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def start(
        cls,
        name: str,
        command: Sequence[str],
        *,
        port: int,
        log: Path,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        stdout: bool = True,
        new_session: bool = False,
    ) -> ServerProcess:
        """Start ``command`` (which must listen on 127.0.0.1:``port``); do not wait for it."""
        with log.open("wb") as sink:
            process = subprocess.Popen(
                list(command),
                cwd=cwd,
                env=None if env is None else dict(env),
                stdout=sink if stdout else subprocess.DEVNULL,
                stderr=sink,
                start_new_session=new_session,
            )
        return cls(name, port, process, log)

    @property
    def url(self) -> str:
        """The server's base URL, ``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 12) -> str:
        """The last ``lines`` lines of the log (empty when it cannot be read)."""
        try:
            return tail(self.log.read_text(errors="replace"), lines)
        except OSError:
            return ""

    def wait_healthy(
        self, path: str = "/health", *, timeout: float = 60, interval: float = 0.1
    ) -> bool:
        """Poll ``path`` until it answers 200 (True) or the process exits (False).

        Raises:
            TimeoutError: Neither happened within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(self.url + path, timeout=2) as resp:  # noqa: S310
                    if resp.status == 200:
                        return True
            except OSError:
                pass
            time.sleep(interval)
        raise TimeoutError(f"{self.name}: no answer on {path} in {timeout:.0f} s")

    def stop(self, timeout: float = 15) -> int:
        """SIGTERM, then SIGKILL after ``timeout`` seconds; return the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        return int(self.process.returncode)


# --------------------------------------------------------------------------- virtualenvs


def make_venv(path: Path, *, with_pip: bool = False) -> Path:
    """Create a fresh virtualenv (no system site-packages) at ``path``; return its python.

    Without pip of its own, `pip_install` installs into it with this
    interpreter's pip (``pip --python``), which is quicker to create.
    """
    venv.EnvBuilder(with_pip=with_pip, clear=True, symlinks=True).create(path)
    return path / "bin" / "python"


def pip_install(
    python: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 900,
) -> subprocess.CompletedProcess[str]:
    """``pip install ARGS`` into the environment of ``python``; the caller checks the result.

    The environment's own pip when it has one, else this interpreter's with ``--python``.
    """
    has_pip = any(python.parent.parent.glob("lib/python*/site-packages/pip"))
    pip = [str(python), "-m", "pip"] if has_pip else [sys.executable, "-m", "pip"]
    target = [] if has_pip else ["--python", str(python)]
    return run([*pip, *target, "install", *args], cwd=cwd, env=env, timeout=timeout)


def probe_library(
    python: Path, *, cwd: Path, env: Mapping[str, str] | None = None
) -> tuple[str, Path]:
    """Return the version and the file of the common_utils that ``python -I`` imports.

    Raises:
        RuntimeError: It does not import, or does not print both lines.
    """
    done = run([str(python), "-I", "-c", LIBRARY_PROBE], cwd=cwd, env=env, timeout=120)
    lines = done.stdout.split()
    if done.returncode != 0 or len(lines) != 2:
        raise RuntimeError(f"common_utils does not import: {tail(done.stdout + done.stderr, 3)}")
    return lines[0], Path(lines[1])


# --------------------------------------------------------------------------- git


class GitError(subprocess.CalledProcessError):
    """git failed; the message names the command, where, and git's first words.

    Example:
        >>> str(GitError(128, ["git", "status"], "", "fatal: not a git repository", Path("/")))
        'git status failed in /: fatal: not a git repository'
    """

    def __init__(self, returncode: int, cmd: list[str], output: str, stderr: str, cwd: Path):
        super().__init__(returncode, cmd, output, stderr)
        self.cwd = cwd

    def __str__(self) -> str:
        said = (self.stderr or "").strip()[:200]
        return f"{' '.join(self.cmd)} failed in {self.cwd}: {said}"


def git(
    cwd: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
    timeout: float = 600,
) -> str:
    """Run git in ``cwd`` with `GIT_ENV`; return its stripped output.

    The one git helper of the platform tools. ``env=None`` starts from this
    process's environment with ``HOME=cwd`` (no personal configuration); a
    given ``env`` is used as it is (plus `GIT_ENV`). ``log`` as for `run`.

    Raises:
        GitError: git failed (a ``subprocess.CalledProcessError``).
    """
    base = {**os.environ, "HOME": str(cwd)} if env is None else dict(env)
    cmd = ["git", *args]
    done = run(cmd, cwd=cwd, env={**base, **GIT_ENV}, timeout=timeout, log=log)
    if done.returncode != 0:
        raise GitError(done.returncode, cmd, done.stdout, done.stderr, cwd)
    return done.stdout.strip()


def source_files(root: Path = REPO_ROOT) -> list[str]:
    """Files of ``root``'s working tree that git would commit (tracked or new, not ignored)."""
    out = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [name for name in out.splitlines() if (root / name).is_file()]


def make_checkout(dest: Path, tag: str | None = "v9.8.7", *, source: Path = REPO_ROOT) -> Path:
    """Copy ``source``'s files to ``dest`` as a fresh repository of one commit, tagged."""
    for name in source_files(source):
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / name, target)
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "snapshot")
    if tag:
        git(dest, "tag", tag)
    return dest
