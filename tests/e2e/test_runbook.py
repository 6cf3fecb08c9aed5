"""docs/operations.md, run as written: the marked shell blocks, in order, on a scratch host.

Every fenced block after ``<!-- runbook: NAME -->`` is extracted and run with
``bash -euo pipefail`` as root. Only the substitutions the page lists under
"What the runbook test substitutes" are applied (``substitute``), to the blocks
and to the deploy files of the checkout the runbook clones. A directory
standing for ``/`` holds the host; the users are real (``useradd``); Debian's
openssl, update-ca-certificates and nginx (stock ``nginx.conf``, workers as
www-data) run; devpi-server and the backup unit run as their units say
(``ExecStart=``, ``User=``, ``UMask=``, ``Environment=``, ``EnvironmentFile=``),
started by the fake ``systemctl`` below (this module run as a script). Every
process started is ended by its PID; waits are on states, bounded.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DOC = REPO_ROOT / "docs" / "operations.md"
MARK = re.compile(r"^<!-- runbook: ([\w-]+) -->\n```bash\n(.*?)^```", re.M | re.S)
ROOTED = ("etc", "srv", "opt", "mnt", "var", "root", "usr/local", "run")
PASSWORDS = {
    "DEVPI_ROOT_PASSWORD": "runbook-Root-pw-1",
    "DEVPI_TEAM_PASSWORD": "runbook-Team-pw-2",
    "DEVPI_RELEASE_PASSWORD": "runbook-Release-pw-3",
    "DEVPI_PERSON_PASSWORD": "runbook-Person-pw-4",
}
# the prompts of one block answered differently (documented: "a different one at the reset")
BLOCK_PASSWORDS = {"password-reset": {"DEVPI_PERSON_PASSWORD": "runbook-Reset-pw-5"}}
SHOWN = (*PASSWORDS.values(), *(p for b in BLOCK_PASSWORDS.values() for p in b.values()))


def runbook_blocks(text: str) -> list[tuple[str, str]]:
    """The marked blocks of the page, in order: ``[(name, shell text)]``."""
    return [(m.group(1), m.group(2)) for m in MARK.finditer(text)]


def substitute(
    text: str, *, root: Path, https_port: int, http_port: int, devpi_port: int, peer_port: int
) -> str:
    """Apply the documented substitutions (docs/operations.md) and nothing else."""
    text = text.replace("https://devpi.example.internal", f"https://localhost:{https_port}")
    text = text.replace("https://devpi-replica.example.internal", f"https://localhost:{peer_port}")
    text = text.replace("devpi.example.internal", "localhost")
    text = text.replace("devpi-replica.example.internal", "localhost")
    text = re.sub(r"\b3141\b", str(devpi_port), text)
    text = re.sub(r"^\s*listen \[::\]:\d+.*\n", "", text, flags=re.M)
    text = re.sub(r"listen 80\b", f"listen 127.0.0.1:{http_port}", text)
    text = re.sub(r"listen 443\b", f"listen 127.0.0.1:{https_port}", text)
    alternatives = "|".join(re.escape(p) for p in ROOTED)
    return re.sub(rf"(?<![\w.$/-])/({alternatives})/", f"{root}/\\1/", text)


PREAMBLE = """umask 022
export PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8
apt-get() { :; }
systemctl() { "$RUNBOOK_PY" "$RUNBOOK_HELPER" systemctl "$@"; }
journalctl() { "$RUNBOOK_PY" "$RUNBOOK_HELPER" journalctl "$@"; }
update-ca-certificates() {
    command update-ca-certificates --fresh --certsconf "$ROOT/etc/ca-certificates.conf" \\
        --localcertsdir "$ROOT/usr/local/share/ca-certificates" \\
        --etccertsdir "$ROOT/etc/ssl/certs" --hooksdir "$ROOT/etc/ca-certificates/update.d" \\
        >/dev/null
}
nginx() { command nginx -c "$ROOT/etc/nginx/nginx.conf" "$@"; }
"""


# -- the fake systemctl (this file run as a script, as root) -----------------------------
def _unit(root: Path, name: str) -> dict[str, list[str]]:
    path = root / "etc" / "systemd" / "system" / name
    keys: dict[str, list[str]] = {}
    for line in path.read_text().replace("\\\n", " ").splitlines():
        line = line.strip()
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            keys.setdefault(key, []).append(value)
    return keys


def _unit_env(keys: dict[str, list[str]]) -> dict[str, str]:
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    for item in keys.get("EnvironmentFile", []):
        for line in Path(item.lstrip("-")).read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                key, value = line.split("=", 1)
                env[key] = value
    for item in keys.get("Environment", []):
        key, value = item.split("=", 1)
        env[key] = value
    return env


def _expand(command: str, env: dict[str, str]) -> list[str]:
    return [re.sub(r"\$\{(\w+)\}", lambda m: env[m.group(1)], w) for w in shlex.split(command)]


def _run_as(keys: dict[str, list[str]]) -> dict[str, object]:
    user = keys.get("User", ["root"])[0]
    return {
        "user": user,
        "group": keys.get("Group", [user])[0],
        "extra_groups": [],
        "umask": int(keys.get("UMask", ["0022"])[0], 8),
    }


def _wait_listen(port: int, proc: subprocess.Popen[bytes] | None, seconds: float = 120) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return True
        time.sleep(0.1)
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def fake_systemctl(args: list[str]) -> int:
    root = Path(os.environ["ROOT"])
    state = Path(os.environ["RUNBOOK_STATE"])
    verb, names = args[0], [a for a in args[1:] if not a.startswith("-")]
    if verb == "journalctl":
        unit = args[args.index("-u") + 1]
        log = state / f"{unit}.log"
        lines = log.read_text(errors="replace").splitlines() if log.exists() else []
        print("\n".join(lines[-int(args[args.index("-n") + 1]) :]))
        return 0
    if verb in ("enable", "start", "restart") and (verb != "enable" or "--now" in args):
        verb = "start"
    elif verb in ("daemon-reload", "enable"):
        return 0
    code = 0
    for name in names:
        unit = name.removesuffix(".service")
        if name.endswith(".timer") or unit == "systemd-journald":
            continue
        if unit == "nginx":
            code |= _nginx(root, state, verb)
            continue
        keys = _unit(root, unit + ".service")
        pidfile = state / f"{unit}.pid"
        if verb == "stop":
            if pidfile.exists():
                pid = int(pidfile.read_text())
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
                deadline = time.monotonic() + 30
                while _alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.1)
                pidfile.unlink()
            continue
        env = _unit_env(keys)
        with (state / f"{unit}.log").open("a") as log:
            if keys.get("Type") == ["oneshot"]:
                for command in keys["ExecStart"]:
                    done = subprocess.run(
                        _expand(command, env),
                        env=env,
                        stdout=log,
                        stderr=log,
                        check=False,
                        cwd="/",
                        **_run_as(keys),  # type: ignore[arg-type]
                    )
                    if done.returncode:
                        return done.returncode
                continue
            proc = subprocess.Popen(
                _expand(keys["ExecStart"][0], env),
                env=env,
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
                cwd="/",
                start_new_session=True,
                **_run_as(keys),  # type: ignore[arg-type]
            )
        pidfile.write_text(str(proc.pid))
        if not _wait_listen(int(os.environ["RUNBOOK_DEVPI_PORT"]), proc):
            print(f"{unit} did not start", file=sys.stderr)
            return 3
    return code


def _nginx(root: Path, state: Path, verb: str) -> int:
    pidfile = root / "run" / "nginx.pid"
    conf = str(root / "etc" / "nginx" / "nginx.conf")
    text = pidfile.read_text().strip() if pidfile.exists() else ""
    if text and _alive(int(text)):
        pid = int(text)
        os.kill(pid, signal.SIGQUIT if verb == "stop" else signal.SIGHUP)
        return 0
    if verb == "stop":
        return 0
    done = subprocess.run(["nginx", "-c", conf], check=False)  # daemonises, writes its pid
    port = int(os.environ["RUNBOOK_HTTPS_PORT"])
    listening = _wait_listen(port, None, 30)
    (state / "nginx.pid").write_text(pidfile.read_text() if pidfile.exists() else "")
    return done.returncode or (0 if listening else 3)


# -- the scratch host ---------------------------------------------------------------------
class Host:
    """A root directory standing for ``/`` and the runbook's state."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="runbook-host-", dir="/tmp"))
        self.root.chmod(0o755)
        self.state = Path(tempfile.mkdtemp(prefix="runbook-state-"))
        self.https_port, self.http_port, self.devpi_port = (free_port() for _ in range(3))
        self.peer_port = free_port()  # the replica host's nginx (nothing listens there here)
        self.url = f"https://localhost:{self.https_port}"
        self.times: dict[str, float] = {}

    def sub(self, text: str) -> str:
        return substitute(
            text,
            root=self.root,
            https_port=self.https_port,
            http_port=self.http_port,
            devpi_port=self.devpi_port,
            peer_port=self.peer_port,
        )

    def install_packages(self) -> None:
        """What ``apt-get install`` left on a real host: the packages' own files."""
        root = self.root
        shutil.copytree("/etc/nginx", root / "etc" / "nginx", symlinks=True)
        conf = root / "etc" / "nginx" / "nginx.conf"
        conf.write_text(self.sub(conf.read_text()))
        for directory in (
            "var/log/nginx",
            "run",
            "etc/ssl/certs",
            "usr/local/share/ca-certificates",
            "etc/ca-certificates/update.d",
            "etc/systemd/system",
            "etc/logrotate.d",
            "root",
        ):
            (root / directory).mkdir(parents=True, exist_ok=True)
        (root / "root").chmod(0o700)
        shutil.copy("/etc/ca-certificates.conf", root / "etc" / "ca-certificates.conf")

    def repository(self) -> tuple[str, str]:
        """A git repository of the working tree, deploy files substituted; (url, tag)."""
        repo = self.state / "repo"
        files = (
            subprocess.run(
                ["git", "ls-files", "-co", "--exclude-standard", "-z"],
                cwd=REPO_ROOT,
                capture_output=True,
                check=True,
            )
            .stdout.decode()
            .split("\0")
        )
        for name in filter(None, files):
            src = REPO_ROOT / name
            if src.is_file() and not src.is_symlink():
                dst = repo / name
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst)
        for path in (repo / "devpi" / "deploy").iterdir():
            path.write_text(self.sub(path.read_text()))
        git = ["git", "-c", "user.name=runbook", "-c", "user.email=runbook@localhost"]
        for args in (
            ["init", "-q"],
            ["add", "-A"],
            ["commit", "-qm", "snapshot"],
            ["tag", "runbook-test"],
        ):
            subprocess.run([*git, *args], cwd=repo, check=True, capture_output=True)
        self.repo = repo
        return f"file://{repo}", "runbook-test"

    def upgrade_tag(self) -> str:
        """A second tag whose lock has one comment line more: same versions, another venv."""
        lock = self.repo / "requirements" / "devpi-server.lock"
        lock.write_text(lock.read_text() + "# runbook upgrade: the same versions\n")
        git = ["git", "-c", "user.name=runbook", "-c", "user.email=runbook@localhost"]
        for args in (["commit", "-qam", "upgrade"], ["tag", "runbook-upgrade"]):
            subprocess.run([*git, *args], cwd=self.repo, check=True, capture_output=True)
        return "runbook-upgrade"

    def venv_name(self, tag: str) -> str:
        """The venv directory the runbook names for ``tag``'s lock."""
        lock = subprocess.run(
            ["git", "show", f"{tag}:requirements/devpi-server.lock"],
            cwd=self.repo,
            capture_output=True,
            check=True,
        ).stdout
        return hashlib.sha256(lock).hexdigest()[:12]

    def run(self, name: str, block: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        prompts = re.findall(r"read -rs (\w+)", block)
        answers = {**PASSWORDS, **BLOCK_PASSWORDS.get(name, {})}
        stdin = "".join(answers[p] + "\n" for p in prompts)
        started = time.monotonic()
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", PREAMBLE + self.sub(block)],
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
            env=env,
            cwd=self.root,
        )
        self.times[name] = time.monotonic() - started
        return done

    def stop_all(self) -> None:
        for pidfile in self.state.glob("*.pid"):
            text = pidfile.read_text().strip()
            if not text:
                continue
            pid = int(text)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGQUIT if pidfile.stem == "nginx" else signal.SIGTERM)
            deadline = time.monotonic() + 30
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.rmtree(self.state, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def host() -> Iterator[Host]:
    if os.geteuid() != 0:
        pytest.skip("the runbook runs as root (useradd, chown, runuser)")
    for tool in ("nginx", "openssl", "update-ca-certificates", "runuser", "git"):
        if shutil.which(tool, path="/usr/sbin:/usr/bin:/sbin:/bin") is None:
            pytest.skip(f"{tool} is not installed (scripts/ensure_system_packages.py)")
    scratch = Host()
    try:
        yield scratch
    finally:
        scratch.stop_all()
        scratch.cleanup()


SECRETS = (
    "etc/devpi/secret",
    "srv/devpi/server/.sqlite",
    "etc/nginx/tls/devpi.key",
    "root/team-ca/team-ca.key",
)


def assert_private(root: Path) -> None:
    """Every file with a secret or password hashes that exists: 0600 (dirs 0700), not world."""
    for rel in SECRETS:
        path = root / rel
        if path.exists():
            mode = stat.S_IMODE(path.stat().st_mode)
            assert mode == 0o600, f"{rel} is {oct(mode)}"
    for exports in ("srv/devpi/backups", "mnt/devpi-offsite"):
        for export in (root / exports).glob("devpi-export-*"):
            assert stat.S_IMODE(export.stat().st_mode) == 0o700, export
            for item in export.rglob("*"):
                assert not item.stat().st_mode & 0o007, item


def test_marked_blocks_are_the_runbook() -> None:
    names = [name for name, _ in runbook_blocks(DOC.read_text())]
    assert names[:3] == ["install", "venv", "team-ca"], names
    assert len(names) == len(set(names)), names
    assert "runbook: " not in MARK.sub("", DOC.read_text()).replace("`<!-- runbook: NAME -->`", "")


def https_get(host: Host, path: str) -> tuple[int, dict[str, str], bytes]:
    """GET ``path`` through the host's nginx, trusting the runbook's team CA."""
    ctx = ssl.create_default_context(cafile=str(host.root / "root/team-ca/team-ca.crt"))
    try:
        with urllib.request.urlopen(host.url + path, context=ctx, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as ex:
        return ex.code, dict(ex.headers), ex.read()


def serving(host: Host) -> dict[str, object]:
    """The server's ``/+status`` through nginx (it answers, or the test fails)."""
    code, _, body = https_get(host, "/+status")
    assert code == 200, code
    return dict(json.loads(body)["result"])


def can_login(host: Host, user: str, password: str) -> bool:
    # not at the top: this file is the fake systemctl
    from common_utils_platform.devpitools import DevpiAPI, DevpiError

    try:
        DevpiAPI(f"http://127.0.0.1:{host.devpi_port}", user=user, password=password).login()
    except DevpiError:
        return False
    return True


PERSON, PROBE_VERSION = "alice", "1.0.0"


@pytest.mark.e2e
def test_the_runbook_brings_up_a_serving_primary_with_backups(host: Host) -> None:
    # not at the top: run as a script, this file is the fake systemctl, without tests/ or devpi/
    from common_utils_platform.devsupport import twine_upload

    from .test_operations import make_wheel

    url, tag = host.repository()
    host.install_packages()
    env = {
        "ROOT": str(host.root),
        "RUNBOOK_STATE": str(host.state),
        "RUNBOOK_PY": sys.executable,
        "RUNBOOK_HELPER": str(Path(__file__).resolve()),
        "RUNBOOK_DEVPI_PORT": str(host.devpi_port),
        "RUNBOOK_HTTPS_PORT": str(host.https_port),
        "REPO_URL": url,
        "RELEASE": tag,
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    }
    upgrade = host.upgrade_tag()
    root = host.root
    venv = root / "opt/devpi/venv"
    probe_path = ""
    outputs = {}
    names = [name for name, _ in runbook_blocks(DOC.read_text())]
    for name, block in runbook_blocks(DOC.read_text()):
        done = host.run(name, block, {**env, "RELEASE": upgrade} if name == "upgrade" else env)
        out = done.stdout + done.stderr
        for secret in SHOWN:
            assert secret not in out, f"block {name} printed a password"
        assert done.returncode == 0, f"block {name} failed:\n{out[-3000:]}"
        outputs[name] = out
        assert_private(root)
        # what each block after section 1 must have done (deleting or breaking it fails here)
        if name == "people":
            assert can_login(host, PERSON, PASSWORDS["DEVPI_PERSON_PASSWORD"])
            code, _, _ = https_get(host, f"/{PERSON}/dev")
            assert code == 200, code
            # a release on the person's index, so backups, the drill and the upgrade carry a file
            wheel = make_wheel(host.state / "wheel", PROBE_VERSION, name="runbook-probe")
            sent = twine_upload(
                f"http://127.0.0.1:{host.devpi_port}/{PERSON}/dev/",
                [wheel],
                user=PERSON,
                password=PASSWORDS["DEVPI_PERSON_PASSWORD"],
            )
            assert sent.returncode == 0, sent.stdout + sent.stderr
            code, _, body = https_get(host, f"/{PERSON}/dev/+simple/runbook-probe/")
            assert code == 200, code
            found = re.search(rb'href="([^"#]*runbook_probe-[^"#]*\.whl)', body)
            assert found, body[:500]
            page = f"/{PERSON}/dev/+simple/runbook-probe/"
            probe_path = urllib.parse.urlsplit(
                urllib.parse.urljoin(page, found.group(1).decode())
            ).path
        if name == "password-reset":
            new = BLOCK_PASSWORDS["password-reset"]["DEVPI_PERSON_PASSWORD"]
            assert can_login(host, PERSON, new)
            assert not can_login(host, PERSON, PASSWORDS["DEVPI_PERSON_PASSWORD"])
        if name == "backup-now":
            assert re.search(r"^backup: .*copied to", out, re.M), out
            newest = sorted((root / "srv/devpi/backups").glob("devpi-export-*"))[-1]
            assert "runbook_probe" in (newest / "inventory.json").read_text()
        if name == "restore-drill":
            assert re.search(r"restore-drill: OK: 1 files? of 1 releases?", out), out
        if name in ("upgrade", "rollback"):
            want = host.venv_name(upgrade if name == "upgrade" else tag)
            assert os.readlink(venv) == str(root / "opt/devpi/venvs" / want), name
            assert serving(host)["role"] == "MASTER"
            code, headers, _ = https_get(host, probe_path)
            assert code == 200, (name, code)
            assert headers.get("X-Devpi-Served-By") == "nginx", (name, headers)
        if name == "upgrade":
            assert host.venv_name(upgrade) != host.venv_name(tag)
            assert (root / "srv/devpi/server-old/.sqlite").exists()
            assert not (root / "srv/devpi/server-new").exists()
        if name == "rollback":
            assert (root / "srv/devpi/server-failed/.sqlite").exists()
            assert not (root / "srv/devpi/server-old").exists()
    for name in ("people", "password-reset", "backup-now", "restore-drill", "upgrade", "rollback"):
        assert name in names, f"the runbook block {name} is gone"

    # the service's data: the database 0600, +files readable by nginx only
    assert (root / "srv/devpi/server/.sqlite").exists()
    assert stat.S_IMODE((root / "srv/devpi/server/+files").stat().st_mode) == 0o2750
    # the venv behind the symlink
    assert venv.is_symlink()
    assert (venv / "bin" / "devpi-server").exists()
    # backup, offsite copy checked, drill
    log = outputs["backup"]
    assert "backup: " in log, log
    assert "copied to" in log, log
    assert "verify-backup: OK" in log, log
    assert "restore-drill: OK" in log, log
    assert len(list((root / "mnt/devpi-offsite").glob("devpi-export-*"))) == 3
    # the check says OK through nginx with the team CA of the system bundle
    assert outputs["check"].startswith("OK: primary serial"), outputs["check"]
    assert f"certificate of localhost:{host.https_port} expires in" in outputs["check"]
    error_log = root / "var/log/nginx/devpi/error.log"
    assert "Permission denied" not in (error_log.read_text() if error_log.exists() else "")
    print("runbook block times: " + ", ".join(f"{k} {v:.1f} s" for k, v in host.times.items()))


if __name__ == "__main__":
    sys.exit(fake_systemctl(sys.argv[2:] if sys.argv[1] == "systemctl" else sys.argv[1:]))
