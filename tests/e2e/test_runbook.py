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

A marker may name the host a block runs on and blocks of section 1 run there
before or after it (``<!-- runbook: NAME on=replica first=install,venv -->``):
the primary's blocks run first, in the order of the page, then the replica
host's (a second scratch host with its own root, users' files and ports),
which follows the primary, sees it die and is promoted.
"""

from __future__ import annotations

import contextlib
import dataclasses
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
MARK = re.compile(
    r"^<!-- runbook: ([\w-]+)((?: \w+=[\w,-]+)*) -->\n```bash\n(.*?)^```", re.M | re.S
)
HOSTS = ("primary", "replica")
# what the page says a status check prints: its level (exit code 0, 1, 2, 3)
LEVELS = ("OK", "WARNING", "CRITICAL", "UNKNOWN")
DOCUMENTED_LEVEL = re.compile(rf"^# ({'|'.join(LEVELS)}): ", re.M)
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
    return [(step.name, step.block) for step in runbook_steps(text)]


@dataclasses.dataclass(frozen=True)
class Step:
    """One marked block: where it runs and the blocks of section 1 run there around it."""

    name: str
    block: str
    on: str = "primary"
    first: tuple[str, ...] = ()
    then: tuple[str, ...] = ()


def runbook_steps(text: str) -> list[Step]:
    """The marked blocks with their marker's ``on=``, ``first=`` and ``then=``."""
    steps = []
    for m in MARK.finditer(text):
        attrs = dict(item.split("=", 1) for item in m.group(2).split())
        unknown = set(attrs) - {"on", "first", "then"}
        assert not unknown, f"runbook block {m.group(1)}: unknown {unknown}"
        assert attrs.get("on", "primary") in HOSTS, f"runbook block {m.group(1)}: {attrs}"
        steps.append(
            Step(
                m.group(1),
                m.group(3),
                attrs.get("on", "primary"),
                tuple(filter(None, attrs.get("first", "").split(","))),
                tuple(filter(None, attrs.get("then", "").split(","))),
            )
        )
    return steps


def documented_level(block: str) -> str | None:
    """The level a block's ``# LEVEL: ...`` output line documents, if it has one."""
    found = DOCUMENTED_LEVEL.findall(block)
    return found[-1] if found else None


def substitute(
    text: str,
    *,
    root: Path,
    https_port: int,
    http_port: int,
    devpi_port: int,
    names: dict[str, int],
) -> str:
    """Apply the documented substitutions (docs/operations.md) and nothing else.

    ``names`` maps each host name of the page to its nginx's port: the blocks
    name hosts; the deploy files get theirs from ``render`` (``names={}``).
    """
    for name, port in names.items():
        text = text.replace(f"https://{name}", f"https://localhost:{port}")
    for name in names:
        text = text.replace(name, "localhost")
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
ssh() {  # root@ the pair's other host: the command, as root, on its scratch host
    if [ "$1" != root@localhost ] || [ -z "${RUNBOOK_PEER_ROOT:-}" ]; then
        echo "ssh: $1: not the pair's other host" >&2
        return 255
    fi
    shift
    bash -euo pipefail -c "${*//"$ROOT"/"$RUNBOOK_PEER_ROOT"}"
}
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
    if verb == "enable" and "--now" in args:
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
        running = pidfile.exists() and _alive(int(pidfile.read_text()))
        if verb in ("stop", "restart") and pidfile.exists():
            pid = int(pidfile.read_text())
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 30
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            pidfile.unlink()
        if verb == "stop" or (verb == "start" and running and keys.get("Type") != ["oneshot"]):
            continue  # systemd starts a running service no second time
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
PRIMARY_NAME, REPLICA_NAME = "devpi.example.internal", "devpi-replica.example.internal"


