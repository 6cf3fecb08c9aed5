"""The release sandbox (common_utils_platform.sandbox): tagged code runs as another user.

Real processes and a real account: each test module creates its own unprivileged user
with ``useradd`` (so these tests need root, as the release host's hook does to switch
users without sudo) and removes it at the end. An e2e test: the interpreter must be one
the sandbox user can execute (tests/e2e/sandbox_support.py).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from common_utils_platform.sandbox import Sandbox, SandboxError, protect_process

from .sandbox_support import can_create_users, sandbox_user

pytestmark = pytest.mark.skipif(
    not can_create_users(),
    reason="needs root and useradd to create the sandbox user",
)

SECRET_VAR = "DEVPI_PASSWORD"


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with sandbox_user() as name:
        yield Sandbox.from_user(name)


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A release workdir as the pipeline makes one: directly under the system's temp dir.

    (pytest's ``workdir`` sits below a directory only root may enter.)
    """
    path = Path(tempfile.mkdtemp(prefix="release-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _python(code: str) -> list[str]:
    return [sys.executable, "-I", "-c", code]


def _holder(
    env_secret: str, *, protect: bool, user: Sandbox | None = None
) -> subprocess.Popen[str]:
    """A process holding a secret in its environment, waiting on stdin; ready when it says so."""
    code = (
        "import sys\n"
        + (
            "from common_utils_platform.sandbox import protect_process\nprotect_process()\n"
            if protect
            else ""
        )
        + "print('ready', flush=True)\nsys.stdin.read()\n"
    )
    as_user = {} if user is None else {"user": user.uid, "group": user.gid, "extra_groups": []}
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": os.pathsep.join(sys.path), SECRET_VAR: env_secret}
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        **as_user,  # type: ignore[arg-type]
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


def _stop(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(timeout=30)


READ_ENVIRON = (
    "import sys\ntry:\n    print(open(sys.argv[1], 'rb').read().decode(errors='replace'))\n"
    "except OSError as ex:\n    print('refused', ex.errno)\n"
)


class TestRunsAsAnotherUser:
    def test_the_step_runs_as_the_sandbox_user_without_groups(
        self, box: Sandbox, workdir: Path
    ) -> None:
        done = box.run(
            _python("import os; print(os.getuid(), os.geteuid(), os.getgid(), os.getgroups())"),
            cwd=Path("/"),
            env={"PATH": "/usr/bin:/bin"},
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"{box.uid} {box.uid} {box.gid} []"

    def test_the_step_cannot_read_the_environment_of_the_process_holding_the_secret(
        self, box: Sandbox
    ) -> None:
        """The attack: /proc/<parent>/environ. As the same user it works (the control)."""
        secret = "s3cret-" + secrets.token_hex(8)
        holder = _holder(secret, protect=False)
        try:
            path = f"/proc/{holder.pid}/environ"
            same_user = subprocess.run(
                [*_python(READ_ENVIRON), path], capture_output=True, text=True, check=True
            )
            sandboxed = box.run([*_python(READ_ENVIRON), path], cwd=Path("/"), env={}, timeout=60)
        finally:
            _stop(holder)
        assert secret in same_user.stdout  # the control: same uid reads it
        assert secret not in sandboxed.stdout + sandboxed.stderr
        assert sandboxed.stdout.startswith("refused 13")

    def test_protect_process_hides_the_environment_from_the_same_user(self, box: Sandbox) -> None:
        """PR_SET_DUMPABLE 0: another process of the same (non-root) uid cannot read it."""
        secret = "s3cret-" + secrets.token_hex(8)
        results = {}
        for protect in (False, True):
            holder = _holder(secret, protect=protect, user=box)
            try:
                results[protect] = box.run(
                    [*_python(READ_ENVIRON), f"/proc/{holder.pid}/environ"],
                    cwd=Path("/"),
                    env={},
                    timeout=60,
                ).stdout
            finally:
                _stop(holder)
        assert secret in results[False]
        assert secret not in results[True]
        assert results[True].startswith("refused 13")

    def test_protect_process_reports_success_on_linux(self) -> None:
        code = "from common_utils_platform.sandbox import protect_process; print(protect_process())"
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        assert done.stdout.strip() == "True"
        assert protect_process.__doc__

    def test_what_the_step_leaves_running_is_killed_when_it_ends(
        self, box: Sandbox, workdir: Path
    ) -> None:
        area = box.area(workdir)
        pidfile = area / "daemon.pid"
        daemon = (
            "import os, sys, time\n"
            "if os.fork() == 0:\n"
            "    os.setsid()\n"
            "    if os.fork() == 0:\n"
            f"        open({str(pidfile)!r}, 'w').write(str(os.getpid()))\n"
            "        time.sleep(600)\n"
            "    os._exit(0)\n"
            "for _ in range(600):\n"
            f"    if os.path.exists({str(pidfile)!r}) and open({str(pidfile)!r}).read():\n"
            "        break\n"
            "    time.sleep(0.05)\n"
        )
        done = box.run(_python(daemon), cwd=area, env={}, timeout=120)
        assert done.returncode == 0, done.stderr
        pid = int(pidfile.read_text())
        assert _gone(pid), f"the daemon {pid} outlived its step"

    def test_a_step_past_its_timeout_is_killed_with_its_children(
        self, box: Sandbox, workdir: Path
    ) -> None:
        area = box.area(workdir)
        pidfile = area / "child.pid"
        code = (
            "import subprocess, sys, time\n"
            "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
            f"open({str(pidfile)!r}, 'w').write(str(child.pid))\n"
            "time.sleep(600)\n"
        )
        with pytest.raises(subprocess.TimeoutExpired):
            box.run(_python(code), cwd=area, env={}, timeout=5)
        assert _gone(int(pidfile.read_text()))


def _gone(pid: int) -> bool:
    """Whether ``pid`` has ended (gone, or a zombie waiting for a reaping init): bounded wait."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return True
        if "\nState:\tZ" in status:
            return True
        time.sleep(0.05)
    return False


class TestBoundary:
    def test_a_private_password_file_and_a_root_owned_directory_hold(
        self, box: Sandbox, workdir: Path
    ) -> None:
        secret_file = workdir / "pw"
        secret_file.write_text("pw\n")
        secret_file.chmod(0o600)
        hooks = workdir / "hooks"
        hooks.mkdir(mode=0o755)
        workdir.chmod(0o755)
        box.check_boundary(unreadable=[secret_file], unwritable=[hooks])

    def test_a_readable_password_file_or_a_writable_hooks_directory_is_named(
        self, box: Sandbox, workdir: Path
    ) -> None:
        workdir.chmod(0o755)
        secret_file = workdir / "pw"
        secret_file.write_text("pw-" + secrets.token_hex(4))
        secret_file.chmod(0o644)
        hooks = workdir / "hooks"
        hooks.mkdir()
        hooks.chmod(0o777)
        with pytest.raises(SandboxError) as caught:
            box.check_boundary(unreadable=[secret_file], unwritable=[hooks])
        message = str(caught.value)
        assert f"can read {secret_file}" in message
        assert f"can write {hooks}" in message
        assert secret_file.read_text() not in message
        assert list(hooks.iterdir()) == []

    def test_a_log_directory_it_cannot_enter_is_named(self, box: Sandbox, workdir: Path) -> None:
        """Each release's work directory goes in the log directory: the user must enter it."""
        workdir.chmod(0o755)
        logs = workdir / "release-logs"
        logs.mkdir(mode=0o700)
        with pytest.raises(SandboxError, match=f"cannot reach {logs}"):
            box.check_boundary(reachable=[logs])
        logs.chmod(0o711)
        box.check_boundary(reachable=[logs])

    @pytest.mark.parametrize("name", ["root", "nobody-such-user-x"])
    def test_root_and_unknown_users_are_refused(self, name: str) -> None:
        with pytest.raises(SandboxError):
            Sandbox.from_user(name)


class TestFilesComeBackWithoutLinks:
    def test_a_regular_file_is_taken(self, box: Sandbox, workdir: Path) -> None:
        area = box.area(workdir)
        box.run(
            _python(f"open({str(area / 'out.txt')!r}, 'w').write('notes')"),
            cwd=area,
            env={},
            timeout=60,
        )
        assert Sandbox.take_file(area / "out.txt") == b"notes"

    def test_a_link_to_a_file_the_release_can_read_is_refused(
        self, box: Sandbox, workdir: Path
    ) -> None:
        """The exfiltration: dist/x.whl -> the password file; the release never reads through it."""
        secret_file = workdir / "pw"
        secret_file.write_text("s3cret")
        secret_file.chmod(0o600)
        area = box.area(workdir)
        dist = area / "dist"
        code = (
            "import os, sys\n"
            f"os.mkdir({str(dist)!r})\n"
            f"os.symlink({str(secret_file)!r}, {str(dist / 'x-1.0-py3-none-any.whl')!r})\n"
            f"os.mkfifo({str(area / 'fifo')!r})\n"
        )
        done = box.run(_python(code), cwd=area, env={}, timeout=60)
        assert done.returncode == 0, done.stderr
        with pytest.raises(SandboxError, match="not a regular file"):
            Sandbox.take_dir(dist, workdir / "taken")
        with pytest.raises(SandboxError, match="not a regular file"):
            Sandbox.take_file(area / "fifo")

    def test_the_area_is_the_only_place_of_the_workdir_it_writes(
        self, box: Sandbox, workdir: Path
    ) -> None:
        (workdir / "logs").mkdir()
        area = box.area(workdir)
        box.check_boundary(unwritable=[workdir, workdir / "logs"])
        given = box.give(Path(__file__).parents[1] / "fixtures", area / "copy")
        done = box.run(
            _python(f"open({str(given / 'new.txt')!r}, 'w').write('x')"),
            cwd=area,
            env={},
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert (given / "new.txt").read_text() == "x"
