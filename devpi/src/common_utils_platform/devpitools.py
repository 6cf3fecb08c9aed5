"""Run, bootstrap and talk to a devpi-server: the shared half of the platform tools.

``common_utils_platform.server`` (the operator's ``common-utils-devpi``) and
``common_utils_platform.release`` (the pipeline, ``common-utils-release``) are thin
front ends over this module, and the end-to-end tests, the benchmarks and the demo
import it from the installed package to run throwaway servers::

    from common_utils_platform.devpitools import DevpiServer, seed_base_index

Public API:

- ``DevpiServer(serverdir=, host=, port=, root_password=, user=, password=,
  staging_index=, release_index=, bases=, role=, primary_url=, secretfile=)``:
  one devpi-server process with a persistent server directory. ``start()`` runs
  ``devpi-init`` once (with a persistent secret file) and waits until the server
  answers; ``bootstrap()`` creates the team user and the staging and release
  indexes idempotently; ``stop()`` / ``kill()`` end it (by its own pidfile, so a
  later process can stop a server an earlier one started); ``status()`` tells
  whether it runs. Attributes and properties: ``url``, ``user``, ``password``,
  ``root_password``, ``staging_index``, ``release_index``, ``staging_url``,
  ``release_url``, ``simple_url(index)``, ``pid``, ``serverdir``, ``logfile``.
  A context manager: ``with DevpiServer.temporary(...) as server:`` starts a
  bootstrapped server on a free port in a temp dir and stops it afterwards.
- ``DevpiServer.temporary(*, bases=, role=, primary_url=, secretfile=, ...)``:
  such a throwaway server (``bases=("root/deps",)`` with ``seed_base_index``
  for tests that must not reach any outside index).
- ``build_wheelhouse(dest, requirements)``: ``pip download`` requirements (from
  the machine's normal index) into ``dest`` once; returns the files.
- ``seed_base_index(server, wheelhouse, index="root/deps")``: create a base index
  holding those files, so ``team/*`` resolve dependencies without any mirror.
- ``DevpiAPI(url, user=, password=)``: the few JSON calls the tools need
  (``login``, ``get``, ``put``, ``patch``, ``release_digests``, ``doczip_link``,
  ``upload_doczip``).
- ``free_port()``, ``clean_pip_env()`` (an environment whose pip reads no config
  file and no ``PIP_*`` variables, so installs come from ``--index-url`` only).
- ``DevpiError``: every failure here, with a one-line message and no secret.
- ``shown_url(url)``: a URL as messages show it (no userinfo, query values or fragment).

``DevpiAPI`` follows a redirect only within the same scheme, host and port: the
user's credentials are never sent to another origin.

Example:
    >>> server = DevpiServer(serverdir=Path("/tmp/x"), port=3141, password="pw")
    >>> server.release_url
    'http://127.0.0.1:3141/team/release'
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from common_utils_platform.devsupport import clean_pip_env, free_port, scrub_env
from common_utils_platform.urls import URLPolicyError, check_url, shown_url

__all__ = [
    "DEFAULT_BASES",
    "DEFAULT_PROJECTS",
    "DEFAULT_RELEASE_INDEX",
    "DEFAULT_RELEASE_USER",
    "DEFAULT_STAGING_INDEX",
    "DEFAULT_USER",
    "DevpiAPI",
    "DevpiError",
    "DevpiServer",
    "build_wheelhouse",
    "clean_pip_env",
    "free_port",
    "scrub_env",
    "seed_base_index",
    "shown_url",
]

DEFAULT_USER = "team"
DEFAULT_RELEASE_USER = "ci-release"
DEFAULT_PROJECTS = ("common-utils",)
DEFAULT_STAGING_INDEX = "team/staging"
DEFAULT_RELEASE_INDEX = "team/release"
DEFAULT_BASES = ("root/pypi",)
_BIN = Path(sys.executable).parent
# NOTE: devpi-init reads the root password from argv; running it in-process with
# the password on stdin keeps it out of the process list and of /proc/PID/environ.
_INIT_CODE = (
    "import sys; from devpi_server.init import init; "
    "pw = sys.stdin.readline().rstrip('\\n'); "
    # NOTE: "--root-passwd=PW", one word: a password that starts with "-" is no option.
    "sys.exit(init(argv=['devpi-init', *sys.argv[1:], *(['--root-passwd=' + pw] if pw else [])]))"
)
# A registered project needs one version entry (metadata only, no file): pip
# never sees it, but devpi then knows the name is private (see bootstrap).
_PLACEHOLDER_VERSION = "0.0.0.dev0"
_NAME_RE = re.compile(r"[a-z][a-z0-9._-]{0,63}")


class DevpiError(Exception):
    """Report a devpi problem in one line, without any secret.

    Example:
        >>> str(DevpiError("devpi-server is not reachable at http://127.0.0.1:1"))
        'devpi-server is not reachable at http://127.0.0.1:1'
    """


def _origin(url: str) -> tuple[str, str, int | None] | None:
    try:
        parts = urlsplit(url)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    except ValueError:
        return None
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to the same scheme, host and port.

    Every request of ``DevpiAPI`` may carry the user's password (basic auth, or
    the ``/+login`` body); urllib would copy the ``Authorization`` header onto a
    redirect to anywhere. A redirect to another origin ends the request with a
    ``DevpiError`` before anything is sent there (as the JWKS fetcher of
    ``common_utils.auth`` refuses redirects).
    """

    # Python 3.10's handler has no 308 (3.11 added it): a 308 ended as a bare HTTPError
    # there. Mapped like a 302, it gets the same origin check and refusal on every Python.
    if not hasattr(urllib.request.HTTPRedirectHandler, "http_error_308"):  # pragma: no cover
        http_error_308 = urllib.request.HTTPRedirectHandler.http_error_302

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        target = urljoin(req.full_url, newurl)
        if _origin(target) is None or _origin(target) != _origin(req.full_url):
            fp.close()
            raise DevpiError(
                f"{shown_url(req.full_url)} answered HTTP {code} with a redirect to another "
                f"origin ({shown_url(target)}): refused, credentials are never sent there"
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_SameOriginRedirects)


