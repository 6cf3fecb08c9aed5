"""The release sandbox through sudo: the git user is not root (docs/release.md, "Trust boundary").

The operator installs one sudoers rule, copied here from docs/release.md with only the two
user names put in: the git user may run ``/usr/bin/env`` as the sandbox user, and nothing as
root. A real git user (not root) then uses the public ``Sandbox`` API: every command goes
through ``sudo -n -u <sandbox> -- /usr/bin/env -i``. Needs root (``useradd``, the rule in
``/etc/sudoers.d/``) and sudo (tox -e e2e installs it).
"""

from __future__ import annotations

import json
import os
import pwd
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .sandbox_support import (
    can_create_users,
    sandbox_user,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not can_create_users() or shutil.which("sudo") is None or shutil.which("visudo") is None,
        reason="needs root, useradd and sudo (tox -e e2e installs sudo)",
    ),
]

DOCS = Path(__file__).resolve().parents[2] / "docs" / "release.md"
SUDOERS_D = Path("/etc/sudoers.d")
SECRET_VAR = "DEVPI_PASSWORD"
RUNUSER = shutil.which("runuser") or "/usr/sbin/runuser"

# Run by the git user; prints one JSON object with what it saw.
_AS_GIT_USER = r"""
import json, os, subprocess, sys, tempfile
from pathlib import Path
from common_utils_platform.sandbox import Sandbox, SandboxError

wanted = json.loads(sys.argv[1])
box = Sandbox.from_user(wanted["sandbox"])
seen = {"git_uid": os.getuid(), "holds_secret": wanted["secret_var"] in os.environ}

step_env = {"PATH": "/usr/bin:/bin", "STEP": "build"}
for key, cmd in (("uid", ["/usr/bin/id", "-u"]), ("env", ["/usr/bin/env"])):
    done = box.run(cmd, cwd=Path("/"), env=step_env, timeout=60)
    seen[key] = {"code": done.returncode, "stdout": done.stdout, "stderr": done.stderr[-500:]}

private = Path(tempfile.mkdtemp(prefix="git-private-"))
private.chmod(0o711)
secret_file = private / "password"
secret_file.write_text("not for the sandbox\n")
secret_file.chmod(0o600)
closed_dir = private / "hooks"
closed_dir.mkdir(mode=0o700)
open_file = private / "readable"
open_file.write_text("anyone\n")
open_file.chmod(0o644)

def boundary(**paths):
    try:
        box.check_boundary(**{k: [Path(p) for p in v] for k, v in paths.items()})
    except SandboxError as ex:
        return str(ex)
    return None

seen["boundary_closed"] = boundary(unreadable=[secret_file], unwritable=[closed_dir])
seen["boundary_open"] = boundary(unreadable=[secret_file, open_file])
seen["open_file"] = str(open_file)

workdir = Path(tempfile.mkdtemp(prefix="release-"))
seen["workdir"] = str(workdir)
try:
    area = box.area(workdir)
except SandboxError as ex:
    seen["area"] = {"error": str(ex)}
else:
    info = area.stat()
    seen["area"] = {"path": str(area), "uid": info.st_uid}
    seen["area"]["workdir_mode"] = oct(workdir.stat().st_mode & 0o7777)
    seen["area"]["workdir_xattrs"] = os.listxattr(workdir)
    seen["area"]["workdir_entries"] = sorted(os.listdir(workdir))
    made = box.run(
        ["/usr/bin/touch", str(area / "built")], cwd=area, env=step_env, timeout=60
    )
    seen["area"]["write_code"] = made.returncode
    seen["area"]["built_uid"] = (area / "built").stat().st_uid if made.returncode == 0 else None

as_root = subprocess.run(
    ["sudo", "-n", "-u", "root", "/usr/bin/env", "true"],
    capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, check=False,
)
seen["as_root"] = {"code": as_root.returncode, "stderr": as_root.stderr[-300:]}
seen["private"] = str(private)
print(json.dumps(seen))
"""


def documented_rule() -> str:
    """The sudoers line docs/release.md tells the operator to install, exactly as written."""
    found = re.findall(r"`(git ALL=\(common-utils-sandbox\) NOPASSWD: [^`]+)`", DOCS.read_text())
    assert len(found) == 1, f"docs/release.md should give one sudoers rule, found {found}"
    return found[0]


