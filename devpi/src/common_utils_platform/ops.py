#!/usr/bin/env python3
"""Operate the team's devpi in production: install, backups, restore drills, monitoring.

Commands (``common-utils-ops COMMAND --help`` for every option):

- ``init --configfile FILE``: ``devpi-init`` of the data directory the
  ``devpi-server.yml`` names (its role, its ``primary-url`` for a replica), the
  root password read from stdin (never an argument); the database is created
  0600.
- ``render FILE [--env /etc/devpi/host.env]``: print a file of ``devpi/deploy/``
  with this host's name and URL (``DEVPI_HOST``, ``DEVPI_URL`` of the env file)
  and the other host's of the pair (``DEVPI_PEER_HOST``, ``DEVPI_PEER_URL``).
- ``backup --serverdir DIR --dest DIR [--keep N] [--copy-to DIR] [--source URL]``:
  ``devpi-export`` of that server directory into ``DEST/devpi-export-<UTC time>``
  (written under a temporary name and renamed when complete, mode 0700: it holds
  password hashes), keep the newest ``N`` there, and copy it to each
  ``--copy-to`` directory (pruned to ``N`` as well), each copy checked against
  the export's file list. With ``--source`` the release inventory of the
  running server (every file with its sha256, read from the JSON API) is stored
  beside the export as ``inventory.json``.
- ``verify-backup --exports DIR | --export DIR``: check an export (or an
  offsite copy of it) against the file list with sizes and sha256 written with
  it. Exit 1 and name the files otherwise.
- ``restore-drill --exports DIR [--source URL]``: import the newest export into
  an empty temporary directory, start a throwaway devpi-server on it (loopback,
  free port, ``--offline-mode``), and check that every release file of the
  original (``inventory.json`` of the export, or the live ``--source``) is
  served with the same sha256 (downloaded and hashed). Exit 1 otherwise.
- ``status --url PRIMARY [--replica URL ...]``: one line for schedulers and
  alerting from ``/+status`` (the primary up, each replica's level by
  ``replica_level``: serials and seconds behind, link age, replication
  errors), the data directory's free space and the TLS certificate's days to
  expiry; exit 0/1/2/3 = ok/warning/critical/unknown (Nagios plugin
  convention), ``--json`` for the whole result. Thresholds are options; the
  levels are defined in docs/operations.md, section 5.

Errors are one line without traceback and without any secret; a bad option or
configuration exits 2 (``status``: 3, unknown).

Example:
    >>> main(["status", "--url", "http://127.0.0.1:1", "--timeout", "1"])  # doctest: +ELLIPSIS
    CRITICAL: primary http://127.0.0.1:1 down: GET http://127.0.0.1:1/+status: ...
    2
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from common_utils_platform.devpitools import DevpiError, DevpiServer
from common_utils_platform.urls import URLPolicyError, check_url, shown_url

__all__ = [
    "EXPORT_PREFIX",
    "Check",
    "OpsError",
    "backup",
    "inventory",
    "main",
    "replica_level",
    "restore_drill",
    "status",
]

EXPORT_PREFIX = "devpi-export-"
_BIN = Path(sys.executable).parent
OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
_LEVELS = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}


class OpsError(Exception):
    """A failure reported in one line, without any secret.

    Example:
        >>> str(OpsError("devpi-export failed"))
        'devpi-export failed'
    """


class ConfigError(OpsError):
    """A bad option or configuration (exit 2; ``status``: 3)."""


# -- HTTP --------------------------------------------------------------------
def _context(cafile: str | None) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as ex:
        raise ConfigError(f"--cafile {cafile}: cannot load CA certificates ({ex})") from None


def _check_url(url: str, option: str) -> str:
    """The tools' one URL policy (``urls.check_url``) as a configuration error of ``option``."""
    try:
        return check_url(url, name=option)
    except URLPolicyError as ex:
        raise ConfigError(str(ex)) from None


def _get(url: str, *, context: ssl.SSLContext, timeout: float, accept: str) -> bytes:
    req = urllib.request.Request(url, headers={"Accept": accept})  # noqa: S310 (checked)
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as resp:  # noqa: S310
            return bytes(resp.read())
    except urllib.error.HTTPError as ex:
        raise OpsError(f"GET {shown_url(url)}: HTTP {ex.code}") from None
    except (urllib.error.URLError, OSError) as ex:
        reason = getattr(ex, "reason", ex)
        raise OpsError(f"GET {shown_url(url)}: {reason}") from None


def _get_json(url: str, *, context: ssl.SSLContext, timeout: float) -> Any:
    raw = _get(url, context=context, timeout=timeout, accept="application/json")
    try:
        return json.loads(raw)["result"]
    except (ValueError, KeyError, TypeError):
        raise OpsError(f"GET {shown_url(url)}: not a devpi JSON answer") from None