def _check_url(url: str) -> str:
    try:
        return check_url(url, name="devpi URL")
    except URLPolicyError as ex:
        raise DevpiError(str(ex)) from None


class DevpiAPI:
    """Call the devpi-server JSON API as one user (basic auth on every request).

    Args:
        url: Root URL of the server, e.g. ``http://127.0.0.1:3141``.

    Keyword Args:
        user: User name; ``None`` for anonymous requests.
        password: That user's password (never shown in messages or ``repr``).
        timeout: Seconds per request.

    Example:
        >>> api = DevpiAPI("http://127.0.0.1:3141", user="team", password="s3cret")
        >>> "s3cret" in repr(api)
        False
    """

    def __init__(
        self, url: str, *, user: str | None = None, password: str | None = None, timeout: float = 30
    ) -> None:
        self.url = _check_url(url)
        self.user = user
        self._password = password
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"DevpiAPI({self.url!r}, user={self.user!r})"

    def request(
        self, method: str, path: str, body: Any = None, *, anonymous: bool = False
    ) -> tuple[int, Any]:
        """Send one JSON request and return ``(status, decoded body)``.

        Raises:
            DevpiError: The server cannot be reached.

        Example:
            >>> api = DevpiAPI(f"http://127.0.0.1:{free_port()}")
            >>> api.request("GET", "/+api")
            Traceback (most recent call last):
            ...
            common_utils_platform.devpitools.DevpiError: devpi-server is not reachable at http://127.0.0.1:...
        """
        content_type = "application/json"
        if isinstance(body, _RawBody):
            data: bytes | None = body.data
            content_type = body.content_type
        else:
            data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(  # noqa: S310 (scheme checked in _check_url)
            self.url + path, data=data, method=method
        )
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", content_type)
        if self.user is not None and self._password is not None and not anonymous:
            token = base64.b64encode(f"{self.user}:{self._password}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        try:
            with _OPENER.open(req, timeout=self.timeout) as resp:
                return resp.status, _decode(resp.read())
        except urllib.error.HTTPError as ex:
            return ex.code, _decode(ex.read())
        except (urllib.error.URLError, OSError) as ex:
            reason = getattr(ex, "reason", ex)
            raise DevpiError(f"devpi-server is not reachable at {self.url} ({reason})") from None

    def request_raw(
        self, method: str, path: str, data: bytes, content_type: str
    ) -> tuple[int, Any]:
        """Send a non-JSON body (a form upload) and return ``(status, decoded body)``.

        Raises:
            DevpiError: The server cannot be reached.
        """
        return self.request(method, path, _RawBody(data, content_type))

    def get(self, path: str) -> tuple[int, Any]:
        """GET ``path`` (see ``request``)."""
        return self.request("GET", path)

    def put(self, path: str, body: Any) -> tuple[int, Any]:
        """PUT JSON ``body`` to ``path`` (see ``request``)."""
        return self.request("PUT", path, body)

    def patch(self, path: str, body: Any) -> tuple[int, Any]:
        """PATCH ``path`` with JSON ``body`` (see ``request``)."""
        return self.request("PATCH", path, body)

    def login(self) -> None:
        """Check the credentials with ``/+login``.

        Raises:
            DevpiError: Unreachable server, or the server refused the user and password.

        Example:
            >>> api = DevpiAPI(f"http://127.0.0.1:{free_port()}", user="team", password="x")
            >>> api.login()
            Traceback (most recent call last):
            ...
            common_utils_platform.devpitools.DevpiError: devpi-server is not reachable at http://127.0.0.1:...
        """
        status, _ = self.request(
            "POST", "/+login", {"user": self.user, "password": self._password}, anonymous=True
        )
        if status != 200:
            raise DevpiError(
                f"login as {self.user!r} at {self.url} failed (HTTP {status}): "
                "wrong user or password"
            )

    def release_digests(self, index: str, project: str, version: str) -> dict[str, str]:
        """Return ``{filename: sha256}`` of one version on ``index`` (empty if absent)."""
        status, body = self.get(f"/{index}/{project}/{version}")
        if status == 404:
            return {}
        if status != 200:
            raise DevpiError(f"cannot read {project} {version} on {index} (HTTP {status})")
        digests: dict[str, str] = {}
        for link in body.get("result", {}).get("+links", []):
            if link.get("rel") != "releasefile":
                continue
            name = link["href"].rsplit("/", 1)[-1].split("#", 1)[0]
            hashes = link.get("hashes") or {}
            digest = hashes.get("sha256")
            if digest is None and str(link.get("hash_spec", "")).startswith("sha256="):
                digest = link["hash_spec"].split("=", 1)[1]
            digests[name] = str(digest)
        return digests

    def doczip_link(self, index: str, project: str, version: str) -> dict[str, str] | None:
        """Return ``{"href": URL, "sha256": digest}`` of a version's doc zip, or ``None``.

        devpi-server stores one documentation zip per version (``:action`` ``doc_upload``)
        and lists it among the version's ``+links`` with ``rel`` ``doczip``; the ``href``
        is an ordinary ``+f/`` file URL (devpi-web, when installed, also serves the
        unpacked files under ``/INDEX/PROJECT/VERSION/+doc/``).

        Raises:
            DevpiError: Unreachable server, or the version cannot be read.
        """
        status, body = self.get(f"/{index}/{project}/{version}")
        if status == 404:
            return None
        if status != 200:
            raise DevpiError(f"cannot read {project} {version} on {index} (HTTP {status})")
        for link in body.get("result", {}).get("+links", []):
            if link.get("rel") == "doczip":
                digest = (link.get("hashes") or {}).get("sha256", "")
                if not digest and str(link.get("hash_spec", "")).startswith("sha256="):
                    digest = link["hash_spec"].split("=", 1)[1]
                return {"href": str(link["href"]).split("#", 1)[0], "sha256": str(digest)}
        return None

    def upload_doczip(self, index: str, project: str, version: str, data: bytes) -> int:
        """Upload ``data`` as the documentation zip of ``project`` ``version`` on ``index``.

        A form POST with ``:action`` ``doc_upload``, as this API's user (basic auth,
        never shown). Returns the HTTP status: ``200`` when stored, or when a
        non-volatile index already holds these very bytes (devpi answers "Upload of
        identical file to non volatile index"); ``409`` when a non-volatile index holds
        other docs for the version (they never change).

        Raises:
            DevpiError: Unreachable server, or any other answer (403: not allowed).
        """
        body, content_type = _multipart(
            {":action": "doc_upload", "name": project, "version": version},
            ("content", f"{project}-{version}.doc.zip", data),
        )
        status, answer = self.request_raw("POST", f"/{index}/", body, content_type)
        if status not in (200, 409):
            raise DevpiError(
                f"doc upload of {project} {version} to {index} refused "
                f"(HTTP {status}: {' '.join(_message(answer).split())[:120] or 'no details'})"
            )
        return status


def _multipart(fields: Mapping[str, str], file: tuple[str, str, bytes]) -> tuple[bytes, str]:
    """Encode form ``fields`` and one ``(field, filename, data)`` file as multipart/form-data."""
    boundary = secrets.token_hex(16)
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode()
        for key, value in fields.items()
    ]
    name, filename, data = file
    parts.append(
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        + data
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def normalize(name: str) -> str:
    """Return the PEP 503 normalized form of a project name.

    Example:
        >>> normalize("Common_Utils")
        'common-utils'
    """
    return re.sub(r"[-_.]+", "-", name).lower()


class _RawBody:
    def __init__(self, data: bytes, content_type: str) -> None:
        self.data = data
        self.content_type = content_type


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode() or "null")
    except ValueError:
        return {"message": raw.decode(errors="replace")[:200]}


