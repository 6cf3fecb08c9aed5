#!/usr/bin/env python3
"""The whole common_utils workflow, for real, in one command (``python3 dev.py demo``).

1. start a throwaway devpi-server on a free loopback port and bootstrap it;
2. release by tag push: a bare repository stands in for the team's git host, with
   the release hooks installed (``common-utils-install-hooks``); a temp clone of this
   repository is tagged (HEAD's ``vX.Y.Z`` tag, or the next patch after the latest
   one, in the clone only) and pushed to it: the ``post-receive`` hook runs the real
   release pipeline (guards, build, ``twine check``, staging upload, verify,
   ``devpi push``) as the release user and its lines show in the push output;
3. pip consumer: the sample service in a fresh virtualenv, ``pip install -r
   requirements.txt`` from the devpi release index only, served by uWSGI;
4. submodule consumer: the sample service as its own git repository with
   ``git submodule add`` of the released tag from the git host, cloned with
   ``--recurse-submodules``, served by uWSGI;
5. a summary: which version each consumer runs and how it got it.

Both services verify JWTs against a demo key published by a loopback JWKS server.
Everything lives in one temp directory that is removed at the end, also on
failure or Ctrl-C; every process the demo started is stopped by its PID.
Exit code 0 only when every step and every check succeeded.

Run it as ``python3 dev.py demo`` or ``tox -e demo``, which install the platform tools'
package (by hand: ``pip install ./devpi`` into the venv, then ``python demo/demo.py``).

Options: ``--skip-release-tests`` (the pipeline's verify step still installs from
staging but does not run the unit tests), ``--keep`` (leave the temp directory).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from common_utils_platform.devpitools import (
    DevpiServer,
    build_wheelhouse,
    clean_pip_env,
    seed_base_index,
)
from common_utils_platform.devsupport import (
    REPO_ROOT,
    ServerProcess,
    free_port,
    make_venv,
    pip_install,
    tail,
)
from common_utils_platform.devsupport import run as run_process
from common_utils_platform.install_hooks import HookConfig, InstallError, install_hooks

from common_utils.testing import JWKSServer, TokenIssuer, vcap_services

ROOT = REPO_ROOT
SERVICE_SRC = ROOT / "submodule_example"

PROJECT = "common-utils"
STRICT_TAG = re.compile(r"^v(\d+)\.(\d+)\.(\d+)$")
ISSUER = "https://uaa.demo.invalid/oauth/token"
AUDIENCE = "example-app"
SCOPE = "example.filter"
# The pin of common-utils in a requirements file, with its --hash lines if it is a lock.
PIN = re.compile(r"^common-utils==\S+(?:[ \t]*\\\n[ \t]*--hash=\S+)*", re.MULTILINE)
# Files of the sample service that a consumer's repository holds (no caches).
SERVICE_IGNORE = shutil.ignore_patterns(
    "__pycache__", ".pytest_cache", ".hypothesis", ".tox", "submodules", "*.pyc"
)


class DemoFailedError(Exception):
    """A step failed: carries what to show and a hint."""

    def __init__(self, message: str, *, output: str = "", hint: str = "") -> None:
        super().__init__(message)
        self.output = output
        self.hint = hint


# --------------------------------------------------------------------------- output


class Console:
    """Progress lines a person enjoys reading: numbered steps with durations."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.color = sys.stdout.isatty() and os.environ.get("NO_COLOR") is None
        self.timings: dict[str, float] = {}

    def _c(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color else text

    def say(self, text: str = "") -> None:
        print(text, flush=True)

    def detail(self, text: str) -> None:
        for line in text.splitlines():
            self.say(f"      {line}")

    @contextlib.contextmanager
    def step(self, number: int, title: str) -> Iterator[None]:
        self.say(self._c("1", f"[{number}/{self.total}] {title}"))
        start = time.perf_counter()
        try:
            yield
        except BaseException:
            self.timings[title] = time.perf_counter() - start
            self.say(self._c("31", f"      FAILED after {self.timings[title]:.1f}s"))
            raise
        self.timings[title] = time.perf_counter() - start
        self.say(self._c("32", f"      done in {self.timings[title]:.1f}s"))

    def table(self, header: list[str], rows: list[list[str]]) -> None:
        widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
        line = "  ".join("-" * w for w in widths)
        self.say("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
        self.say(line)
        for row in rows:
            self.say("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))


# --------------------------------------------------------------------------- JWT


class DemoIssuer:
    """A demo token issuer (``common_utils.testing``) and a loopback JWKS server publishing it."""

    def __init__(self) -> None:
        self.issuer = TokenIssuer(
            issuer=ISSUER, audience=AUDIENCE, kid=f"demo-{uuid.uuid4().hex[:8]}", lifetime=600
        )
        self._jwks = JWKSServer(self.issuer.jwks)
        self.jwks_uri = self._jwks.__enter__().uri

    def token(self, scopes: list[str]) -> str:
        """A token of the demo user with ``scopes``."""
        return self.issuer.token(scopes=scopes, sub="demo-user")

    def vcap_services(self) -> str:
        """The services' binding: a user-provided ``jwt`` service fetching the demo keys."""
        return vcap_services(self.issuer.service("example-jwt", jwks_uri=self.jwks_uri))

    def close(self) -> None:
        """Stop the JWKS server."""
        self._jwks.__exit__(None, None, None)


# --------------------------------------------------------------------------- processes


def run(
    cmd: list[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    what: str,
    hint: str = "",
    timeout: float = 900,
) -> str:
    """Run a command; on failure raise DemoFailed with its output tail."""
    done = run_process(cmd, cwd=cwd, env=env, timeout=timeout)
    if done.returncode != 0:
        output = tail(done.stdout + done.stderr)
        raise DemoFailedError(f"{what} failed (exit {done.returncode})", output=output, hint=hint)
    return done.stdout


def git_env() -> dict[str, str]:
    """This environment with the demo's git identity."""
    name, email = "demo", "demo@example.invalid"
    return {
        **os.environ,
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
    }


def git(cwd: Path, *args: str, what: str = "git") -> str:
    """Run git as the demo user; on failure raise DemoFailed."""
    # Local file URLs for submodules need this since git 2.38.1.
    return run(
        ["git", "-c", "protocol.file.allow=always", *args], cwd=cwd, env=git_env(), what=what
    ).strip()


@dataclass
class Consumer:
    """What one consumer ended up running, for the summary."""

    name: str
    how: str
    version: str = "?"
    source: str = "?"
    path: str = "?"
    checks: list[tuple[str, bool, str]] = field(default_factory=list)


# --------------------------------------------------------------------------- the demo


class Demo:
    def __init__(self, workdir: Path, *, release_tests: bool) -> None:
        self.workdir = workdir
        self.release_tests = release_tests
        self.console = Console(total=5)
        self.server: DevpiServer | None = None
        self.issuer: DemoIssuer | None = None
        self.services: list[ServerProcess] = []
        self.consumers: list[Consumer] = []
        self.version = ""
        self.tag = ""

    # -- steps -------------------------------------------------------------------

    def start_devpi(self) -> None:
        say = self.console.detail
        wheelhouse = self.workdir / "wheelhouse"
        say("downloading the dependency wheels the demo indexes hold (pip cache makes it quick)")
        # The release's verify step installs exactly requirements/verify.lock (hash-checked,
        # wheels only); the services install their own lock's packages.
        verify_lock = ROOT / "requirements" / "verify.lock"
        build_wheelhouse(wheelhouse / "verify", ["--only-binary", ":all:", "-r", str(verify_lock)])
        service = _requirement_lines(SERVICE_SRC / "requirements-submodule.txt")
        build_wheelhouse(wheelhouse / "service", service)
        for file in [*wheelhouse.glob("verify/*.*"), *wheelhouse.glob("service/*.*")]:
            if not (wheelhouse / file.name).exists():
                shutil.copy2(file, wheelhouse / file.name)
        self.server = DevpiServer.temporary(bases=("root/deps",)).start()
        seed_base_index(self.server, wheelhouse, index="root/deps")
        created = self.server.bootstrap()
        say(f"devpi-server {self.server.url} (pid {self.server.pid}), data in a temp dir")
        say(
            f"indexes: {self.server.staging_index} (volatile), "
            f"{self.server.release_index} (non-volatile), base root/deps "
            f"({len(list(wheelhouse.glob('*.*')))} files; no outside index)"
        )
        if created:
            say("bootstrap: " + "; ".join(created))

    def release(self) -> None:
        """Push a release tag to a bare repository with the release hooks installed."""
        assert self.server is not None
        say = self.console.detail
        host = self.workdir / "git-host" / "common_utils.git"
        git(self.workdir, "init", "-q", "--bare", "-b", "main", str(host), what="git init --bare")
        secrets = self.workdir / "secrets"
        secrets.mkdir(mode=0o700)
        password_file = secrets / "devpi-release-password"
        password_file.write_text(self.server.release_password + "\n")
        password_file.chmod(0o600)
        config = HookConfig(
            devpi_url=self.server.url,
            password_file=password_file,
            devpi_user=self.server.release_user,
            staging_index=self.server.staging_index,
            release_index=self.server.release_index,
            python=sys.executable,
            skip_tests=not self.release_tests,
            # NOTE: a throwaway demo on a laptop: no second account to run the tagged code
            # as (a real git host uses --sandbox-user, docs/release.md).
            no_sandbox=True,
        )
        try:
            install_hooks(host, config)
        except InstallError as ex:
            raise DemoFailedError(f"installing the release hooks: {ex}") from None
        say(f"git host: bare repository {host.relative_to(self.workdir)} with the release hooks")
        say(f"  (common-utils-install-hooks REPO --devpi-user {self.server.release_user} ...)")
        clone = self.workdir / "library"
        git(
            self.workdir,
            "clone",
            "-q",
            "--no-hardlinks",
            str(ROOT),
            str(clone),
            what="git clone of this repository",
        )
        self.tag = _pick_tag(clone)
        self.version = self.tag[1:]
        if git(clone, "tag", "--points-at", "HEAD").splitlines().count(self.tag) == 0:
            git(clone, "tag", "-a", self.tag, "-m", f"demo release {self.tag}")
            say(f"HEAD has no release tag: tagged {self.tag} in the clone only")
        else:
            say(f"HEAD is tagged {self.tag}")
        git(clone, "remote", "add", "host", str(host))
        say(f"git push host HEAD:main {self.tag}   (the push is the release)")
        lines = _push_streamed(clone, ["host", "HEAD:refs/heads/main", self.tag], say)
        released = f"release: released {PROJECT}=={self.version}"
        if not any(released in line for line in lines):
            raise DemoFailedError(
                f"the push of {self.tag} did not publish {PROJECT}=={self.version}",
                output="\n".join(lines[-12:]),
                hint="the hook's lines above say which step failed; on a real git host fix it "
                "and run the retry command they name (docs/release.md)",
            )
        self.git_host = host

    def pip_consumer(self) -> None:
        assert self.server is not None
        say = self.console.detail
        root = self.workdir / "pip-service"
        shutil.copytree(SERVICE_SRC, root, ignore=SERVICE_IGNORE)
        requirements = root / "requirements.txt"
        text = requirements.read_text()
        pin = f"common-utils=={self.version}"
        if "--hash=" in text:
            # A hashed lock: the pin carries the digests of the files just released.
            digests = self.server.api().release_digests(
                self.server.release_index, PROJECT, self.version
            )
            pin += "".join(f" \\\n    --hash=sha256:{d}" for _, d in sorted(digests.items()))
        pinned = PIN.sub(pin, text)
        requirements.write_text(pinned)
        say(f"requirements.txt pins common-utils=={self.version} (the release just made)")
        self._pip_install(root, requirements.name, what="pip install from devpi")
        consumer = Consumer("pip consumer", f"pip install common-utils=={self.version} from devpi")
        self._serve_and_check(consumer, root)

    def submodule_consumer(self) -> None:
        assert self.server is not None
        say = self.console.detail
        upstream = self.workdir / "service-repo"
        shutil.copytree(SERVICE_SRC, upstream, ignore=SERVICE_IGNORE)
        git(upstream, "init", "-q", "-b", "main")
        git(upstream, "add", "-A")
        git(upstream, "commit", "-q", "-m", "sample service")
        say(f"git submodule add <library> submodules/common_utils, pinned to {self.tag}")
        git(
            upstream,
            "submodule",
            "add",
            "-q",
            str(self.git_host),
            "submodules/common_utils",
            what="git submodule add",
        )
        git(upstream / "submodules" / "common_utils", "checkout", "-q", self.tag)
        git(upstream, "add", "-A")
        git(upstream, "commit", "-q", "-m", f"common_utils submodule at {self.tag}")
        root = self.workdir / "submodule-service"
        say("git clone --recurse-submodules (as a new developer or CI would)")
        git(
            self.workdir,
            "clone",
            "-q",
            "--recurse-submodules",
            str(upstream),
            str(root),
            what="git clone --recurse-submodules",
        )
        described = git(root / "submodules" / "common_utils", "describe", "--tags")
        say(f"submodules/common_utils is at {described} (detached HEAD, as submodules are)")
        say("third-party dependencies only: the library comes from the submodule")
        self._pip_install(root, "requirements-submodule.txt", what="pip install of dependencies")
        consumer = Consumer("submodule consumer", f"git submodule at {self.tag}")
        self._serve_and_check(consumer, root)

    # -- helpers -----------------------------------------------------------------

    def _pip_install(self, root: Path, requirements: str, *, what: str) -> None:
        """Create ``root/.venv`` and install ``requirements`` from the release index only."""
        assert self.server is not None
        index = self.server.simple_url(self.server.release_index)
        self.console.detail(f"pip install --index-url {index} -r {requirements}")
        python = make_venv(root / ".venv", with_pip=True)
        done = pip_install(
            python, "-q", "--index-url", index, "-r", str(root / requirements), env=clean_pip_env()
        )
        if done.returncode != 0:
            raise DemoFailedError(
                f"{what} failed (exit {done.returncode})",
                output=tail(done.stdout + done.stderr),
                hint="is the release on team/release? See its /+simple/common-utils/ page",
            )

    def _serve_and_check(self, consumer: Consumer, root: Path) -> None:
        assert self.issuer is not None
        say = self.console.detail
        port = free_port()
        log = root / "uwsgi.log"
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("VCAP_", "LOG_", "PIP_", "PYTHON"))
        }
        env.update(
            {
                "PORT": str(port),
                "VCAP_SERVICES": self.issuer.vcap_services(),
                "LOG_LEVEL": "INFO",
                "LOG_FORMAT": "json",
            }
        )
        uwsgi = root / ".venv" / "bin" / "uwsgi"
        service = ServerProcess.start(
            consumer.name,
            [str(uwsgi), "--ini", "uwsgi.ini", "--http", f"127.0.0.1:{port}"],
            port=port,
            log=log,
            cwd=root,
            env=env,
            new_session=True,
        )
        self.services.append(service)
        _wait_healthy(service)
        say(f"uWSGI pid {service.process.pid} serving on {service.url}")
        self.consumers.append(consumer)
        status, body = _http(service.url + "/")
        consumer.checks.append(
            (
                "GET /",
                status == 200 and body == b"Hello world\n",
                f"{status} {body.decode().strip()!r}",
            )
        )
        status, body = _http(service.url + "/version")
        doc = json.loads(body) if status == 200 else {}
        lib = doc.get("common_utils", {})
        consumer.version, consumer.source = lib.get("version", "?"), lib.get("source", "?")
        consumer.path = str(lib.get("path", "?")).replace(str(self.workdir), "$DEMO")
        expected = "pip" if consumer.name.startswith("pip") else "submodule"
        consumer.checks.append(
            (
                "GET /version",
                status == 200 and consumer.source == expected and consumer.version == self.version,
                f"{status} common_utils {consumer.version} via {consumer.source}",
            )
        )
        payload = json.dumps({"abra": 123, "kadabra": 4}).encode()
        good = self.issuer.token([SCOPE])
        status, body = _http(service.url + "/", data=payload, token=good)
        consumer.checks.append(
            (
                "POST / with scope",
                status == 200 and json.loads(body or b"null") == {"abra": 123},
                f"{status} {body.decode().strip()}",
            )
        )
        weak = self.issuer.token(["other.scope"])
        status, body = _http(service.url + "/", data=payload, token=weak)
        consumer.checks.append(
            ("POST / without scope", status == 403, f"{status} {_problem_title(body)}")
        )
        status, body = _http(service.url + "/", data=payload)
        consumer.checks.append(
            ("POST / without token", status == 401, f"{status} {_problem_title(body)}")
        )
        for name, ok, shown in consumer.checks:
            say(f"{'ok ' if ok else 'BAD'} {name:<22} -> {shown}")
        service.stop()
        self.services.remove(service)
        bad = [name for name, ok, _ in consumer.checks if not ok]
        if bad:
            raise DemoFailedError(
                f"{consumer.name}: unexpected answers to {', '.join(bad)}",
                output=service.log_tail(),
                hint="see the service's log above",
            )

    def summary(self) -> None:
        c = self.console
        c.table(
            ["consumer", "got it by", "common_utils", "loaded as", "checks"],
            [
                [
                    x.name,
                    x.how,
                    x.version,
                    x.source,
                    f"{sum(ok for _, ok, _ in x.checks)}/{len(x.checks)} passed",
                ]
                for x in self.consumers
            ],
        )
        c.say()
        c.table(["step", "took"], [[k, f"{v:.1f}s"] for k, v in c.timings.items()])
        c.say()
        c.say("Read next: docs/consuming.md (both approaches), docs/release.md (the pipeline),")
        c.say("docs/coupling.md (what belongs in a shared library), docs/operations.md (devpi).")

    def close(self) -> None:
        for service in list(self.services):
            service.stop()
        if self.issuer is not None:
            self.issuer.close()
        if self.server is not None:
            self.server.stop()
            self.server.cleanup()


def _requirement_lines(path: Path) -> list[str]:
    lines = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip().rstrip("\\").strip()  # lock lines end in a backslash
        if line and not line.startswith("-"):
            lines.append(line)
    return lines


def _push_streamed(clone: Path, args: list[str], say: Callable[[str], None]) -> list[str]:
    """``git push ARGS`` from ``clone``, showing each line as it comes; return the lines.

    The release hooks run while the push waits, so their lines (``remote: release:
    [build] ok in ...``) appear here as they would in a maintainer's terminal.
    """
    lines: list[str] = []
    process = subprocess.Popen(
        ["git", "push", *args],
        cwd=clone,
        env=git_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    for raw in process.stdout or ():
        for line in raw.replace("\r", "\n").splitlines():
            line = line.rstrip()
            if re.search(r"\d+% \(\d+/\d+\)", line):
                continue  # git's progress meters
            if line.startswith(("remote: ", " * ", " ! ", "To ", "error:")):
                lines.append(line)
                say(line)
    if process.wait(timeout=1800) != 0:
        raise DemoFailedError("git push was refused", output="\n".join(lines[-12:]))
    return lines


def _pick_tag(clone: Path) -> str:
    """HEAD's strict tag, else the next patch after the latest strict tag, else v0.1.0."""
    at_head = [t for t in git(clone, "tag", "--points-at", "HEAD").split() if STRICT_TAG.match(t)]
    if at_head:
        return max(at_head, key=_tag_key)
    tags = [t for t in git(clone, "tag", "--list").split() if STRICT_TAG.match(t)]
    if not tags:
        return "v0.1.0"
    major, minor, patch = _tag_key(max(tags, key=_tag_key))
    return f"v{major}.{minor}.{patch + 1}"


def _tag_key(tag: str) -> tuple[int, int, int]:
    match = STRICT_TAG.match(tag)
    assert match is not None
    return int(match[1]), int(match[2]), int(match[3])


def _http(url: str, *, data: bytes | None = None, token: str | None = None) -> tuple[int, bytes]:
    headers = {"Content-Type": "application/json"} if data is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as ex:
        return int(ex.code), ex.read()


def _problem_title(body: bytes) -> str:
    try:
        return str(json.loads(body).get("title", ""))
    except (ValueError, AttributeError):
        return body.decode(errors="replace")[:60]


def _wait_healthy(service: ServerProcess, timeout: float = 60) -> None:
    try:
        healthy = service.wait_healthy(timeout=timeout, interval=0.2)
    except TimeoutError as ex:
        raise DemoFailedError(str(ex), output=service.log_tail()) from None
    if not healthy:
        raise DemoFailedError(
            f"{service.name}: uWSGI exited with {service.process.returncode}",
            output=service.log_tail(),
            hint="the service's start-up line says why",
        )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="common_utils: the whole workflow for real")
    parser.add_argument(
        "--skip-release-tests",
        action="store_true",
        help="the release's verify step installs from staging but runs no tests",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp directory")
    args = parser.parse_args(argv)
    # SIGTERM behaves like Ctrl-C: the finally block below tears everything down.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    workdir = Path(tempfile.mkdtemp(prefix="common-utils-demo-"))
    demo = Demo(workdir, release_tests=not args.skip_release_tests)
    c = demo.console
    c.say(f"common_utils demo in {workdir}")
    steps: list[tuple[str, Callable[[], None]]] = [
        ("start devpi and bootstrap users and indexes", demo.start_devpi),
        ("release: push a tag to a git host with the release hooks", demo.release),
        ("pip consumer: install from devpi, serve, call", demo.pip_consumer),
        ("submodule consumer: git submodule add, serve, call", demo.submodule_consumer),
    ]
    code = 0
    try:
        demo.issuer = DemoIssuer()
        for number, (title, action) in enumerate(steps, start=1):
            with c.step(number, title):
                action()
        with c.step(5, "summary"):
            demo.summary()
        c.say(c._c("32;1", "demo succeeded: every step and every check passed"))
    except DemoFailedError as ex:
        code = 1
        c.say(c._c("31;1", f"demo failed: {ex}"))
        if ex.output:
            c.say("--- output tail ---")
            c.detail(ex.output)
        if ex.hint:
            c.say(f"hint: {ex.hint}")
    except KeyboardInterrupt:
        code = 130
        c.say("interrupted: tearing down")
    finally:
        demo.close()
        if args.keep:
            c.say(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
        alive = [s.name for s in demo.services if s.process.poll() is None]
        c.say(f"warning: still running: {', '.join(alive)}" if alive else "nothing left running")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