class Host:
    """A root directory standing for ``/`` and the runbook's state.

    ``Host()`` is the primary's host: its nginx port is the one the page's
    ``https://devpi.example.internal`` becomes, and a port is reserved for the
    replica host's nginx; ``Host(primary)`` is that replica host.
    """

    def __init__(self, primary: Host | None = None) -> None:
        from .mount_support import mount_tmpfs

        self.root = Path(tempfile.mkdtemp(prefix="runbook-host-", dir="/tmp"))
        self.root.chmod(0o755)
        # /srv is a volume of its own, as on a real host: the free space the checks report
        # is that volume's, not the CI machine's (shared, and WARNING below 15% free)
        self.srv_is_volume = mount_tmpfs(self.root / "srv", "1g", mode="0755")
        self.state = Path(tempfile.mkdtemp(prefix="runbook-state-"))
        self.primary = primary
        self.http_port, self.devpi_port = free_port(), free_port()
        if primary is None:
            self.https_port = free_port()
            self.names = {PRIMARY_NAME: self.https_port, REPLICA_NAME: free_port()}
        else:
            self.names = dict(primary.names)
            self.https_port = self.names[REPLICA_NAME]
        self.peer_port = self.names[REPLICA_NAME if primary is None else PRIMARY_NAME]
        self.url = f"https://localhost:{self.https_port}"
        self.times: dict[str, float] = {}

    def sub(self, text: str, *, names: bool = True) -> str:
        return substitute(
            text,
            root=self.root,
            https_port=self.https_port,
            http_port=self.http_port,
            devpi_port=self.devpi_port,
            names=self.names if names else {},
        )

    def env(self, repo_url: str, release: str) -> dict[str, str]:
        """The environment of the blocks and of the fake ``systemctl`` on this host."""
        env = {
            "ROOT": str(self.root),
            "RUNBOOK_STATE": str(self.state),
            "RUNBOOK_PY": sys.executable,
            "RUNBOOK_HELPER": str(Path(__file__).resolve()),
            "RUNBOOK_DEVPI_PORT": str(self.devpi_port),
            "RUNBOOK_HTTPS_PORT": str(self.https_port),
            "REPO_URL": repo_url,
            "RELEASE": release,
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        }
        if self.primary is not None:
            env["RUNBOOK_PEER_ROOT"] = str(self.primary.root)
        return env

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
        for path in (repo / "devpi" / "deploy").iterdir():  # names: by render, from host.env
            path.write_text(self.sub(path.read_text(), names=False))
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

    def run(
        self, name: str, block: str, env: dict[str, str], *, label: str = ""
    ) -> subprocess.CompletedProcess[str]:
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
        self.times[label or name] = time.monotonic() - started
        return done

    def stop_all(self) -> None:
        for pidfile in self.state.glob("*.pid"):
            text = pidfile.read_text().strip()
            if not text:
                continue
            pid = int(text)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGQUIT if pidfile.stem == "nginx" else signal.SIGTERM)
            started = time.monotonic()
            while _alive(pid) and time.monotonic() < started + 30:
                time.sleep(0.1)
            if time.monotonic() - started > 5:
                print(f"{pidfile.stem} took {time.monotonic() - started:.0f} s to stop")

    def cleanup(self) -> None:
        from .mount_support import unmount

        if self.srv_is_volume:
            unmount(self.root / "srv")
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
    steps = runbook_steps(DOC.read_text())
    names = [step.name for step in steps]
    assert names[:3] == ["install", "venv", "team-ca"], names
    assert len(names) == len(set(names)), names
    primary = {step.name for step in steps if step.on == "primary"}
    for step in steps:  # first= and then= name the primary's blocks (section 1), run again
        assert set(step.first + step.then) <= primary, step
    unmarked = re.sub(r"`<!-- runbook: [^`]*-->`", "", MARK.sub("", DOC.read_text()))
    assert "runbook: " not in unmarked


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


PERSON, PROBE_VERSION, PROMOTED_VERSION = "alice", "1.0.0", "2.0.0"
# the blocks whose effect the test checks, by host (deleting one fails here as well)
CHECKED = {
    "primary": (
        "people",
        "password-reset",
        "backup-now",
        "restore-drill",
        "restore",
        "upgrade",
        "rollback",
    ),
    "replica": (
        "replica-names",
        "replica-certificate",
        "replica-configure",
        "replica-check",
        "primary-down",
        "promote",
    ),
}
SERVING = {"primary": "check", "replica": "replica-check"}  # the figure: bare host to serving