def rule_for(git_user: str, sandbox: str) -> str:
    """The documented rule with only its two user names substituted."""
    rule = documented_rule()
    return rule.replace("git ", f"{git_user} ", 1).replace(
        "(common-utils-sandbox)", f"({sandbox})", 1
    )


@pytest.fixture(scope="module")
def git_user() -> Iterator[str]:
    """A fresh non-root account playing the git user (it holds the release password)."""
    with sandbox_user() as name:
        yield name


@pytest.fixture(scope="module")
def sandbox() -> Iterator[str]:
    with sandbox_user() as name:
        yield name


@pytest.fixture(scope="module")
def installed_rule(git_user: str, sandbox: str) -> Iterator[str]:
    """The documented rule in ``/etc/sudoers.d/`` (0440, checked by visudo); removed after."""
    rule = rule_for(git_user, sandbox)
    name = f"cu-release-test-{secrets.token_hex(3)}"
    draft = SUDOERS_D / f".{name}"  # sudo ignores names with a dot until it is checked
    final = SUDOERS_D / name
    try:
        draft.write_text(rule + "\n")
        draft.chmod(0o440)
        checked = subprocess.run(
            ["visudo", "-cf", str(draft)], capture_output=True, text=True, check=False
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
        draft.rename(final)
        yield rule
    finally:
        draft.unlink(missing_ok=True)
        final.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def seen(git_user: str, sandbox: str, installed_rule: str) -> Iterator[dict]:
    """Run the Sandbox API as the git user, holding a secret in its environment."""
    secret = f"secret-{secrets.token_hex(8)}"
    env = {"PATH": "/usr/bin:/bin", "HOME": "/", "LANG": "C.UTF-8", SECRET_VAR: secret}
    wanted = json.dumps({"sandbox": sandbox, "secret_var": SECRET_VAR})
    done = subprocess.run(
        [RUNUSER, "-u", git_user, "--", sys.executable, "-I", "-c", _AS_GIT_USER, wanted],
        capture_output=True,
        text=True,
        env=env,
        cwd="/",
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    result["secret"] = secret
    try:
        yield result
    finally:
        shutil.rmtree(result["private"], ignore_errors=True)
        shutil.rmtree(result["workdir"], ignore_errors=True)


def _uid(name: str) -> int:
    return pwd.getpwnam(name).pw_uid


def test_the_documented_rule_is_valid_sudoers(installed_rule: str, git_user: str) -> None:
    assert installed_rule.startswith(f"{git_user} ALL=(")
    assert installed_rule.endswith("NOPASSWD: /usr/bin/env")


def test_the_git_user_is_not_root_and_holds_the_secret(seen: dict, git_user: str) -> None:
    assert seen["git_uid"] == _uid(git_user) != 0
    assert seen["holds_secret"] is True


def test_a_command_runs_as_the_sandbox_user(seen: dict, sandbox: str) -> None:
    assert seen["uid"]["code"] == 0, seen["uid"]["stderr"]
    assert int(seen["uid"]["stdout"]) == _uid(sandbox)


def test_the_command_sees_only_the_steps_environment(seen: dict) -> None:
    assert seen["env"]["code"] == 0, seen["env"]["stderr"]
    assert seen["env"]["stdout"].splitlines() == ["PATH=/usr/bin:/bin", "STEP=build"]
    assert seen["secret"] not in seen["env"]["stdout"]


def test_the_boundary_check_passes_on_the_git_users_private_paths(seen: dict) -> None:
    assert seen["boundary_closed"] is None


def test_the_boundary_check_names_a_readable_path(seen: dict, sandbox: str) -> None:
    assert seen["boundary_open"] is not None
    assert f"the sandbox user {sandbox!r} can read {seen['open_file']}" in seen["boundary_open"]
    assert "password" not in seen["boundary_open"]


def test_the_area_is_created_through_sudo(seen: dict, sandbox: str) -> None:
    area = seen["area"]
    assert "error" not in area, area.get("error")
    assert area["path"] == os.path.join(seen["workdir"], "sandbox")
    assert area["uid"] == _uid(sandbox)
    assert area["workdir_mode"] == "0o711"
    assert area["workdir_xattrs"] == []
    assert area["workdir_entries"] == ["sandbox"]
    assert area["write_code"] == 0
    assert area["built_uid"] == _uid(sandbox)


def test_the_rule_does_not_let_the_git_user_run_as_root(seen: dict) -> None:
    assert seen["as_root"]["code"] != 0
    assert seen["as_root"]["stderr"].strip()