# -- inventory ----------------------------------------------------------------
def inventory(
    url: str, *, context: ssl.SSLContext | None = None, timeout: float = 30
) -> dict[str, dict[str, str]]:
    """Return every release file of every stage index of the server at ``url``.

    Keys are ``user/index/project/version/filename``; values hold the file's
    ``sha256`` and its ``href`` on that server. Mirror indexes (``root/pypi``)
    are not part of a backup and are skipped.

    Raises:
        OpsError: The server cannot be read.

    Example:
        >>> inventory("http://127.0.0.1:1", timeout=1)
        Traceback (most recent call last):
        ...
        common_utils_platform.ops.OpsError: GET http://127.0.0.1:1/: [Errno 111] Connection refused
    """
    ctx = context or ssl.create_default_context()
    base = url.rstrip("/")
    files: dict[str, dict[str, str]] = {}
    users = _get_json(base + "/", context=ctx, timeout=timeout)
    for user, userconfig in sorted(users.items()):
        for index, config in sorted((userconfig.get("indexes") or {}).items()):
            if config.get("type") != "stage":
                continue
            stage = f"{user}/{index}"
            projects = _get_json(f"{base}/{stage}", context=ctx, timeout=timeout)
            for project in sorted(projects.get("projects", [])):
                versions = _get_json(f"{base}/{stage}/{project}", context=ctx, timeout=timeout)
                for version, data in sorted(versions.items()):
                    for link in data.get("+links", []):
                        if link.get("rel") != "releasefile":
                            continue
                        href = urllib.parse.urljoin(base + "/", str(link["href"]))
                        name = href.split("#", 1)[0].rsplit("/", 1)[-1]
                        digest = (link.get("hashes") or {}).get("sha256", "")
                        key = f"{stage}/{project}/{version}/{name}"
                        files[key] = {"sha256": str(digest), "href": href.split("#", 1)[0]}
    return files


def _releases(files: Mapping[str, object]) -> int:
    return len({key.rsplit("/", 1)[0] for key in files})


# -- backup --------------------------------------------------------------------
def _stamp(now: dt.datetime | None = None) -> str:
    return (now or dt.datetime.now(dt.timezone.utc)).strftime("%Y%m%dT%H%M%SZ")


