"""Health and version resources every service mounts.

``GET /health`` runs the service's checks, each bounded by a timeout, and
answers 200 or 503 (the Cloud Foundry HTTP health check and load balancers only
look at the status). ``GET /version`` tells an operator what is deployed: the
app's version and which copy of common_utils it runs, installed with pip or
vendored as a git submodule, and from where.

Examples:
    >>> import falcon, falcon.testing
    >>> from common_utils.resources import HealthResource, VersionResource
    >>> app = falcon.App()
    >>> app.add_route("/health", HealthResource())
    >>> app.add_route("/version", VersionResource(app_name="orders", app_version="1.0.0"))
    >>> falcon.testing.TestClient(app).simulate_get("/health").json
    {'status': 'ok', 'checks': {}}
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import json
import logging
import os
import platform
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote, urlparse

import falcon

from common_utils.openapi import operation

if TYPE_CHECKING:
    import falcon.asgi

__all__ = ["HealthResource", "LibraryOrigin", "VersionResource", "library_origin"]

_DIST_NAME = "common-utils"
_log = logging.getLogger(__name__)

Check = Callable[[], object]


# --------------------------------------------------------------------------- health


class HealthResource:
    """Answer ``GET`` with 200 when every check passes, else 503 naming the failures.

    A check is a callable without arguments; it fails when it raises, returns
    ``False`` or does not finish within ``timeout`` seconds. Checks run in
    parallel in daemon threads, so a hung check cannot hold the request (or
    the process's exit) beyond the timeout; while a check is still running from
    an earlier request it is not started again, the request waits on the run in
    flight. The body names the failing checks, never the exception text (it may
    carry a DSN or a password); the exception type is logged at WARNING.

    ``200 {"status": "ok", "checks": {"db": "ok"}}`` or
    ``503 {"status": "fail", "checks": {"db": "timeout", "cache": "ok"}, "failing": ["db"]}``.

    For ``falcon.asgi.App`` mount it with ``suffix="async"``
    (``app.add_route("/health", health, suffix="async")``).

    Keyword Args:
        checks: Name to check callable; none means the process answering is
            healthy.
        timeout: Seconds each request waits for the checks, at most.

    Examples:
        >>> import falcon, falcon.testing
        >>> from common_utils.resources import HealthResource
        >>> def db() -> bool:
        ...     return False  # e.g. ``SELECT 1`` failed
        >>> app = falcon.App()
        >>> app.add_route("/health", HealthResource(checks={"db": db}, timeout=1.0))
        >>> result = falcon.testing.TestClient(app).simulate_get("/health")
        >>> result.status_code, result.json["failing"]
        (503, ['db'])
    """

    def __init__(self, *, checks: Mapping[str, Check] | None = None, timeout: float = 2.0) -> None:
        if timeout <= 0:
            raise ValueError("HealthResource timeout must be > 0 seconds")
        self._checks = dict(checks or {})
        self._timeout = timeout
        self._lock = threading.Lock()
        self._running: dict[str, concurrent.futures.Future[bool]] = {}

    def _start(self) -> dict[str, concurrent.futures.Future[bool]]:
        futures = {}
        with self._lock:
            for name, check in self._checks.items():
                future = self._running.get(name)
                if future is None or future.done():
                    future = concurrent.futures.Future()
                    # NOTE: a daemon thread, not a ThreadPoolExecutor: the executor's
                    # workers are joined at exit, so one hung check would hang shutdown.
                    threading.Thread(
                        target=_run_check,
                        args=(name, check, future),
                        name=f"health-check-{name}",
                        daemon=True,
                    ).start()
                    self._running[name] = future
                futures[name] = future
        return futures

    def _answer(
        self, resp: falcon.Response | falcon.asgi.Response, futures: Mapping[str, Any]
    ) -> None:
        results = {name: _outcome(future) for name, future in futures.items()}
        failing = [name for name, outcome in results.items() if outcome != "ok"]
        if failing:
            resp.status = falcon.HTTP_503
            resp.media = {"status": "fail", "checks": results, "failing": failing}
        else:
            resp.media = {"status": "ok", "checks": results}
        resp.cache_control = ["no-store"]

    @operation(
        responses={
            200: "Every check passed (`checks` names each one's outcome).",
            503: "A check failed or timed out; `failing` names them.",
        }
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Run the checks and answer 200 or 503."""
        futures = self._start()
        concurrent.futures.wait(futures.values(), timeout=self._timeout)
        self._answer(resp, futures)

    async def on_get_async(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """ASGI variant of `on_get`; mount with ``suffix="async"``."""
        futures = self._start()
        await _wait_async(futures.values(), self._timeout)
        self._answer(resp, futures)


async def _wait_async(futures: Iterable[concurrent.futures.Future[bool]], timeout: float) -> None:
    """Wait for the checks without blocking the event loop or a thread.

    NOTE: not ``asyncio.wrap_future``: a check that outlives the request would later
    call into a loop that may be closed, and cancelling the wrapper would cancel the
    run in flight that other requests share.
    """
    loop = asyncio.get_running_loop()
    pending = {future for future in futures if not future.done()}
    if not pending:
        return
    all_done: asyncio.Future[None] = loop.create_future()

    def mark(future: concurrent.futures.Future[bool]) -> None:
        pending.discard(future)
        if not pending and not all_done.done():
            all_done.set_result(None)

    def on_done(future: concurrent.futures.Future[bool]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(mark, future)

    for future in list(pending):
        future.add_done_callback(on_done)
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(all_done, timeout)


def _run_check(name: str, check: Check, future: concurrent.futures.Future[bool]) -> None:
    try:
        passed = check() is not False
    except Exception as ex:  # noqa: BLE001 - any failure of a check is "fail", nothing more
        _log.warning("health check %r failed: %s", name, type(ex).__name__)
        passed = False
    future.set_result(passed)


def _outcome(future: concurrent.futures.Future[bool]) -> str:
    if not future.done():
        return "timeout"
    return "ok" if future.result() else "fail"


# --------------------------------------------------------------------------- version


@dataclass(frozen=True)
class LibraryOrigin:
    """Which copy of common_utils is running, and how it got there.

    Attributes:
        version: ``common_utils.__version__`` of the loaded copy.
        source: ``"pip"`` when the loaded files belong to an installed
            ``common-utils`` distribution, ``"submodule"`` for raw source on
            ``sys.path`` (a git submodule or any plain checkout).
        path: The directory of the loaded ``common_utils`` package.
        shadowed_installation: The package directory of an installed
            ``common-utils`` that is NOT the loaded one (for example a pip
            install hidden behind a submodule), else ``None``.

    Examples:
        >>> from common_utils.resources import library_origin
        >>> library_origin().source in ("pip", "submodule")
        True
    """

    version: str
    source: Literal["pip", "submodule"]
    path: str
    shadowed_installation: str | None = None


def _installed_package_dirs(dist: metadata.Distribution) -> list[Path]:
    """Return where ``dist`` put ``common_utils/__init__.py`` (also for editable installs)."""
    dirs: list[Path] = []
    # NOTE: only a RECORD (what pip writes) lists installed files; the SOURCES.txt of
    # an egg-info left in a checkout by a build lists the sources, not an installation.
    if dist.read_text("RECORD") is not None:
        dirs.extend(
            Path(os.path.realpath(str(dist.locate_file(file)))).parent
            for file in dist.files or ()
            if file.parts[-2:] == ("common_utils", "__init__.py")
        )
    try:
        direct_url = json.loads(dist.read_text("direct_url.json") or "{}")
    except ValueError:
        direct_url = {}
    url = direct_url.get("url", "") if isinstance(direct_url, dict) else ""
    editable = isinstance(direct_url, dict) and direct_url.get("dir_info", {}).get("editable")
    if editable and url.startswith("file://"):
        project = Path(os.path.realpath(unquote(urlparse(url).path)))
        dirs.append(project / "common_utils")
    return dirs


def _detect(package_dir: Path, version: str, search_path: Iterable[str]) -> LibraryOrigin:
    loaded = Path(os.path.realpath(package_dir))
    owned = False
    others: list[str] = []
    for dist in metadata.distributions(name=_DIST_NAME, path=list(search_path)):
        for directory in _installed_package_dirs(dist):
            if directory == loaded:
                owned = True
            elif (directory / "__init__.py").is_file() and str(directory) not in others:
                others.append(str(directory))
    return LibraryOrigin(
        version=version,
        source="pip" if owned else "submodule",
        path=str(loaded),
        shadowed_installation=others[0] if others else None,
    )


@functools.cache
def library_origin() -> LibraryOrigin:
    """Tell which copy of common_utils this process runs, and whether another hides.

    "pip" when the loaded ``common_utils/__init__.py`` belongs to an installed
    ``common-utils`` distribution (its RECORD lists that file, or it is a pip
    editable install of that directory), else "submodule". A stray
    ``common_utils.egg-info`` that a build left in a checkout does not count. Any installed copy
    on ``sys.path`` that is not the loaded one is reported in
    ``shadowed_installation``. The answer is computed once per process.

    Examples:
        >>> from common_utils.resources import library_origin
        >>> origin = library_origin()
        >>> origin.path.endswith("common_utils")
        True
    """
    import common_utils

    return _detect(Path(common_utils.__file__).parent, common_utils.__version__, sys.path)


class VersionResource:
    """Answer ``GET`` with what is deployed: the app, and the common_utils it runs.

    The document::

        {"app": {"name": "orders", "version": "1.4.0"},
         "common_utils": {"version": "1.4.0", "source": "pip" | "submodule",
                          "path": "/home/vcap/app/submodules/common_utils/common_utils",
                          "shadowed_installation": null},
         "python": "3.11.7"}

    When an installed copy is shadowed (or shadows), a WARNING is logged once at
    construction, so it shows in the start-up logs. For ``falcon.asgi.App``
    mount it with ``suffix="async"``.

    Keyword Args:
        app_name: The service's name.
        app_version: The service's version.

    Examples:
        >>> import falcon, falcon.testing
        >>> from common_utils.resources import VersionResource
        >>> app = falcon.App()
        >>> app.add_route("/version", VersionResource(app_name="orders", app_version="2.0.1"))
        >>> doc = falcon.testing.TestClient(app).simulate_get("/version").json
        >>> doc["app"], doc["common_utils"]["source"] in ("pip", "submodule")
        ({'name': 'orders', 'version': '2.0.1'}, True)
    """

    def __init__(self, *, app_name: str, app_version: str) -> None:
        origin = library_origin()
        if origin.shadowed_installation is not None:
            _log.warning(
                "common_utils is loaded from %s (%s); another installed copy at %s is not used",
                origin.path,
                origin.source,
                origin.shadowed_installation,
            )
        self._document: dict[str, Any] = {
            "app": {"name": app_name, "version": app_version},
            "common_utils": {
                "version": origin.version,
                "source": origin.source,
                "path": origin.path,
                "shadowed_installation": origin.shadowed_installation,
            },
            "python": platform.python_version(),
        }

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Answer the version document."""
        resp.media = self._document

    async def on_get_async(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """ASGI variant of `on_get`; mount with ``suffix="async"``."""
        resp.media = self._document