def wait_closed(port: int, seconds: float = 30) -> None:
    """Until nothing accepts on ``port`` (a process ended by its PID has let it go)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
        except OSError:
            return
        assert time.monotonic() < deadline, f"port {port} still accepts"
        time.sleep(0.1)


def end_by_pid(pidfile: Path, sig: signal.Signals, port: int) -> None:
    """Send ``sig`` to the process a pid file names and wait until its port is closed."""
    pid = int(pidfile.read_text())
    os.kill(pid, sig)
    wait_closed(port)
    pidfile.unlink(missing_ok=True)  # nginx removes its own


class Runbook:
    """The page's blocks run on the two scratch hosts, with the checks of their effects."""

    def __init__(self, primary: Host, replica: Host, steps: list[Step]) -> None:
        self.hosts = {"primary": primary, "replica": replica}
        self.steps = steps
        self.by_name = {step.name: step for step in steps}
        self.outputs: dict[str, str] = {}
        self.repos = {on: host.repository() for on, host in self.hosts.items()}
        self.upgrade = primary.upgrade_tag()
        self.probe_path = ""

    def run_all(self) -> None:
        """Each host's blocks in the order of the page, the primary's first."""
        for on in HOSTS:
            self.hosts[on].install_packages()
            for step in (s for s in self.steps if s.on == on):
                for name in step.first:
                    self.block(on, self.by_name[name])
                self.before(on, step.name)
                self.block(on, step)
                for name in step.then:
                    self.block(on, self.by_name[name])

    def block(self, on: str, step: Step) -> None:
        host = self.hosts[on]
        url, tag = self.repos[on]
        release = self.upgrade if step.name == "upgrade" else tag
        label = step.name if on == "primary" else f"{on}:{step.name}"
        done = host.run(step.name, step.block, host.env(url, release), label=label)
        out = done.stdout + done.stderr
        for secret in SHOWN:
            assert secret not in out, f"block {label} printed a password"
        level = documented_level(step.block)
        want = LEVELS.index(level) if level else 0
        assert done.returncode == want, (
            f"block {label} exited {done.returncode}, the page says {level or 'success'}:\n"
            + out[-3000:]
        )
        if level:  # the check prints the level the page shows
            assert done.stdout.splitlines()[-1].startswith(f"{level}: "), (label, done.stdout)
        self.outputs[label] = out
        assert_private(host.root)
        self.after(on, step.name, out)

    def before(self, on: str, name: str) -> None:
        """What the operator waits for, or what happens to the primary, before a block."""
        primary, replica = self.hosts["primary"], self.hosts["replica"]
        if (on, name) == ("replica", "replica-check"):
            started = time.monotonic()
            wait_in_sync(primary, replica)
            replica.times["replica:waiting for the first sync"] = time.monotonic() - started
        if (on, name) == ("replica", "primary-down"):  # the primary's devpi-server crashes
            end_by_pid(primary.state / "devpi-server.pid", signal.SIGKILL, primary.devpi_port)
        if (on, name) == ("replica", "promote"):  # the primary's host is lost: nginx too
            end_by_pid(primary.root / "run/nginx.pid", signal.SIGTERM, primary.https_port)
            (primary.state / "nginx.pid").unlink()

    def after(self, on: str, name: str, out: str) -> None:
        """What each block must have done."""
        host = self.hosts[on]
        if on == "primary":
            self.after_primary(host, name, out)
            return
        if name == "replica-names":
            env = (host.root / "etc/devpi/host.env").read_text()
            assert f"DEVPI_URL=https://localhost:{host.https_port}\n" in env, env
            assert f"DEVPI_PEER_URL=https://localhost:{host.peer_port}\n" in env, env
        if name == "replica-certificate":
            assert (host.root / "etc/nginx/tls/devpi.crt").exists()
        if name == "replica-configure":
            assert (host.root / "srv/devpi/server/.serverversion").exists()
            config = (host.root / "etc/devpi/devpi-server.yml").read_text()
            assert "role: replica" in config, config
            assert f"primary-url: https://localhost:{host.peer_port}\n" in config, config
            assert f"outside-url: https://localhost:{host.https_port}\n" in config, config
        if name == "replica-check":
            assert "lags 0 serials" in out, out
            # the release file, read from the replica's own disk by its nginx
            assert_same_file(self.hosts["primary"], host, self.probe_path)
            assert serving(host)["role"] == "REPLICA"
        if name == "primary-down":
            assert out.startswith("CRITICAL: primary"), out
            assert "lags 0 serials" in out, out
            # installs through the primary's name go on: its nginx reads from the replica
            primary = self.hosts["primary"]
            code, headers, _ = https_get(primary, f"/{PERSON}/dev/+simple/runbook-probe/")
            assert code == 200, code
            assert headers.get("X-Devpi-Served-By") == "localhost", headers
        if name == "promote":
            assert serving(host)["role"] != "REPLICA"

    def after_primary(self, host: Host, name: str, out: str) -> None:
        from common_utils_platform.devsupport import twine_upload

        root = host.root
        if name == "people":
            assert can_login(host, PERSON, PASSWORDS["DEVPI_PERSON_PASSWORD"])
            code, _, _ = https_get(host, f"/{PERSON}/dev")
            assert code == 200, code
            # a release on the person's index, so backups, the drill, the upgrade and the
            # replica carry a file
            sent = twine_upload(
                f"http://127.0.0.1:{host.devpi_port}/{PERSON}/dev/",
                [probe_wheel(host, PROBE_VERSION)],
                user=PERSON,
                password=PASSWORDS["DEVPI_PERSON_PASSWORD"],
            )
            assert sent.returncode == 0, sent.stdout + sent.stderr
            self.probe_path = release_file_path(host, PROBE_VERSION)
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
        if name == "restore":
            assert (root / "srv/devpi/server.broken/.sqlite").exists()
            assert serving(host)["role"] == "MASTER"
            new = BLOCK_PASSWORDS["password-reset"]["DEVPI_PERSON_PASSWORD"]
            assert can_login(host, PERSON, new)
            code, headers, _ = https_get(host, self.probe_path)
            assert code == 200, code
            assert headers.get("X-Devpi-Served-By") == "nginx", headers
        if name in ("upgrade", "rollback"):
            _, tag = self.repos["primary"]
            want = host.venv_name(self.upgrade if name == "upgrade" else tag)
            assert os.readlink(root / "opt/devpi/venv") == str(root / "opt/devpi/venvs" / want)
            assert serving(host)["role"] == "MASTER"
            code, headers, _ = https_get(host, self.probe_path)
            assert code == 200, (name, code)
            assert headers.get("X-Devpi-Served-By") == "nginx", (name, headers)
        if name == "upgrade":
            assert host.venv_name(self.upgrade) != host.venv_name(self.repos["primary"][1])
            assert (root / "srv/devpi/server-old/.sqlite").exists()
            assert not (root / "srv/devpi/server-new").exists()
        if name == "rollback":
            assert (root / "srv/devpi/server-failed/.sqlite").exists()
            assert not (root / "srv/devpi/server-old").exists()


