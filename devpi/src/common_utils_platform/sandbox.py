"""Run the code that comes with a release tag as another, unprivileged user.

Whoever can push a release tag runs code in the release: the tagged commit's build
backend (``setup.py``), its test suite and its release notes script. That code runs
here as the **sandbox user**, a separate account with no login and no
groups, and never as the account that holds the release password:

- it cannot read the password file (mode 600, the git user's), the hooks, or
  ``/proc/<pid>/environ``/``mem`` of the release (another uid; the release
  process is also not dumpable: ``prctl(PR_SET_DUMPABLE, 0)``, see ``protect_process``);
- it cannot write the repository or its hooks directory (`Sandbox.check_boundary`
  proves both by trying, as that user, before a release runs);
- it writes only inside the sandbox area (``WORKDIR/sandbox``, its own), and what
  the release takes back from there is read without following links
  (`Sandbox.take_file`, `Sandbox.take_dir`);
- every process it leaves behind is killed when its step ends (`Sandbox.reap`).

How the switch happens: when the release runs as root, the child process sets
its uid, gid and groups itself (``subprocess`` ``user=``/``group=``/``extra_groups=``);
otherwise through ``sudo -n -u USER`` and a sudoers rule that lets the git user run
commands as the sandbox user only (docs/release.md).

Standard library only (the hooks' interpreter imports it).

Example:
    >>> Sandbox.from_user("root")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    common_utils_platform.sandbox.SandboxError: the sandbox user must be an unprivileged ...
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import json
import os
import pwd
import shutil
import stat
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

__all__ = [
    "AREA_NAME",
    "MAX_TAKEN_BYTES",
    "Sandbox",
    "SandboxError",
    "protect_process",
]

AREA_NAME = "sandbox"
MAX_TAKEN_BYTES = 256 * 1024 * 1024
_PR_SET_DUMPABLE = 4
# The probe the sandbox user runs: each path must refuse it (read / create a file), except
# the reachable ones, which it must be able to enter.
_PROBE = """
import json, os, sys
wanted = json.loads(sys.argv[1])
found = [f"cannot reach {path}" for path in wanted["reachable"] if not os.access(path, os.X_OK)]
for path in wanted["unreadable"]:
    try:
        with open(path, "rb") as fh:
            fh.read(1)
    except OSError:
        continue
    found.append(f"can read {path}")
for path in wanted["unwritable"]:
    probe = os.path.join(path, ".sandbox-probe-%d" % os.getpid())
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:
        continue
    os.close(fd)
    os.unlink(probe)
    found.append(f"can write {path}")
print(json.dumps(found))
"""


# Sent as the sandbox user: kill(-1) reaches every process of that uid but the sender.
_KILL_ALL = "import os, signal\ntry:\n    os.kill(-1, signal.SIGKILL)\nexcept OSError:\n    pass\n"


class SandboxError(Exception):
    """The sandbox cannot be set up, or its boundary does not hold (one line, no secret).

    Example:
        >>> str(SandboxError("the sandbox user 'x' does not exist"))
        "the sandbox user 'x' does not exist"
    """


def protect_process() -> bool:
    """Make this process non-dumpable: no core file, no ``/proc/<pid>/environ`` or ``mem``.

    Call it first thing in a process that will hold the release password. Other
    processes of the same uid then cannot ptrace it or read its memory or
    environment (root, with ``CAP_SYS_PTRACE``, still can). Returns whether the
    kernel accepted it (``False`` off Linux).

    Example:
        >>> protect_process() in (True, False)
        True
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