def _message(body: Any) -> str:
    if isinstance(body, dict):
        return str(body.get("message", ""))
    return ""


class DevpiServer:
    """Run one devpi-server with a persistent server directory.

    Keyword Args:
        serverdir: Server data directory (created; ``devpi-init`` runs once).
        host: Address to listen on.
        port: Port to listen on (``0``: a free port).
        root_password: Password of ``root`` (set at init; checked by ``bootstrap``).
        user: The team user that owns the staging and release indexes (an
            admin account: with ``--restrict-modify root`` it cannot change them).
        password: The team user's password.
        release_user: The only user that may upload to staging and release
            (``acl_upload``): the release pipeline's account.
        release_password: The release user's password.
        projects: Private project names registered on staging and release, so
            the public mirror never serves a package of that name through them.
        staging_index: Volatile index uploads land on first.
        release_index: Non-volatile index releases are pushed to.
        bases: Base indexes of both (``root/pypi`` in production).
        role: ``standalone``, ``primary`` or ``replica``.
        primary_url: The primary's URL (replicas only).
        secretfile: Secret shared by a primary and its replicas (default: in serverdir).
        outside_url: URL the server is reached by behind a proxy.
        extra_args: More devpi-server arguments.

    Example:
        >>> server = DevpiServer(serverdir=Path("/tmp/x"), port=3141, password="pw")
        >>> server.url, server.staging_url
        ('http://127.0.0.1:3141', 'http://127.0.0.1:3141/team/staging')
    """

    def __init__(
        self,
        *,
        serverdir: Path,
        host: str = "127.0.0.1",
        port: int = 3141,
        root_password: str = "",
        user: str = DEFAULT_USER,
        password: str = "",
        release_user: str = DEFAULT_RELEASE_USER,
        release_password: str = "",
        projects: Sequence[str] = DEFAULT_PROJECTS,
        staging_index: str = DEFAULT_STAGING_INDEX,
        release_index: str = DEFAULT_RELEASE_INDEX,
        bases: Sequence[str] = DEFAULT_BASES,
        role: str = "standalone",
        primary_url: str | None = None,
        secretfile: Path | None = None,
        outside_url: str | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.serverdir = Path(serverdir).resolve()
        self.host = host
        self.port = port or free_port(host)
        self.root_password = root_password
        self.user = user
        self.password = password
        self.release_user = release_user
        self.release_password = release_password
        self.projects = tuple(projects)
        self.staging_index = staging_index
        self.release_index = release_index
        self.bases = tuple(bases)
        self.role = role
        self.primary_url = primary_url
        self.secretfile = Path(secretfile) if secretfile else self.serverdir / "secret"
        self.outside_url = outside_url
        self.extra_args = tuple(extra_args)
        self._proc: subprocess.Popen[bytes] | None = None
        self._temp: tempfile.TemporaryDirectory[str] | None = None
        self.detach = True

    def __repr__(self) -> str:
        return (
            f"DevpiServer(url={self.url!r}, serverdir={str(self.serverdir)!r}, role={self.role!r})"
        )

    @classmethod
    def temporary(
        cls,
        *,
        root_password: str | None = None,
        password: str | None = None,
        release_password: str | None = None,
        **kwargs: Any,
    ) -> DevpiServer:
        """Return an unstarted server on a free port in a new temp directory.

        The directory is removed by ``cleanup()``/``__exit__``; the passwords
        default to random ones. Keyword arguments are those of the class.

        Example:
            >>> server = DevpiServer.temporary(bases=("root/deps",))
            >>> server.url.startswith("http://127.0.0.1:")
            True
            >>> server.cleanup()
        """
        temp = tempfile.TemporaryDirectory(prefix="devpi-")
        kwargs.setdefault("port", 0)
        server = cls(
            serverdir=Path(temp.name) / "server",
            root_password=root_password or secrets.token_urlsafe(16),
            password=password or secrets.token_urlsafe(16),
            release_password=release_password or secrets.token_urlsafe(16),
            **kwargs,
        )
        server._temp = temp
        # NOTE: a throwaway server dies with the process that started it, even
        # when that one is killed and cannot run its clean-up.
        server.detach = False
        return server

    # -- addresses -------------------------------------------------------------
    @property
    def url(self) -> str:
        """Root URL of the server.

        Example:
            >>> DevpiServer(serverdir=Path("/tmp/x"), port=1234).url
            'http://127.0.0.1:1234'
        """
        return f"http://{self.host}:{self.port}"

    @property
    def staging_url(self) -> str:
        """URL of the staging index (append ``/+simple/`` for pip), as `release_url`."""
        return f"{self.url}/{self.staging_index}"

    @property
    def release_url(self) -> str:
        """URL of the release index (append ``/+simple/`` for pip).

        Example:
            >>> server = DevpiServer(serverdir=Path("/tmp/x"), port=1234)
            >>> server.release_url, server.staging_url
            ('http://127.0.0.1:1234/team/release', 'http://127.0.0.1:1234/team/staging')
        """
        return f"{self.url}/{self.release_index}"

    def simple_url(self, index: str) -> str:
        """Return the pip ``--index-url`` of ``index``.

        Example:
            >>> DevpiServer(serverdir=Path("/tmp/x"), port=1234).simple_url("team/release")
            'http://127.0.0.1:1234/team/release/+simple/'
        """
        return f"{self.url}/{index}/+simple/"

    @property
    def pidfile(self) -> Path:
        """``SERVERDIR/devpi-server.pid``: written by ``start``, read by ``stop``/``status``."""
        return self.serverdir / "devpi-server.pid"

    @property
    def logfile(self) -> Path:
        """``SERVERDIR/devpi-server.log``: where the server's output goes."""
        return self.serverdir / "devpi-server.log"

    def api(
        self, *, as_root: bool = False, anonymous: bool = False, as_release: bool = False
    ) -> DevpiAPI:
        """Return a ``DevpiAPI`` for the team user, ``root``, the release user or anonymous.

        Example:
            >>> DevpiServer(serverdir=Path("/tmp/x"), port=1234).api(as_root=True)
            DevpiAPI('http://127.0.0.1:1234', user='root')
        """
        if anonymous:
            return DevpiAPI(self.url)
        if as_root:
            return DevpiAPI(self.url, user="root", password=self.root_password)
        if as_release:
            return DevpiAPI(self.url, user=self.release_user, password=self.release_password)
        return DevpiAPI(self.url, user=self.user, password=self.password)

    # -- process ---------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        """PID of the running server (from the pidfile), or ``None``.

        Example:
            >>> DevpiServer(serverdir=Path("/nonexistent")).pid is None
            True
        """
        try:
            pid = int(self.pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if _is_our_server(pid, self.serverdir) else None

    def status(self) -> str:
        """Return ``running``, ``stopped`` or ``not responding``.

        Example:
            >>> DevpiServer(serverdir=Path("/nonexistent")).status()
            'stopped'
        """
        if self.pid is None:
            return "stopped"
        return "running" if self._responds() else "not responding"

    def _responds(self) -> bool:
        try:
            status, _ = DevpiAPI(self.url, timeout=2).get("/+api")
        except DevpiError:
            return False
        return status == 200

    def init(self) -> bool:
        """Run ``devpi-init`` unless the server directory is initialised.

        Also creates the secret file (kept across restarts, so logins survive).
        Returns ``True`` when it initialised.
        """
        _private_dir(self.serverdir)
        if self.role != "replica" and not self.secretfile.exists():
            self._gen_secret()
        if (self.serverdir / ".serverversion").exists():
            return False
        args = ["--serverdir", str(self.serverdir)]
        password = ""
        if self.role == "replica":
            if not self.primary_url:
                raise DevpiError("a replica needs primary_url")
            args += ["--role", "replica", "--primary-url", self.primary_url]
        else:
            password = self.root_password
            if "root/pypi" not in self.bases:
                args.append("--no-root-pypi")
        done = subprocess.run(
            [sys.executable, "-c", _INIT_CODE, *args],
            env=scrub_env(),
            input=password + "\n",
            capture_output=True,
            text=True,
            check=False,
            umask=0o077,
        )
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:]
            raise DevpiError(f"devpi-init failed in {self.serverdir}: {' '.join(tail)}")
        return True

    def _gen_secret(self) -> None:
        if self.secretfile.parent != self.serverdir:
            self.secretfile.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.secretfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(base64.b64encode(os.urandom(32)).decode())

    def command(self) -> list[str]:
        """Return the devpi-server command line ``start`` runs.

        Example:
            >>> cmd = DevpiServer(serverdir=Path("/tmp/x"), port=1234).command()
            >>> cmd[cmd.index("--restrict-modify") + 1]
            'root'
        """
        exe = _BIN / "devpi-server"
        cmd = [
            str(exe) if exe.exists() else "devpi-server",
            "--serverdir",
            str(self.serverdir),
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--secretfile",
            str(self.secretfile),
            "--restrict-modify",
            "root",
        ]
        if self.role == "replica":
            if not self.primary_url:
                raise DevpiError("a replica needs primary_url")
            cmd += ["--role", "replica", "--primary-url", self.primary_url]
        elif self.role == "primary":
            cmd += ["--role", "primary"]
        if self.outside_url:
            cmd += ["--outside-url", self.outside_url]
        return [*cmd, *self.extra_args]

    def start(self, *, timeout: float = 90) -> DevpiServer:
        """Initialise if needed, start in the background and wait until it answers.

        Raises:
            DevpiError: Already running, the port is taken, or it did not come up.
        """
        if self.pid is not None:
            raise DevpiError(f"devpi-server already running (pid {self.pid}) at {self.url}")
        if self._responds():
            raise DevpiError(f"another server already answers at {self.url}")
        self.init()
        # NOTE: the log may hold request lines; created 0600 like everything the
        # server writes (umask 077 below).
        fd = os.open(self.logfile, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "ab") as log:
            # NOTE: a persistent server gets its own session, so Ctrl-C in the
            # starting shell does not kill it.
            self._proc = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=self.detach,
                preexec_fn=None if self.detach else _die_with_parent,
                # NOTE: no DEVPI_*PASSWORD (nor any other credential) in the
                # server's /proc/PID/environ; files it creates are 0600.
                env={**scrub_env(), "PYTHONWARNINGS": "ignore"},
                umask=0o077,
            )
        fd = os.open(self.pidfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{self._proc.pid}\n")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self.pidfile.unlink(missing_ok=True)
                raise DevpiError(
                    f"devpi-server exited with {self._proc.returncode} during start-up; "
                    f"see {self.logfile}: {_last_line(self.logfile)}"
                )
            if self._responds():
                return self
            time.sleep(0.1)
        self.stop()
        raise DevpiError(f"devpi-server did not answer at {self.url} within {timeout:.0f} s")

    def stop(self, *, timeout: float = 30) -> bool:
        """Stop the server (SIGTERM, then SIGKILL); return ``True`` if one ran.

        Example:
            >>> DevpiServer(serverdir=Path("/nonexistent")).stop()
            False
        """
        return self._signal(signal.SIGTERM, timeout)

    def kill(self) -> bool:
        """Kill the server with SIGKILL (no chance to clean up), as a crash would.

        Example:
            >>> DevpiServer(serverdir=Path("/nonexistent")).kill()
            False
        """
        return self._signal(signal.SIGKILL, 10)

    def _signal(self, sig: signal.Signals, timeout: float) -> bool:
        pid = self.pid
        if pid is None:
            self.pidfile.unlink(missing_ok=True)
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        if not self._wait_gone(pid, timeout):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            self._wait_gone(pid, 10)
        self.pidfile.unlink(missing_ok=True)
        return True

    def _wait_gone(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.pid == pid:
                if self._proc.poll() is not None:
                    return True
            elif not _is_our_server(pid, self.serverdir):
                return True
            time.sleep(0.05)
        return False

    def wait_for_serial(self, serial: int, *, timeout: float = 60) -> None:
        """Wait until this (replica) server has caught up with ``serial``."""
        deadline = time.monotonic() + timeout
        current = -1
        while time.monotonic() < deadline:
            status, body = DevpiAPI(self.url, timeout=5).get("/+status")
            if status == 200:
                current = int(body["result"].get("serial", -1))
                if current >= serial:
                    return
            time.sleep(0.1)
        raise DevpiError(f"{self.url} reached serial {current}, not {serial}, in {timeout:.0f} s")

    def serial(self) -> int:
        """Return the server's current change serial."""
        status, body = DevpiAPI(self.url, timeout=5).get("/+status")
        if status != 200:
            raise DevpiError(f"cannot read /+status of {self.url} (HTTP {status})")
        return int(body["result"]["serial"])

    def cleanup(self) -> None:
        """Remove the temp directory of a ``temporary()`` server.

        Example:
            >>> DevpiServer.temporary().cleanup()
        """
        if self._temp is not None:
            self._temp.cleanup()
            self._temp = None

    def __enter__(self) -> DevpiServer:
        if self.pid is None:
            self.start()
        if self.role != "replica":
            self.bootstrap()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
        self.cleanup()

    # -- bootstrap -------------------------------------------------------------
    def bootstrap(self, *, rotate_passwords: bool = False) -> list[str]:
        """Create the users and indexes, or bring them to the wanted state.

        - the team user (owner of the indexes) and the release user;
        - ``staging`` (volatile) and ``release`` (non-volatile), both with
          ``mirror_whitelist`` empty and ``acl_upload`` = the release user only;
        - every name of ``projects`` registered on both (a metadata-only
          placeholder version): from the first minute a project of that name on
          the public mirror is hidden behind them (dependency confusion).

        Idempotent: a second call changes nothing and returns ``[]``. Checks the
        root password first. An existing user whose password differs from the
        configured one is never reset silently: that is an error unless
        ``rotate_passwords`` is set.

        Raises:
            DevpiError: Wrong root password, a password that would be reset, or
                the server refused a change.
        """
        root = self._root_login()
        for index in (self.staging_index, self.release_index):
            owner = index.split("/", 1)[0]
            if index.count("/") != 1 or owner != self.user:
                raise DevpiError(f"index {index!r} must be of the form {self.user}/NAME")
        if not self.release_password:
            raise DevpiError("the release user's password is not set (DEVPI_RELEASE_PASSWORD)")
        accounts = [
            (self.user, self.password, "DEVPI_TEAM_PASSWORD"),
            (self.release_user, self.release_password, "DEVPI_RELEASE_PASSWORD"),
        ]
        changes: list[str] = []
        # NOTE: check every password before changing anything.
        existing = {
            name: self._password_matches(name, password, variable, rotate_passwords)
            for name, password, variable in accounts
        }
        for name, password, _ in accounts:
            changes += _ensure_user(root, name, password, existing[name])
        for base in self.bases:
            if (
                base != "root/pypi"
                and base not in (self.staging_index, self.release_index)
                and root.get(f"/{base}")[0] == 404
            ):
                # NOTE: a missing base becomes an empty stage index to seed later
                # (tests: root/deps); an existing one (a mirror) is left alone.
                changes += _ensure_index(
                    root, base, {"type": "stage", "bases": [], "mirror_whitelist": []}
                )
        wanted = {
            self.staging_index: {"volatile": True},
            self.release_index: {"volatile": False},
        }
        for index, extra in wanted.items():
            config: dict[str, Any] = {
                "type": "stage",
                "bases": list(self.bases),
                "mirror_whitelist": [],
                "acl_upload": [self.release_user],
                **extra,
            }
            changes += _ensure_index(root, index, config)
        release = self.api(as_release=True)
        for index in wanted:
            for project in self.projects:
                changes += _register_project(release, index, project)
        return changes

    def add_person(
        self,
        name: str,
        password: str,
        *,
        index: str = "dev",
        rotate_password: bool = False,
    ) -> list[str]:
        """Create a person's account and their own volatile index ``NAME/dev``.

        People read every index and upload only to their own (``acl_upload`` of
        a new index is its owner); ``team/staging`` and ``team/release`` accept
        uploads from the release user alone. The person's index uses the
        release index as base, so ``pip install`` from it sees the releases.
        Idempotent; an existing password is never reset unless
        ``rotate_password``.

        Raises:
            DevpiError: Wrong root password, a password that would be reset, a
                reserved name, or the server refused a change.
        """
        if name in ("root", self.user, self.release_user) or not _NAME_RE.fullmatch(name):
            raise DevpiError(f"{name!r} cannot be a person's account name")
        root = self._root_login()
        exists = self._password_matches(name, password, "DEVPI_PERSON_PASSWORD", rotate_password)
        changes = _ensure_user(root, name, password, exists)
        changes += _ensure_index(
            root,
            f"{name}/{index}",
            {
                "type": "stage",
                "bases": [self.release_index],
                "volatile": True,
                "mirror_whitelist": [],
                "acl_upload": [name],
            },
        )
        return changes

    def _root_login(self) -> DevpiAPI:
        root = self.api(as_root=True)
        try:
            root.login()
        except DevpiError as ex:
            if "not reachable" in str(ex):
                raise
            raise DevpiError(
                f"root login at {self.url} failed: DEVPI_ROOT_PASSWORD does not match "
                "the root password the server was initialised with"
            ) from None
        return root

    def _password_matches(self, name: str, password: str, variable: str, rotate: bool) -> bool:
        """Return whether ``name`` exists; refuse a password change unless ``rotate``."""
        status, _ = self.api(anonymous=True).get(f"/{name}")
        if status == 404:
            return False
        _expect((status, None), f"read user {name}")
        try:
            DevpiAPI(self.url, user=name, password=password).login()
        except DevpiError as ex:
            if "not reachable" in str(ex):
                raise
            if rotate:
                return True
            raise DevpiError(
                f"user {name!r} already exists with a different password than {variable}: "
                "bootstrap never resets a password; pass --rotate-passwords to set it"
            ) from None
        return True


def _ensure_user(api: DevpiAPI, name: str, password: str, exists: bool) -> list[str]:
    if not exists:
        _expect(api.put(f"/{name}", {"password": password}), f"create user {name}")
        return [f"created user {name}"]
    try:
        DevpiAPI(api.url, user=name, password=password).login()
    except DevpiError:
        _expect(api.patch(f"/{name}", {"password": password}), f"set password of {name}")
        return [f"rotated the password of user {name}"]
    return []


def _register_project(api: DevpiAPI, index: str, project: str) -> list[str]:
    """Register ``project`` on ``index`` (metadata only) unless it is already there."""
    project = normalize(project)
    # NOTE: the index's own project list; /INDEX/PROJECT answers 200 when only a
    # base (the public mirror) has the project, which is the case to prevent.
    status, body = api.get(f"/{index}")
    _expect((status, body), f"read index {index}")
    if project in {normalize(p) for p in body["result"].get("projects", [])}:
        return []
    boundary = secrets.token_hex(12)
    fields = {
        ":action": "submit",
        "name": project,
        "version": _PLACEHOLDER_VERSION,
        "metadata_version": "2.1",
        "summary": "placeholder: registers the private name (no files)",
    }
    body = (
        "".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'
            for key, value in fields.items()
        )
        + f"--{boundary}--\r\n"
    )
    result = api.request_raw(
        "POST", f"/{index}/", body.encode(), f"multipart/form-data; boundary={boundary}"
    )
    _expect(result, f"register project {project} on {index}")
    return [f"registered project {project} on {index} (private name, no files)"]