def probe_wheel(host: Host, version: str) -> Path:
    from .test_operations import make_wheel

    return make_wheel(host.state / f"wheel-{version}", version, name="runbook-probe")


def release_file_path(host: Host, version: str) -> str:
    """The path of ``runbook-probe`` ``version``'s file in the person's simple page."""
    page = f"/{PERSON}/dev/+simple/runbook-probe/"
    code, _, body = https_get(host, page)
    assert code == 200, code
    found = re.search(
        rf'href="([^"#]*runbook_probe-{re.escape(version)}-[^"#]*\.whl)', body.decode()
    )
    assert found, body[:500]
    return urllib.parse.urlsplit(urllib.parse.urljoin(page, found.group(1))).path


def assert_same_file(primary: Host, replica: Host, path: str) -> None:
    """``path`` is served from the replica's disk by its nginx, the primary's bytes."""
    code, headers, body = https_get(replica, path)
    assert code == 200, code
    assert headers.get("X-Devpi-Served-By") == "nginx", headers
    _, _, original = https_get(primary, path)
    assert hashlib.sha256(body).digest() == hashlib.sha256(original).digest()


def wait_in_sync(primary: Host, replica: Host, seconds: float = 600) -> None:
    """Until the replica's ``/+status`` says devpi's own "in sync" at the primary's serial.

    ``replica-in-sync-at`` set (metadata and release files), no replication error,
    and its serial at least the primary's; bounded.
    """
    target = int(str(serving(primary)["serial"]))
    deadline = time.monotonic() + seconds
    doc: dict[str, object] = {}
    while not (
        doc.get("replica-in-sync-at") is not None
        and not doc.get("replication-errors")
        and int(str(doc.get("serial", -1))) >= target
    ):
        assert time.monotonic() < deadline, f"the replica never caught up to {target}: {doc}"
        time.sleep(0.5)
        code, _, body = https_get(replica, "/+status")
        doc = dict(json.loads(body)["result"]) if code == 200 else {}