@dataclasses.dataclass(frozen=True)
class Sandbox:
    """The unprivileged account the tagged code runs as.

    Build it with `from_user`; ``user``, ``uid`` and ``gid`` name the account.

    Example:
        >>> Sandbox(user="cu-sandbox", uid=990, gid=990).user
        'cu-sandbox'
    """

    user: str
    uid: int
    gid: int

    @classmethod
    def from_user(cls, name: str) -> Sandbox:
        """Look up the sandbox account ``name``; refuse root and the current user.

        Raises:
            SandboxError: No such user, or it is root or this process's own user.
        """
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            raise SandboxError(
                f"the sandbox user {name!r} does not exist (create it: docs/release.md)"
            ) from None
        if entry.pw_uid == 0:
            raise SandboxError("the sandbox user must be an unprivileged account, not root")
        if entry.pw_uid == os.geteuid():
            raise SandboxError(
                f"the sandbox user {name!r} is the user running the release: "
                "it must be another account"
            )
        return cls(user=name, uid=entry.pw_uid, gid=entry.pw_gid)

    # ------------------------------------------------------------------ running

    def command(self, cmd: Sequence[str], env: Mapping[str, str]) -> list[str]:
        """Return the argv that runs ``cmd`` as the sandbox user (``sudo`` when not root).

        As root the argv is ``cmd`` itself (the child switches its own uid).
        """
        if os.geteuid() == 0:
            return list(cmd)
        # NOTE: sudo resets the environment; env -i sets exactly the step's (no secret in it).
        return [
            "sudo", "-n", "-u", self.user, "--", "/usr/bin/env", "-i",
            *(f"{key}={value}" for key, value in env.items()), *cmd,
        ]  # fmt: skip

    def run(
        self,
        cmd: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        timeout: float,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``cmd`` as the sandbox user to its end; then kill whatever it left behind.

        The child gets no file descriptor but its standard streams (stdin is
        ``/dev/null``). Output is captured as text; the caller checks the exit code.

        Raises:
            subprocess.TimeoutExpired: It ran past ``timeout`` seconds (it and
                everything the sandbox user runs are killed first).
        """
        as_root = os.geteuid() == 0
        proc = subprocess.Popen(
            self.command(cmd, env),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            close_fds=True,
            start_new_session=True,
            user=self.uid if as_root else None,
            group=self.gid if as_root else None,
            extra_groups=[] if as_root else None,
        )
        streams: dict[str, bytes] = {}

        def drain(name: str) -> None:
            pipe = getattr(proc, name)
            streams[name] = pipe.read()
            pipe.close()

        readers = [
            threading.Thread(target=drain, args=(n,), daemon=True) for n in ("stdout", "stderr")
        ]
        for reader in readers:
            reader.start()
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.reap()
            proc.wait()
            for reader in readers:
                reader.join(timeout=10)
            raise subprocess.TimeoutExpired(
                list(cmd), timeout, output=_text(streams.get("stdout")),
                stderr=_text(streams.get("stderr")),
            ) from None  # fmt: skip
        # NOTE: a daemon it started may still hold the pipes: reap before reading them.
        self.reap()
        for reader in readers:
            reader.join(timeout=30)
        return subprocess.CompletedProcess(
            list(cmd), code, _text(streams.get("stdout")), _text(streams.get("stderr"))
        )

    def reap(self) -> None:
        """Kill every process of the sandbox user (what a step left running).

        ``kill(-1, SIGKILL)`` sent as that user reaches exactly its processes.
        """
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            self.run_plain([sys.executable, "-I", "-c", _KILL_ALL], timeout=30)

    def run_plain(self, cmd: Sequence[str], *, timeout: float) -> subprocess.CompletedProcess[str]:
        """Run a small helper of the pipeline as the sandbox user (no reaping after it)."""
        as_root = os.geteuid() == 0
        return subprocess.run(
            self.command(cmd, {"PATH": "/usr/bin:/bin"}),
            env={"PATH": "/usr/bin:/bin"},
            cwd="/",
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            user=self.uid if as_root else None,
            group=self.gid if as_root else None,
            extra_groups=[] if as_root else None,
        )

    # ----------------------------------------------------------------- boundary

    def check_boundary(
        self,
        *,
        unreadable: Sequence[Path] = (),
        unwritable: Sequence[Path] = (),
        reachable: Sequence[Path] = (),
    ) -> None:
        """Prove, as the sandbox user, that it cannot reach the given paths.

        It must read none of ``unreadable`` (``/proc/<this pid>/environ`` is always
        among them) and create a file in none of ``unwritable``; it must be able to
        enter each directory of ``reachable`` (where the release's work directory goes).

        Raises:
            SandboxError: One line naming every path the sandbox user could reach,
                or that it could not be asked at all.
        """
        wanted = {
            "unreadable": [f"/proc/{os.getpid()}/environ", *map(str, unreadable)],
            "unwritable": [str(path) for path in unwritable],
            "reachable": [str(path) for path in reachable],
        }
        why = ""
        try:
            done = self.run_plain(
                [sys.executable, "-I", "-c", _PROBE, json.dumps(wanted)], timeout=60
            )
            why = done.stderr.strip()[-200:]
            found = json.loads(done.stdout)
        except (OSError, subprocess.SubprocessError, ValueError) as ex:
            found, why = None, why or str(getattr(ex, "strerror", "") or ex)[:200]
        if not isinstance(found, list):
            hint = "" if os.geteuid() == 0 else "; is the sudoers rule installed?"
            raise SandboxError(
                f"cannot run {sys.executable} as the sandbox user {self.user!r} "
                f"({why or 'no answer'}{hint}): the interpreter and its directories must be "
                "executable by it (docs/release.md)"
            )
        if found:
            raise SandboxError(
                f"the sandbox user {self.user!r} {', '.join(map(str, found))}: "
                "fix the owner or mode (docs/release.md)"
            )

    # -------------------------------------------------------------------- files

    def area(self, workdir: Path) -> Path:
        """Create ``workdir/sandbox``: the one directory the sandbox user may write.

        ``workdir`` becomes traversable (not listable) by others, so the sandbox
        user reaches its area and what the release gives it (the verify
        virtualenv, the interpreter), and nothing else of the workdir is writable
        to it. Needs root (``chown``); without it the area is created by the
        sandbox user itself through ``sudo``, while a POSIX ACL entry lets it (and
        no one else) write to ``workdir``; the entry is removed right after.

        Raises:
            SandboxError: The area cannot be created, or the sandbox user created
                anything else in ``workdir``.
        """
        workdir.chmod(0o711)
        path = workdir / AREA_NAME
        if os.geteuid() == 0:
            path.mkdir(mode=0o700, exist_ok=True)
            os.chown(path, self.uid, self.gid)
        else:
            # NOTE: without root nothing can chown: the sandbox user makes the area itself,
            # in a workdir only it may write to (a POSIX ACL entry) for that one mkdir.
            before = set(os.listdir(workdir))
            with _writable_by(workdir, self.uid):
                done = self.run_plain(["/bin/mkdir", "-m", "0755", str(path)], timeout=30)
            if done.returncode != 0:
                raise SandboxError(
                    f"the sandbox user cannot create {path}: {done.stderr.strip()[:200]}"
                )
            info = path.lstat()
            if (
                set(os.listdir(workdir)) != before | {AREA_NAME}
                or not stat.S_ISDIR(info.st_mode)
                or info.st_uid != self.uid
            ):
                raise SandboxError(f"the sandbox user made more than its area in {workdir}")
        return path

    def make_dir(self, path: Path) -> Path:
        """Create the directory ``path`` (in the area) owned by the sandbox user; idempotent."""
        if os.geteuid() == 0:
            path.mkdir(mode=0o755, parents=True, exist_ok=True)
            os.chown(path, self.uid, self.gid)
            return path
        done = self.run_plain(["/bin/mkdir", "-p", "-m", "0755", str(path)], timeout=30)
        if done.returncode != 0:
            raise SandboxError(
                f"the sandbox user cannot create {path}: {done.stderr.strip()[:200]}"
            )
        return path

    def give(self, source: Path, dest: Path) -> Path:
        """Copy the tree ``source`` to ``dest`` (in the area), owned by the sandbox user.

        Links are copied as links; the sandbox user can change its copy, never
        ``source``.
        """
        if os.geteuid() == 0:
            shutil.copytree(source, dest, symlinks=True)
            for root, dirs, files in os.walk(dest):
                for name in (root, *(os.path.join(root, n) for n in (*dirs, *files))):
                    os.lchown(name, self.uid, self.gid)
            return dest
        done = self.run_plain(["/bin/cp", "-a", f"{source}/.", str(dest)], timeout=600)
        if done.returncode != 0:
            raise SandboxError(
                f"the sandbox user cannot copy {source}: {done.stderr.strip()[:200]}"
            )
        return dest

    @staticmethod
    def take_file(path: Path, *, limit: int = MAX_TAKEN_BYTES) -> bytes:
        """Read a file the sandbox user wrote: a regular file, never through a link.

        Raises:
            SandboxError: It is a link, a device, a FIFO or a directory, is
                missing, or is larger than ``limit`` bytes.
        """
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as ex:
            raise SandboxError(
                f"{path.name}: not a regular file the step wrote ({ex.strerror})"
            ) from None
        with os.fdopen(fd, "rb") as fh:
            info = os.fstat(fh.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise SandboxError(f"{path.name}: not a regular file the step wrote")
            if info.st_size > limit:
                raise SandboxError(f"{path.name}: larger than {limit} bytes")
            data = fh.read(limit + 1)
        if len(data) > limit:
            raise SandboxError(f"{path.name}: larger than {limit} bytes")
        return data

    @classmethod
    def take_dir(cls, source: Path, dest: Path) -> list[Path]:
        """Copy the regular files directly in ``source`` to ``dest``; return the copies.

        Raises:
            SandboxError: ``source`` is a link or holds anything but regular files.
        """
        if source.is_symlink() or not source.is_dir():
            raise SandboxError(f"{source.name}: not a directory the step wrote")
        dest.mkdir(parents=True, exist_ok=True)
        copies = []
        for entry in sorted(os.scandir(source), key=lambda e: e.name):
            target = dest / entry.name
            target.write_bytes(cls.take_file(Path(entry.path)))
            copies.append(target)
        return copies


_ACL_XATTR = "system.posix_acl_access"


@contextlib.contextmanager
def _writable_by(directory: Path, uid: int) -> Iterator[None]:
    """Let ``uid`` (only) create entries in ``directory`` (mode 0711) for the block."""
    mode = stat.S_IMODE(directory.stat().st_mode)
    # Entries (tag, perm, id) of a POSIX ACL: owner, uid -wx, owning group, mask -wx, other.
    entries = [
        (0x01, (mode >> 6) & 7, 0xFFFFFFFF),
        (0x02, 3, uid),
        (0x04, (mode >> 3) & 7, 0xFFFFFFFF),
        (0x10, 3 | ((mode >> 3) & 7), 0xFFFFFFFF),
        (0x20, mode & 7, 0xFFFFFFFF),
    ]
    acl = struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *entry) for entry in entries)
    try:
        os.setxattr(directory, _ACL_XATTR, acl)
    except OSError as ex:
        raise SandboxError(
            f"cannot let the sandbox user create its area in {directory} ({ex.strerror}): "
            "without root the workdir's file system needs POSIX ACLs"
        ) from None
    try:
        yield
    finally:
        os.removexattr(directory, _ACL_XATTR)
        os.chmod(directory, mode)  # the ACL's mask had replaced the group bits


def _text(data: bytes | None) -> str:
    return (data or b"").decode("utf-8", errors="replace")