def _exports(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(
        (p for p in directory.iterdir() if p.is_dir() and p.name.startswith(EXPORT_PREFIX)),
        key=lambda p: p.name,
    )


def _prune(directory: Path, keep: int) -> list[Path]:
    exports = _exports(directory)
    gone = exports[: max(0, len(exports) - keep)]
    for path in gone:
        shutil.rmtree(path)
    return gone


def _devpi_tool(name: str) -> str:
    exe = _BIN / name
    return str(exe) if exe.exists() else name


def _check_serverdir(serverdir: Path) -> Path:
    if not (serverdir / ".nodeinfo").is_file():
        raise ConfigError(f"--serverdir {serverdir} is not a devpi-server directory (no .nodeinfo)")
    return serverdir.resolve()


def _size(path: Path) -> tuple[int, int]:
    count = total = 0
    for item in path.rglob("*"):
        if item.is_file():
            count += 1
            total += item.stat().st_size
    return count, total


@dataclasses.dataclass(frozen=True)
class BackupResult:
    """What ``backup`` wrote.

    Example:
        >>> BackupResult(Path("/b/x"), 1.5, 3, 1024, [], []).seconds
        1.5
    """

    path: Path
    seconds: float
    files: int
    size: int
    removed: list[Path]
    copies: list[Path]


def backup(
    serverdir: Path,
    dest: Path,
    *,
    keep: int = 7,
    copy_to: Sequence[Path] = (),
    source: str | None = None,
    context: ssl.SSLContext | None = None,
    now: dt.datetime | None = None,
) -> BackupResult:
    """Export ``serverdir`` into a new dated directory under ``dest``; keep ``keep``.

    Raises:
        ConfigError: ``serverdir`` is no devpi-server directory, or ``keep`` < 1.
        OpsError: ``devpi-export`` or the inventory failed.

    Example:
        >>> backup(Path("/nonexistent"), Path("/tmp"))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        common_utils_platform.ops.ConfigError: --serverdir /nonexistent is not a devpi-server ...
    """
    serverdir = _check_serverdir(serverdir)
    if keep < 1:
        raise ConfigError(f"--keep must be at least 1, got {keep}")
    dest.mkdir(parents=True, exist_ok=True, mode=0o700)
    name = EXPORT_PREFIX + _stamp(now)
    final = dest / name
    if final.exists():
        raise OpsError(f"{final} already exists (two backups in the same second?)")
    partial = dest / f".{name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    started = time.monotonic()
    files = inventory(source, context=context) if source else None
    done = subprocess.run(
        [_devpi_tool("devpi-export"), "--serverdir", str(serverdir), str(partial)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    if done.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        tail = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        raise OpsError(f"devpi-export of {serverdir} failed: {tail[-1] if tail else '?'}")
    partial.chmod(0o700)
    info = {
        "serverdir": str(serverdir),
        "created": _stamp(now),
        "devpi_server": _devpi_server_version(),
        "source": source,
    }
    (partial / "backup-info.json").write_text(json.dumps(info, indent=2) + "\n")
    if files is not None:
        (partial / "inventory.json").write_text(json.dumps(files, indent=1, sort_keys=True))
    _write_manifest(partial)
    partial.rename(final)
    seconds = time.monotonic() - started
    removed = _prune(dest, keep)
    copies = []
    for target in copy_to:
        target.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = target / f".{name}.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(final, tmp)
        problems = verify_export(tmp)
        if problems:
            shutil.rmtree(tmp, ignore_errors=True)
            raise OpsError(f"copy of {name} to {target} differs: {'; '.join(problems[:3])}")
        tmp.rename(target / name)
        _prune(target, keep)
        copies.append(target / name)
    count, size = _size(final)
    return BackupResult(final, seconds, count, size, removed, copies)


MANIFEST = "files.sha256"


def _manifest_lines(export: Path) -> list[str]:
    lines = []
    for item in sorted(export.rglob("*")):
        if item.is_file() and item.name != MANIFEST:
            digest = hashlib.sha256(item.read_bytes()).hexdigest()
            lines.append(f"{digest}  {item.relative_to(export).as_posix()}")
    return lines


def _write_manifest(export: Path) -> None:
    (export / MANIFEST).write_text("\n".join(_manifest_lines(export)) + "\n")


def _parse_manifest(lines: Sequence[str]) -> dict[str, str]:
    pairs = (line.split("  ", 1) for line in lines if "  " in line)
    return {name: digest for digest, name in pairs}


def verify_export(export: Path) -> list[str]:
    """Compare an export (or a copy of it) with its ``files.sha256``; return the problems.

    The list (``sha256sum`` format, so ``sha256sum -c files.sha256`` in the
    export checks it as well) is written by ``backup`` before the export is
    copied anywhere; an empty result means every file is there, unchanged, and
    nothing was added.

    Example:
        >>> verify_export(Path("/nonexistent"))
        ['/nonexistent/files.sha256 missing']
    """
    listing = export / MANIFEST
    if not listing.is_file():
        return [f"{listing} missing"]
    want = _parse_manifest(listing.read_text().splitlines())
    have = _parse_manifest(_manifest_lines(export))
    problems = [f"{name} missing" for name in sorted(want.keys() - have.keys())]
    problems += [f"{name} not in the list" for name in sorted(have.keys() - want.keys())]
    problems += [
        f"{name} differs" for name in sorted(want.keys() & have.keys()) if want[name] != have[name]
    ]
    return problems


def _devpi_server_version() -> str:
    try:
        from importlib.metadata import version

        return version("devpi-server")
    except Exception:  # noqa: BLE001 (informational only)
        return "unknown"


# -- restore drill -------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class DrillResult:
    """What ``restore_drill`` found; ``problems`` empty means it passed.

    Example:
        >>> DrillResult(Path("/b/x"), 4, 2, [], 1.0, 0.5).ok
        True
    """

    export: Path
    files: int
    releases: int
    problems: list[str]
    import_seconds: float
    check_seconds: float

    @property
    def ok(self) -> bool:
        """``True`` when every file came back with the same sha256.

        Example:
            >>> DrillResult(Path("/b/x"), 1, 1, ["x missing"], 1.0, 0.5).ok
            False
        """
        return not self.problems


def newest_export(directory: Path) -> Path:
    """Return the newest ``devpi-export-*`` directory in ``directory``.

    Raises:
        ConfigError: There is none.

    Example:
        >>> newest_export(Path("/nonexistent"))
        Traceback (most recent call last):
        ...
        common_utils_platform.ops.ConfigError: no devpi-export-* directory in /nonexistent
    """
    exports = _exports(directory)
    if not exports:
        raise ConfigError(f"no {EXPORT_PREFIX}* directory in {directory}")
    return exports[-1]


def _sha256_url(url: str, *, context: ssl.SSLContext, timeout: float) -> str:
    req = urllib.request.Request(url)  # noqa: S310 (loopback drill server)
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as resp:  # noqa: S310
            for chunk in iter(lambda: resp.read(1 << 16), b""):
                digest.update(chunk)
    except urllib.error.HTTPError as ex:
        raise OpsError(f"HTTP {ex.code}") from None
    except (urllib.error.URLError, OSError) as ex:
        raise OpsError(str(getattr(ex, "reason", ex))) from None
    return digest.hexdigest()


def restore_drill(
    export: Path,
    *,
    source: str | None = None,
    context: ssl.SSLContext | None = None,
    workdir: Path | None = None,
    keep_dir: bool = False,
    timeout: float = 120,
) -> DrillResult:
    """Import ``export`` into an empty directory, serve it, compare with the original.

    The original is ``source`` (a running server's URL) when given, else the
    ``inventory.json`` ``backup --source`` stored in the export.

    Raises:
        ConfigError: No original to compare with, or ``export`` is no export.
        OpsError: The import or the throwaway server failed.

    Example:
        >>> restore_drill(Path("/nonexistent"))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        common_utils_platform.ops.ConfigError: /nonexistent is not a devpi-export directory (no ...
    """
    if not (export / "dataindex.json").is_file():
        raise ConfigError(f"{export} is not a devpi-export directory (no dataindex.json)")
    if source is not None:
        expected = inventory(source, context=context)
    elif (export / "inventory.json").is_file():
        expected = json.loads((export / "inventory.json").read_text())
    else:
        raise ConfigError(
            f"{export} has no inventory.json (backup without --source): give --source URL"
        )
    temp = Path(tempfile.mkdtemp(prefix="devpi-drill-", dir=workdir))
    server = DevpiServer(
        serverdir=temp / "server", port=0, role="standalone", extra_args=("--offline-mode",)
    )
    server.detach = False
    try:
        started = time.monotonic()
        done = subprocess.run(
            [
                _devpi_tool("devpi-import"),
                "--serverdir",
                str(server.serverdir),
                "--no-root-pypi",
                str(export),
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout * 10,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        import_seconds = time.monotonic() - started
        if done.returncode != 0:
            lines = [ln for ln in (done.stderr or done.stdout).splitlines() if ln.strip()]
            return DrillResult(
                export,
                len(expected),
                _releases(expected),
                [f"devpi-import failed: {lines[-1] if lines else '?'}"],
                import_seconds,
                0.0,
            )
        try:
            server.start(timeout=timeout)
        except DevpiError as ex:
            raise OpsError(f"restored server did not start: {ex}") from None
        started = time.monotonic()
        problems = _compare(expected, server.url, timeout=timeout)
        return DrillResult(
            export,
            len(expected),
            _releases(expected),
            problems,
            import_seconds,
            time.monotonic() - started,
        )
    finally:
        server.stop()
        if not keep_dir:
            shutil.rmtree(temp, ignore_errors=True)


def _compare(expected: Mapping[str, Mapping[str, str]], url: str, *, timeout: float) -> list[str]:
    ctx = ssl.create_default_context()
    restored = inventory(url, context=ctx, timeout=timeout)
    problems = []
    for key, want in sorted(expected.items()):
        got = restored.get(key)
        if got is None:
            problems.append(f"{key} missing")
            continue
        if got["sha256"] != want["sha256"]:
            problems.append(f"{key} has sha256 {got['sha256'][:12]}, not {want['sha256'][:12]}")
            continue
        try:
            actual = _sha256_url(got["href"], context=ctx, timeout=timeout)
        except OpsError as ex:
            problems.append(f"{key} cannot be downloaded ({ex})")
            continue
        if actual != want["sha256"]:
            problems.append(
                f"{key} serves bytes with sha256 {actual[:12]}, not {want['sha256'][:12]}"
            )
    return problems


# -- status --------------------------------------------------------------------
@dataclasses.dataclass
class Check:
    """One monitored fact: its level (0-3), a short message and its value.

    Example:
        >>> Check("primary", 0, "serial 12", 12).as_dict()["status"]
        'ok'
    """

    name: str
    level: int
    message: str
    value: Any = None

    def as_dict(self) -> dict[str, Any]:
        """Return the check for ``--json``.

        Example:
            >>> Check("x", 2, "down").as_dict()
            {'name': 'x', 'status': 'critical', 'message': 'down', 'value': None}
        """
        return {
            "name": self.name,
            "status": _LEVELS[self.level].lower(),
            "message": self.message,
            "value": self.value,
        }


# What each warning limit measures, for ``status --help`` (each option's default is Thresholds').
_THRESHOLD_HELP = {
    "warn_lag": "replica serials behind",
    "warn_free": "percent free below",
    "warn_days": "certificate days left",
    "warn_link": "seconds since a replica heard",
    "warn_behind": "seconds a lagging replica has been behind",
}


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """Warning and critical limits of ``status``.

    Example:
        >>> Thresholds().level_high(15, 10, 100)
        1
    """

    warn_lag: int = 10
    crit_lag: int = 100
    warn_free: float = 15.0
    crit_free: float = 5.0
    warn_days: int = 21
    crit_days: int = 7
    warn_link: float = 120.0
    crit_link: float = 600.0
    warn_behind: float = 300.0
    crit_behind: float = 3600.0

    @staticmethod
    def level_high(value: float, warn: float, crit: float) -> int:
        """Level of a value that is bad when high.

        Example:
            >>> Thresholds.level_high(100, 10, 100)
            2
        """
        return CRITICAL if value >= crit else WARNING if value >= warn else OK

    @staticmethod
    def level_low(value: float, warn: float, crit: float) -> int:
        """Level of a value that is bad when low.

        Example:
            >>> Thresholds.level_low(4, 15, 5)
            2
        """
        return CRITICAL if value < crit else WARNING if value < warn else OK


def cert_days_left(url: str, *, context: ssl.SSLContext, timeout: float) -> float:
    """Return the days until the certificate ``url``'s server presents expires.

    The connection verifies the certificate (chain and host name) with
    ``context``, so an untrusted certificate is an error, as for pip.

    Raises:
        OpsError: No TLS connection could be made or verified.

    Example:
        >>> cert_days_left(
        ...     "https://127.0.0.1:1", context=ssl.create_default_context(), timeout=1
        ... )
        Traceback (most recent call last):
        ...
        common_utils_platform.ops.OpsError: TLS to 127.0.0.1:1: [Errno 111] Connection refused
    """
    parsed = urllib.parse.urlsplit(url)
    host, port = parsed.hostname or "", parsed.port or 443
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as sock,
            context.wrap_socket(sock, server_hostname=host) as tls,
        ):
            cert = tls.getpeercert()
    except (OSError, ssl.SSLError) as ex:
        raise OpsError(f"TLS to {host}:{port}: {ex}") from None
    not_after = str((cert or {}).get("notAfter", ""))
    if not not_after:
        raise OpsError(f"TLS to {host}:{port}: no certificate expiry")
    return (ssl.cert_time_to_seconds(not_after) - time.time()) / 86400


def status(
    url: str,
    *,
    replicas: Sequence[str] = (),
    serverdir: Path | None = None,
    thresholds: Thresholds | None = None,
    context: ssl.SSLContext | None = None,
    timeout: float = 5,
    now: float | None = None,
) -> list[Check]:
    """Check a primary (and its replicas) and return one ``Check`` per fact.

    The replicas are checked (and reported) when the primary is down as well.

    Example:
        >>> [c.as_dict()["status"] for c in status("http://127.0.0.1:1", timeout=1)]
        ['critical']
    """
    limits = thresholds or Thresholds()
    ctx = context or ssl.create_default_context()
    checks: list[Check] = []
    primary: dict[str, Any] | None
    try:
        primary = _get_json(url + "/+status", context=ctx, timeout=timeout)
    except OpsError as ex:
        primary = None
        checks.append(Check("primary", CRITICAL, f"primary {url} down: {ex}"))
    if primary is not None:
        serial = int(primary.get("serial", -1))
        if primary.get("role") == "REPLICA":
            checks.append(
                Check("primary", CRITICAL, f"{url} is a replica, not the primary", serial)
            )
        else:
            version = (primary.get("versioninfo") or {}).get("devpi-server", "?")
            checks.append(
                Check("primary", OK, f"primary serial {serial} (devpi-server {version})", serial)
            )
    for replica_url in replicas:
        checks.append(_replica_check(replica_url, primary, limits, ctx, timeout, now))
    if primary is None:
        return checks
    local = serverdir or Path(str(primary.get("serverdir", "")))
    if serverdir is not None or local.is_dir():
        checks.append(_free_check(local, limits))
    for https in [u for u in (url, *replicas) if u.startswith("https://")]:
        try:
            days = cert_days_left(https, context=ctx, timeout=timeout)
        except OpsError as ex:
            checks.append(Check("certificate", CRITICAL, str(ex)))
            continue
        level = Thresholds.level_low(days, limits.warn_days, limits.crit_days)
        host = urllib.parse.urlsplit(https).netloc
        checks.append(
            Check(
                "certificate",
                level,
                f"certificate of {host} expires in {days:.0f} days",
                round(days, 1),
            )
        )
    return checks


def _replica_check(
    url: str,
    primary: Mapping[str, Any] | None,
    limits: Thresholds,
    ctx: ssl.SSLContext,
    timeout: float,
    now: float | None = None,
) -> Check:
    """Fetch one replica's ``/+status`` and return ``replica_level`` of it."""
    try:
        replica = _get_json(url + "/+status", context=ctx, timeout=timeout)
    except OpsError as ex:
        return Check("replica", CRITICAL, f"replica {url} down: {ex}")
    return replica_level(url, replica, primary, limits, time.time() if now is None else now)


def _number(doc: Mapping[str, Any], key: str) -> float | None:
    """``doc[key]`` as a number, None when absent or null; ValueError otherwise."""
    value = doc.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{key} is {value!r}")
    return float(value)


def replica_level(
    url: str,
    replica: Any,
    primary: Mapping[str, Any] | None,
    limits: Thresholds,
    now: float,
) -> Check:
    """The level of one replica from its ``/+status`` document (docs/operations.md, 5).

    ``replica`` is the replica's status document, ``primary`` the primary's
    (None: the primary did not answer), ``now`` the time of the check. Let
    L (serials behind), S (seconds behind), A (link age) and E (files not
    replicated) be:

    - L = primary ``serial`` - replica ``serial``; with the primary down, the
      replica's last known ``primary-serial`` - its ``serial`` (never below 0;
      unknown when the replica never heard a serial from a primary);
    - S = 0 when L is 0, else ``now`` - ``replica-metadata-in-sync-at`` (the
      last time the replica had everything the primary had; ``replica-started-at``
      if never);
    - A = ``now`` - ``update-from-primary-at`` (the primary's last answer;
      ``replica-started-at`` if none yet);
    - E = the number of ``replication-errors``.

    CRITICAL: role is not ``REPLICA``; ``primary-uuid`` is not the primary's
    ``uuid``; L >= ``crit_lag``; S >= ``crit_behind``; A >= ``crit_link``.
    WARNING (otherwise): L >= ``warn_lag``; S >= ``warn_behind``;
    A >= ``warn_link``; E > 0; L unknown. UNKNOWN: the document is not a
    devpi-server status (no integer ``serial``, a time that is not a number,
    neither ``update-from-primary-at`` nor ``replica-started-at``). OK otherwise.

    Example:
        >>> doc = {"role": "REPLICA", "serial": 9, "primary-serial": 9,
        ...        "update-from-primary-at": 95.0, "replica-started-at": 10.0,
        ...        "replica-metadata-in-sync-at": 95.0}
        >>> replica_level("r", doc, {"serial": 10}, Thresholds(), now=100.0).level
        0
        >>> replica_level("r", doc, {"serial": 20}, Thresholds(), now=100.0).message
        'replica r lags 11 serials, behind for 5 s'
    """
    if not isinstance(replica, Mapping):
        return Check("replica", UNKNOWN, f"replica {url}: /+status is not a status document")
    if replica.get("role") != "REPLICA":
        return Check("replica", CRITICAL, f"{url} is not a replica")
    if primary is not None and replica.get("primary-uuid") not in (None, primary.get("uuid")):
        return Check("replica", CRITICAL, f"replica {url} follows another primary (uuid differs)")
    try:
        serial = replica.get("serial")
        if isinstance(serial, bool) or not isinstance(serial, int):
            raise ValueError(f"serial is {serial!r}")
        started = _number(replica, "replica-started-at")
        heard = _number(replica, "update-from-primary-at")
        in_sync = _number(replica, "replica-metadata-in-sync-at")
        known = _number(replica, "primary-serial")
        primary_serial = _number(primary, "serial") if primary is not None else known
        if heard is None and started is None:
            raise ValueError("no update-from-primary-at and no replica-started-at")
    except ValueError as ex:
        return Check("replica", UNKNOWN, f"replica {url}: /+status is not understood: {ex}")
    levels: list[int] = []
    parts: list[str] = []
    lag: int | None = None
    if primary_serial is None:
        levels.append(WARNING)
        parts.append(f"replica {url} serves serial {serial}, primary serial unknown")
    else:
        lag = max(0, int(primary_serial) - serial)
        levels.append(Thresholds.level_high(lag, limits.warn_lag, limits.crit_lag))
        known_as = "" if primary is not None else " (last known primary serial)"
        parts.append(f"replica {url} lags {lag} serials{known_as}")
        if lag:
            since = in_sync if in_sync is not None else started
            behind = max(0.0, now - since) if since is not None else 0.0
            levels.append(Thresholds.level_high(behind, limits.warn_behind, limits.crit_behind))
            parts.append(f"behind for {behind:.0f} s")
    link_from = heard if heard is not None else started
    age = max(0.0, now - float(link_from or 0.0))
    link_level = Thresholds.level_high(age, limits.warn_link, limits.crit_link)
    levels.append(link_level)
    if link_level or primary is None:
        what = (
            "last answer from the primary"
            if heard is not None
            else "no answer from the primary since the start"
        )
        parts.append(f"{what} {age:.0f} s ago")
    errors = replica.get("replication-errors") or {}
    if errors:
        levels.append(WARNING)
        parts.append(f"{len(errors)} files not replicated yet")
    return Check("replica", max(levels), ", ".join(parts), lag)


def _free_check(path: Path, limits: Thresholds) -> Check:
    try:
        st = os.statvfs(path)
    except OSError as ex:
        return Check("disk", UNKNOWN, f"free space of {path}: {ex.strerror}")
    percent = 100.0 * st.f_bavail / st.f_blocks if st.f_blocks else 0.0
    gib = st.f_bavail * st.f_frsize / 2**30
    level = Thresholds.level_low(percent, limits.warn_free, limits.crit_free)
    return Check("disk", level, f"{percent:.0f}% ({gib:.1f} GiB) free on {path}", round(percent, 1))


def summary(checks: Sequence[Check]) -> tuple[int, str]:
    """Return the overall level and the one line for the checks (worst first).

    Example:
        >>> summary([Check("a", 0, "fine"), Check("b", 1, "lags")])
        (1, 'WARNING: lags; fine')
    """
    level = max((c.level for c in checks), default=UNKNOWN)
    ordered = sorted(checks, key=lambda c: -c.level)
    return level, f"{_LEVELS[level]}: " + "; ".join(c.message for c in ordered)


# -- command line --------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="common-utils-ops",
        description="Backups, restore drills and monitoring of the team's devpi.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("backup", help="dated devpi-export of a server directory, keep N")
    b.add_argument("--serverdir", required=True, type=Path, help="the server's data directory")
    b.add_argument("--dest", required=True, type=Path, help="directory of the exports")
    b.add_argument("--keep", type=int, default=7, help="exports to keep [7]")
    b.add_argument("--copy-to", type=Path, action="append", default=[], help="copy there too")
    b.add_argument("--source", help="URL of the running server: store its release inventory")
    b.add_argument("--cafile", help="CA bundle for an https --source")
    d = sub.add_parser("restore-drill", help="import the newest export and compare")
    where = d.add_mutually_exclusive_group(required=True)
    where.add_argument("--exports", type=Path, help="directory of the exports (newest used)")
    where.add_argument("--export", type=Path, help="one export directory")
    d.add_argument("--source", help="URL of the original server (default: inventory.json)")
    d.add_argument("--cafile", help="CA bundle for an https --source")
    d.add_argument("--workdir", type=Path, help="where the temporary server directory goes")
    d.add_argument("--keep-dir", action="store_true", help="keep the restored directory")
    v = sub.add_parser("verify-backup", help="check an export or its copy against its file list")
    vwhere = v.add_mutually_exclusive_group(required=True)
    vwhere.add_argument("--exports", type=Path, help="directory of the exports (newest checked)")
    vwhere.add_argument("--export", type=Path, help="one export directory")
    i = sub.add_parser("init", help="devpi-init from a config file, root password on stdin")
    i.add_argument("--configfile", required=True, type=Path, help="the devpi-server.yml")
    r = sub.add_parser("render", help="print a deploy file with this host's name and URL")
    r.add_argument("file", type=Path, help="a file of devpi/deploy/")
    r.add_argument("--env", type=Path, default=Path("/etc/devpi/host.env"), help="[%(default)s]")
    s = sub.add_parser("status", help="one line and exit 0/1/2/3 for monitoring")
    s.add_argument("--url", required=True, help="the primary's URL")
    s.add_argument("--replica", action="append", default=[], help="a replica's URL (repeat)")
    s.add_argument("--serverdir", type=Path, help="data directory for the free-space check")
    s.add_argument("--cafile", help="CA bundle that signed the https certificates")
    s.add_argument("--timeout", type=float, default=5.0, help="seconds per request [5]")
    defaults = Thresholds()
    for field in dataclasses.fields(Thresholds):  # --warn-lag, --crit-lag, ... from Thresholds
        value = getattr(defaults, field.name)
        what = _THRESHOLD_HELP.get(field.name, "")
        s.add_argument(
            f"--{field.name.replace('_', '-')}", type=type(value), default=value,
            help=f"{what} [%(default)g]".lstrip(),
        )  # fmt: skip
    s.add_argument("--json", action="store_true", help="print the checks as JSON")
    return parser


def _human(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command and return its exit code.

    Example:
        >>> main(["status", "--url", "ftp://x"])
        UNKNOWN: --url must be an https URL such as https://devpi.example.internal, got 'ftp://x'
        3
    """
    parser = _parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as ex:
        # a usage error of ``status`` is UNKNOWN (3) for the monitoring, not CRITICAL
        bad = 3 if argv[:1] == ["status"] else 2
        return int(ex.code or 0) and bad
    config_exit = UNKNOWN if args.command == "status" else 2
    try:
        if args.command == "backup":
            return _cmd_backup(args)
        if args.command == "restore-drill":
            return _cmd_drill(args)
        if args.command == "verify-backup":
            return _cmd_verify(args)
        if args.command == "init":
            return _cmd_init(args)
        if args.command == "render":
            return _cmd_render(args)
        return _cmd_status(args)
    except ConfigError as ex:
        if args.command == "status":
            print(f"UNKNOWN: {ex}")
        else:
            print(f"error: {ex}", file=sys.stderr)
        return config_exit
    except OpsError as ex:
        print(f"error: {ex}", file=sys.stderr)
        return 1


def _cmd_backup(args: argparse.Namespace) -> int:
    # everything of an export is the devpi user's alone (password hashes), whatever the
    # caller's umask: the unit's UMask=0077, an operator's shell 022
    os.umask(0o077)
    source = _check_url(args.source, "--source") if args.source else None
    ctx = _context(args.cafile) if source else None
    result = backup(
        args.serverdir, args.dest, keep=args.keep, copy_to=args.copy_to, source=source, context=ctx
    )
    copies = "".join(f"; copied to {c.parent}" for c in result.copies)
    print(
        f"backup: {result.path} ({result.files} files, {_human(result.size)}, "
        f"{result.seconds:.1f} s); kept {args.keep}, removed {len(result.removed)}{copies}"
    )
    return 0


def _cmd_drill(args: argparse.Namespace) -> int:
    export = args.export or newest_export(args.exports)
    source = _check_url(args.source, "--source") if args.source else None
    ctx = _context(args.cafile) if source else None
    result = restore_drill(
        export, source=source, context=ctx, workdir=args.workdir, keep_dir=args.keep_dir
    )
    timing = f"import {result.import_seconds:.1f} s, check {result.check_seconds:.1f} s"
    if result.ok:
        print(
            f"restore-drill: OK: {result.files} files of {result.releases} releases from "
            f"{result.export} restored with identical sha256 ({timing})"
        )
        return 0
    print(
        f"restore-drill: FAILED: {len(result.problems)} of {result.files} files missing or "
        f"different in {result.export}: {'; '.join(result.problems[:5])}",
        file=sys.stderr,
    )
    return 1


def _cmd_verify(args: argparse.Namespace) -> int:
    export = args.export or newest_export(args.exports)
    problems = verify_export(export)
    if problems:
        print(
            f"verify-backup: FAILED: {export}: {len(problems)} problems: {'; '.join(problems[:5])}",
            file=sys.stderr,
        )
        return 1
    count = len((export / MANIFEST).read_text().splitlines())
    print(f"verify-backup: OK: {export}: {count} files as listed in {MANIFEST}")
    return 0


def _yaml_keys(path: Path) -> dict[str, str]:
    """The ``key: value`` lines of a devpi-server.yml (one level under ``devpi-server:``)."""
    try:
        text = path.read_text()
    except OSError as ex:
        raise ConfigError(f"--configfile {path}: {ex.strerror}") from None
    keys = {}
    for line in text.splitlines():
        if line.startswith("  ") and ":" in line and not line.strip().startswith("#"):
            key, value = line.strip().split(":", 1)
            keys[key.strip()] = value.strip()
    return keys


def _cmd_init(args: argparse.Namespace) -> int:
    """``devpi-init`` with the config file's directory and role; files 0600/0700.

    The root password is the first line of stdin (never an argument or an
    environment variable); only the options ``devpi-init`` knows are passed, so
    it prints no "Unknown option" lines for the shared config file.
    """
    keys = _yaml_keys(args.configfile)
    if "serverdir" not in keys:
        raise ConfigError(f"--configfile {args.configfile} sets no serverdir")
    serverdir = Path(keys["serverdir"])
    if (serverdir / ".serverversion").exists():
        print(f"init: {serverdir} is initialised already; nothing to do")
        return 0
    argv = ["devpi-init", "--serverdir", str(serverdir)]
    role = keys.get("role", "primary")
    if role == "replica":
        argv += ["--role", "replica", "--primary-url", keys.get("primary-url", "")]
    else:
        password = sys.stdin.readline().rstrip("\n")
        if not password:
            raise ConfigError("no root password on stdin")
        argv.append("--root-passwd=" + password)
    os.umask(0o077)  # the database holds the password hashes
    from devpi_server.init import init  # type: ignore[import-not-found,unused-ignore]

    code = init(argv=argv)  # type: ignore[no-untyped-call,unused-ignore]
    if code:
        raise OpsError(f"devpi-init of {serverdir} failed (exit {code})")
    print(f"init: {serverdir} initialised as {role}")
    return 0


def _cmd_render(args: argparse.Namespace) -> int:
    """Print a deploy file with the names and URLs of the host file (``DEVPI_*``)."""
    env = _yaml_keys_env(args.env)
    host = env.get("DEVPI_HOST", "")
    url = env.get("DEVPI_URL", f"https://{host}")
    if not host:
        raise ConfigError(f"--env {args.env} sets no DEVPI_HOST")
    try:
        text = args.file.read_text()
    except OSError as ex:
        raise ConfigError(f"{args.file}: {ex.strerror}") from None
    text = text.replace("https://devpi.example.internal", url)
    text = text.replace("devpi.example.internal", host)
    peer = env.get("DEVPI_PEER_HOST", "")
    if "devpi-peer.example.internal" in text and not peer:
        raise ConfigError(f"--env {args.env} sets no DEVPI_PEER_HOST (the pair's other host)")
    peer_url = env.get("DEVPI_PEER_URL", f"https://{peer}")
    text = text.replace("https://devpi-peer.example.internal", peer_url)
    print(text.replace("devpi-peer.example.internal", peer), end="")
    return 0


def _yaml_keys_env(path: Path) -> dict[str, str]:
    try:
        lines = path.read_text().splitlines()
    except OSError as ex:
        raise ConfigError(f"--env {path}: {ex.strerror}") from None
    pairs = (line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))
    return {key.strip(): value.strip().strip("'\"") for key, value in pairs}


def _cmd_status(args: argparse.Namespace) -> int:
    url = _check_url(args.url, "--url")
    replicas = [_check_url(r, "--replica") for r in args.replica]
    if not args.crit_lag >= args.warn_lag >= 0:
        raise ConfigError("need 0 <= --warn-lag <= --crit-lag")
    if not args.crit_link >= args.warn_link >= 0:
        raise ConfigError("need 0 <= --warn-link <= --crit-link")
    if not args.crit_behind >= args.warn_behind >= 0:
        raise ConfigError("need 0 <= --warn-behind <= --crit-behind")
    limits = Thresholds(
        **{field.name: getattr(args, field.name) for field in dataclasses.fields(Thresholds)}
    )
    checks = status(
        url,
        replicas=replicas,
        serverdir=args.serverdir,
        thresholds=limits,
        context=_context(args.cafile),
        timeout=args.timeout,
    )
    level, line = summary(checks)
    if args.json:
        print(
            json.dumps(
                {
                    "status": _LEVELS[level].lower(),
                    "code": level,
                    "summary": line,
                    "checks": [c.as_dict() for c in checks],
                },
                indent=2,
            )
        )
    else:
        print(line)
    return level


if __name__ == "__main__":
    sys.exit(main())