@pytest.fixture
def replica_host(host: Host) -> Iterator[Host]:
    scratch = Host(host)
    try:
        yield scratch
    finally:
        scratch.stop_all()
        scratch.cleanup()


@pytest.mark.e2e
def test_the_runbook_brings_up_a_primary_and_a_replica_that_is_promoted(
    host: Host, replica_host: Host
) -> None:
    from common_utils_platform.devsupport import twine_upload

    steps = runbook_steps(DOC.read_text())
    for on, names in CHECKED.items():
        for name in names:
            assert any(s.name == name and s.on == on for s in steps), f"block {name} ({on}) gone"
    runbook = Runbook(host, replica_host, steps)
    runbook.run_all()
    root, outputs = host.root, runbook.outputs

    # the service's data: the database 0600, +files readable by nginx only
    assert (root / "srv/devpi/server/.sqlite").exists()
    assert stat.S_IMODE((root / "srv/devpi/server/+files").stat().st_mode) == 0o2750
    # the venv behind the symlink
    venv = root / "opt/devpi/venv"
    assert venv.is_symlink()
    assert (venv / "bin" / "devpi-server").exists()
    # backup, offsite copy checked, drill: on the primary, and on the promoted replica
    for label in ("backup", "replica:backup"):
        for line in ("backup: ", "copied to", "verify-backup: OK", "restore-drill: OK"):
            assert line in outputs[label], (label, outputs[label])
    assert len(list((root / "mnt/devpi-offsite").glob("devpi-export-*"))) == 3
    # the check says OK through nginx with the team CA of the system bundle
    assert outputs["check"].startswith("OK: primary serial"), outputs["check"]
    assert f"certificate of localhost:{host.https_port} expires in" in outputs["check"]
    # the promoted replica is the primary: its own check, and an upload lands on it
    assert outputs["replica:check"].startswith("OK: primary serial"), outputs["replica:check"]
    sent = twine_upload(
        f"{replica_host.url}/{PERSON}/dev/",
        [probe_wheel(replica_host, PROMOTED_VERSION)],
        user=PERSON,
        password=BLOCK_PASSWORDS["password-reset"]["DEVPI_PERSON_PASSWORD"],
        env={
            **os.environ,
            "REQUESTS_CA_BUNDLE": str(replica_host.root / "root/team-ca/team-ca.crt"),
        },
    )
    assert sent.returncode == 0, sent.stdout + sent.stderr
    code, headers, _ = https_get(replica_host, release_file_path(replica_host, PROMOTED_VERSION))
    assert code == 200, code
    assert headers.get("X-Devpi-Served-By") == "nginx", headers
    for scratch in (host, replica_host):
        error_log = scratch.root / "var/log/nginx/devpi/error.log"
        assert "Permission denied" not in (error_log.read_text() if error_log.exists() else "")
    report(runbook)


def report(runbook: Runbook) -> None:
    """Each block's time, the checks' lines, and the figures of docs/operations.md section 8."""
    primary, replica = runbook.hosts["primary"], runbook.hosts["replica"]
    times = {**primary.times, **replica.times}
    print("runbook block times: " + ", ".join(f"{k} {v:.1f} s" for k, v in times.items()))
    for label, out in runbook.outputs.items():
        for line in out.splitlines():
            if re.match(rf"(({'|'.join(LEVELS)}): primary|backup: /|restore-drill: )", line):
                print(f"runbook {label}: {line}")
    for on, scratch in runbook.hosts.items():
        labels = list(scratch.times)
        last = SERVING[on] if on == "primary" else f"replica:{SERVING[on]}"
        upto = sum(scratch.times[k] for k in labels[: labels.index(last) + 1])
        print(f"runbook figure: {on}, bare host to serving (block {SERVING[on]}): {upto:.1f} s")


if __name__ == "__main__":
    sys.exit(fake_systemctl(sys.argv[2:] if sys.argv[1] == "systemctl" else sys.argv[1:]))
