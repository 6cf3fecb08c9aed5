"""A stand-in for the ``cf`` CLI and the Python buildpack, for docs/consuming.md's test.

Cloud Foundry cannot run here. ``tests/e2e/test_consuming_page.py`` puts a ``cf`` on
the reader's ``PATH`` that runs this file, which does what the commands of the page
ask of a foundation, on loopback:

- ``cf create-user-provided-service NAME -t TAGS -p JSON`` records the service;
- ``cf push [--var NAME=VALUE ...]`` reads ``manifest.yml`` of the current directory
  (``((name))`` variables filled from ``--var``), uploads the directory as the CLI
  does (never ``.git``, nor what ``.cfignore`` names), stages it as the Python
  buildpack does (``pip install -r requirements.txt`` into a fresh virtualenv with the
  manifest's ``env`` and no other pip configuration; no ``requirements.txt`` fails
  staging), stops the app's previous instance, starts the manifest's ``command`` in
  the droplet with ``PORT``, ``VCAP_SERVICES`` (the bound services) and
  ``VCAP_APPLICATION`` set, and waits (bounded) until the HTTP health check on the
  manifest's endpoint answers 200. The app keeps running after the command returns.

The one change to what the manifest says: ``:$PORT`` in the command becomes
``127.0.0.1:$PORT`` (loopback only). The route's port is ``FAKE_CF_PORT``; the state
(services, droplets, the running app's pid) lives in ``FAKE_CF_STATE``. Standard
library and PyYAML only: it runs as a script.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import venv
from pathlib import Path
from typing import Any

import yaml

# What the CLI never uploads, besides the patterns of .cfignore.
DEFAULT_IGNORED = (".cfignore", "manifest.yml", ".gitignore", ".git", ".hg", ".svn", "_darcs",
                   ".DS_Store")  # fmt: skip
STAGING_TIMEOUT = 600
HEALTH_TIMEOUT = 120


class CfError(Exception):
    """A failed command: one line for the user."""


def _state() -> Path:
    return Path(os.environ["FAKE_CF_STATE"])


def create_user_provided_service(args: list[str]) -> None:
    """Record a user-provided service: its name, tags and credentials."""
    name, rest = args[0], args[1:]
    options = dict(zip(rest[::2], rest[1::2], strict=True))
    credentials = options.get("-p", "{}")
    if not credentials.lstrip().startswith("{"):
        credentials = Path(credentials).read_text()
    tags = [t.strip() for t in options.get("-t", "").split(",") if t.strip()]
    service = {
        "name": name,
        "instance_name": name,
        "label": "user-provided",
        "tags": tags,
        "credentials": json.loads(credentials),
        "binding_name": None,
        "syslog_drain_url": "",
        "volume_mounts": [],
    }
    services = _state() / "services"
    services.mkdir(parents=True, exist_ok=True)
    (services / f"{name}.json").write_text(json.dumps(service))
    print(f"Creating user provided service {name}...\nOK")


def _fill(value: Any, variables: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _fill(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, variables) for v in value]
    if isinstance(value, str):
        for name, given in variables.items():
            value = value.replace(f"(({name}))", given)
        if "((" in value:
            raise CfError(f"Expected to find variables: {value}")
    return value


def _ignored(relative: str, is_dir: bool, patterns: list[str]) -> bool:
    name = relative.rsplit("/", 1)[-1]
    if name in DEFAULT_IGNORED:
        return True
    for pattern in patterns:
        if pattern.endswith("/"):
            if not is_dir:
                continue
            pattern = pattern.rstrip("/")
        anchored = pattern.startswith("/") or "/" in pattern
        target = relative if anchored else name
        if fnmatch.fnmatchcase(target, pattern.lstrip("/")):
            return True
    return False


def upload(source: Path, dest: Path) -> int:
    """Copy what the CLI uploads of ``source`` to ``dest``; return the number of files."""
    cfignore = source / ".cfignore"
    patterns = [
        line.strip()
        for line in (cfignore.read_text().splitlines() if cfignore.is_file() else [])
        if line.strip() and not line.startswith("#")
    ]
    count = 0
    for root, dirs, files in os.walk(source):
        base = Path(root).relative_to(source)
        dirs[:] = [d for d in dirs if not _ignored((base / d).as_posix(), True, patterns)]
        for name in files:
            relative = (base / name).as_posix()
            if _ignored(relative, False, patterns) or (Path(root) / name).is_symlink():
                continue
            target = dest / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(Path(root) / name, target)
            count += 1
    return count


def _alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def stop(pidfile: Path) -> None:
    """Stop the app's running instance (its process group), bounded."""
    if not pidfile.is_file():
        return
    pgid = int(pidfile.read_text())
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while _alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    pidfile.unlink()


