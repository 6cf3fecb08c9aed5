"""A sandbox user for the release tests, able to run this test run's Python.

The release runs the tagged code as an unprivileged user, who must be able to execute the
interpreter (docs/release.md, "Trust boundary"). On a git host that is the system's Python;
here the tests run on an interpreter that may sit under root's home (pyenv's, mode 0700).
So the tests do what the host's setup does, for their own user only and for the time of the
test: a POSIX ACL entry granting that user search (``x``, not read) on each directory above
the interpreter it could not pass, removed afterwards.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import stat
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

_ACL_XATTR = "system.posix_acl_access"
_ACL_VERSION = 2
_USER_OBJ, _USER, _GROUP_OBJ, _GROUP, _MASK, _OTHER = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
_NO_ID = 0xFFFFFFFF
_SEARCH = 0o1


def can_create_users() -> bool:
    """Whether this process may make the sandbox user (root with ``useradd``)."""
    return os.geteuid() == 0 and shutil.which("useradd") is not None


def fresh_user_name() -> str:
    """A name for a new sandbox account (``cu-sbx-`` and six random hex digits)."""
    return f"cu-sbx-{secrets.token_hex(3)}"


@contextlib.contextmanager
def sandbox_user() -> Iterator[str]:
    """A fresh unprivileged account that can run this Python; removed at the end."""
    name = fresh_user_name()
    try:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            check=True,
            capture_output=True,
        )
        with may_run_this_python(name):
            yield name
    finally:
        remove_user(name)


def remove_user(name: str) -> None:
    """Delete the account ``name`` if it exists."""
    subprocess.run(["userdel", name], check=False, capture_output=True)


@contextlib.contextmanager
def may_run_this_python(name: str) -> Iterator[None]:
    """Let the existing account ``name`` run this Python until the end of the block.

    For an account made elsewhere (docs/release.md's ``useradd`` line, run as written).
    """
    with _may_pass_to_this_python(pwd.getpwnam(name).pw_uid):
        yield


def _blocking_directories(uid: int) -> list[Path]:
    """Directories above this Python (link and target) that ``uid`` may not search."""
    starts = {Path(sys.executable).parent, Path(sys.executable).resolve().parent}
    starts |= {Path(sys.prefix), Path(sys.base_prefix).resolve()}
    seen: dict[Path, None] = {}
    for start in starts:
        for directory in (start, *start.parents):
            mode = directory.stat()
            if not mode.st_mode & _SEARCH and mode.st_uid != uid:
                seen[directory] = None
    return list(seen)


def _acl_with_search_for(mode: int, existing: bytes | None, uid: int) -> bytes:
    """The access ACL of a directory of ``mode`` (and ``existing`` ACL) plus ``uid: --x``."""
    entries: list[tuple[int, int, int]] = []
    if existing:
        body = existing[4:]
        entries = [struct.unpack_from("<HHI", body, i) for i in range(0, len(body), 8)]
    else:
        entries = [
            (_USER_OBJ, (mode >> 6) & 7, _NO_ID),
            (_GROUP_OBJ, (mode >> 3) & 7, _NO_ID),
            (_OTHER, mode & 7, _NO_ID),
        ]
    entries = [e for e in entries if not (e[0] == _USER and e[2] == uid) and e[0] != _MASK]
    entries.append((_USER, _SEARCH, uid))
    group_class = 0
    for tag, perm, _ in entries:
        if tag in (_USER, _GROUP_OBJ, _GROUP):
            group_class |= perm
    entries.append((_MASK, group_class, _NO_ID))
    entries.sort(key=lambda e: (e[0], e[2]))
    return struct.pack("<I", _ACL_VERSION) + b"".join(struct.pack("<HHI", *e) for e in entries)


@contextlib.contextmanager
def _may_pass_to_this_python(uid: int) -> Iterator[None]:
    undo: list[tuple[Path, int, bytes | None]] = []
    try:
        for directory in _blocking_directories(uid):
            mode = stat.S_IMODE(directory.stat().st_mode)
            try:
                existing: bytes | None = os.getxattr(directory, _ACL_XATTR)
            except OSError:
                existing = None
            os.setxattr(directory, _ACL_XATTR, _acl_with_search_for(mode, existing, uid))
            undo.append((directory, mode, existing))
        yield
    finally:
        for directory, mode, existing in reversed(undo):
            if existing is None:
                with contextlib.suppress(OSError):
                    os.removexattr(directory, _ACL_XATTR)
            else:
                os.setxattr(directory, _ACL_XATTR, existing)
            os.chmod(directory, mode)