def _private_dir(path: Path) -> None:
    """Create ``path`` (and parents) and make ``path`` itself 0700."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.mkdir(mode=0o700, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)


def _ensure_index(api: DevpiAPI, index: str, config: dict[str, Any]) -> list[str]:
    status, body = api.get(f"/{index}")
    if status == 404:
        _expect(api.put(f"/{index}", config), f"create index {index}")
        volatile = config.get("volatile", True)
        return [f"created index {index} (volatile={volatile}, bases={config['bases']})"]
    _expect((status, body), f"read index {index}")
    current = body["result"]
    differs = {
        key: value
        for key, value in config.items()
        if (list(current.get(key, [])) if isinstance(value, list) else current.get(key)) != value
    }
    if not differs:
        return []
    new = {k: v for k, v in current.items() if k not in ("projects", "+elinks")}
    new.update(config)
    _expect(api.patch(f"/{index}", new), f"update index {index}")
    return [f"updated index {index}: {', '.join(sorted(differs))}"]


def _expect(result: tuple[int, Any], what: str) -> None:
    status, body = result
    if status not in (200, 201):
        raise DevpiError(f"could not {what} (HTTP {status}: {_message(body)})")


def _is_our_server(pid: int, serverdir: Path) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return _pid_alive(pid)
    args = [a.decode(errors="replace") for a in cmdline]
    return str(serverdir) in args and any("devpi-server" in a for a in args[:2])


def _die_with_parent() -> None:
    if sys.platform == "linux":
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""


def build_wheelhouse(dest: Path, requirements: Iterable[str], *, quiet: bool = True) -> list[Path]:
    """Download ``requirements`` and their dependencies into ``dest`` with pip.

    Uses the machine's normal pip configuration (the public index); skip the
    download when ``dest`` already holds files. Returns the files in ``dest``.

    Raises:
        DevpiError: pip failed.
    """
    dest.mkdir(parents=True, exist_ok=True)
    marker = dest / ".complete"
    if not marker.exists():
        cmd = [sys.executable, "-m", "pip", "download", "-d", str(dest), *list(requirements)]
        done = subprocess.run(cmd, capture_output=quiet, text=True, check=False)
        if done.returncode != 0:
            raise DevpiError(f"pip download failed: {(done.stderr or '').strip()[-300:]}")
        marker.write_text("ok\n")
    return sorted(p for p in dest.iterdir() if p.suffix in (".whl", ".gz", ".zip"))


def seed_base_index(server: DevpiServer, wheelhouse: Path, *, index: str = "root/deps") -> str:
    """Create ``index`` (as root) holding every file of ``wheelhouse``.

    Give it to ``DevpiServer(bases=(index,))`` so the team indexes resolve their
    dependencies without a mirror of any outside index. Idempotent. Returns the
    index URL.

    Raises:
        DevpiError: The index cannot be created or the upload failed.
    """
    root = server.api(as_root=True)
    _ensure_index(root, index, {"type": "stage", "bases": [], "mirror_whitelist": []})
    files = sorted(p for p in wheelhouse.iterdir() if p.suffix in (".whl", ".gz", ".zip"))
    if files:
        env = {**os.environ, "TWINE_PASSWORD": server.root_password, "TWINE_USERNAME": "root"}
        twine = [sys.executable, "-m", "twine", "upload", "--non-interactive"]
        done = subprocess.run(
            [
                *twine,
                "--disable-progress-bar",
                "--repository-url",
                f"{server.url}/{index}/",
                *map(str, files),
            ],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise DevpiError(f"seeding {index} failed: {done.stdout[-300:]} {done.stderr[-300:]}")
    return f"{server.url}/{index}"


def sha256_of(path: Path) -> str:
    """Return the hex sha256 digest of a file.

    Example:
        >>> import tempfile
        >>> with tempfile.NamedTemporaryFile() as fh:
        ...     sha256_of(Path(fh.name))[:8]
        'e3b0c442'
    """
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def rmtree(path: Path) -> None:
    """Remove a directory tree if it exists.

    Example:
        >>> rmtree(Path("/nonexistent/dir"))
    """
    shutil.rmtree(path, ignore_errors=True)