def _healthy(url: str, proc: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + HEALTH_TIMEOUT
    while time.monotonic() < deadline and proc.poll() is None:
        with (
            contextlib.suppress(OSError, urllib.error.URLError),
            urllib.request.urlopen(url, timeout=2) as resp,
        ):
            if resp.status == 200:
                return True
        time.sleep(0.2)
    return False


def push(args: list[str]) -> None:
    """Stage and start the app of ``manifest.yml``; wait for its health check."""
    variables = {}
    for i, arg in enumerate(args):
        if arg == "--var":
            name, _, value = args[i + 1].partition("=")
            variables[name] = value
        elif arg.startswith("--var="):
            name, _, value = arg.removeprefix("--var=").partition("=")
            variables[name] = value
    source = Path.cwd()
    manifest = _fill(yaml.safe_load((source / "manifest.yml").read_text()), variables)
    (app,) = manifest["applications"]
    name = app["name"]
    state = _state()
    port = int(os.environ["FAKE_CF_PORT"])
    print(f"Pushing app {name}...")
    droplet = state / "droplets" / f"{name}-{time.monotonic_ns()}"
    files = upload(source, droplet / "app")
    print(f"Uploaded {files} files")
    if not (droplet / "app" / "requirements.txt").is_file():
        raise CfError("staging failed: the Python buildpack found no requirements.txt")
    env = {str(k): str(v) for k, v in (app.get("env") or {}).items()}
    base = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(droplet / "app")}
    venv.EnvBuilder(with_pip=True, clear=True, symlinks=True).create(droplet / "deps")
    python = droplet / "deps" / "bin" / "python"
    staging = subprocess.run(
        [str(python), "-m", "pip", "install", "--no-cache-dir", "-r", "requirements.txt"],
        cwd=droplet / "app",
        env={**base, "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1", **env},
        capture_output=True,
        text=True,
        timeout=STAGING_TIMEOUT,
        check=False,
    )
    if staging.returncode != 0:
        print(staging.stdout[-3000:] + staging.stderr[-3000:])
        raise CfError("staging failed: pip install -r requirements.txt")
    print("Staging complete")
    bound = []
    for service in app.get("services") or []:
        path = state / "services" / f"{service}.json"
        if not path.is_file():
            raise CfError(f"Service instance {service} not found")
        bound.append(json.loads(path.read_text()))
    url = f"http://127.0.0.1:{port}"
    runtime = {
        **base,
        **env,
        "PATH": f"{python.parent}:/usr/bin:/bin",
        "PORT": str(port),
        "VCAP_SERVICES": json.dumps({"user-provided": bound}),
        "VCAP_APPLICATION": json.dumps(
            {
                "application_name": name,
                "name": name,
                "application_uris": [url],
                "space_name": "docs-test",
                "instance_index": 0,
            }
        ),
    }
    command = app["command"].replace(":$PORT", "127.0.0.1:$PORT")
    pidfile = state / f"{name}.pid"
    stop(pidfile)
    with (state / f"{name}.log").open("ab") as log:
        proc = subprocess.Popen(
            ["bash", "-c", f"exec {command}"],
            cwd=droplet / "app",
            env=runtime,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    pidfile.write_text(str(proc.pid))
    endpoint = app.get("health-check-http-endpoint", "/")
    if not _healthy(url + endpoint, proc):
        stop(pidfile)
        tail = (state / f"{name}.log").read_text(errors="replace")[-3000:]
        raise CfError(f"Start unsuccessful: {endpoint} did not answer 200\n{tail}")
    print(f"name: {name}\nroutes: {url}\n     state   since\n#0   running")


def main(argv: list[str]) -> int:
    """Run one ``cf`` command; status 1 with the reason on stderr when it fails."""
    commands = {"create-user-provided-service": create_user_provided_service, "push": push}
    if not argv or argv[0] not in commands:
        print(f"fake cf: unsupported command: {' '.join(argv)}", file=sys.stderr)
        return 1
    try:
        commands[argv[0]](argv[1:])
    except CfError as ex:
        print(f"FAILED\n{ex}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
