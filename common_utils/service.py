"""A service's skeleton, wired once: middleware order, errors, health, version, API docs.

Every service on the library repeats the same wiring, and gets it subtly wrong
when it copies it: the request id first, the access log before auth (so
refused requests are measured), the problem+json error serializer, public
``/health`` and ``/version``, the OpenAPI document and Swagger UI, and a
configuration error at start-up that stops the process with one line and
exit status 3 instead of a traceback. `create_app` builds that skeleton as a
``falcon.App`` or a ``falcon.asgi.App``; `build_or_exit` is the start-up line.

Examples:
    >>> import falcon.testing
    >>> from common_utils.service import create_app
    >>> app = create_app(name="orders", version="1.4.0")
    >>> client = falcon.testing.TestClient(app)
    >>> client.simulate_get("/health").json
    {'status': 'ok', 'checks': {}}
    >>> client.simulate_get("/nowhere").headers["content-type"]
    'application/problem+json'
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import falcon
import falcon.asgi

from common_utils.errors import ConfigurationError
from common_utils.logs import AccessLogMiddleware, RequestIdMiddleware
from common_utils.openapi import OpenAPI
from common_utils.problems import problem_error_serializer
from common_utils.resources import HealthResource, VersionResource

if TYPE_CHECKING:
    from common_utils.auth import JWTAuthMiddleware

__all__ = ["CONFIGURATION_ERROR_EXIT_STATUS", "build_or_exit", "create_app"]

CONFIGURATION_ERROR_EXIT_STATUS = 3
"""Exit status of a start-up stopped by a configuration error.

gunicorn's "worker failed to boot": a gunicorn started without ``--preload``
stops instead of respawning workers that fail the same way forever; uWSGI and
uvicorn pass it through.
"""

_T = TypeVar("_T")


class _PublicHealthResource(HealthResource):
    # Read by common_utils.auth: the platform's health check and operators send no token.
    auth: ClassVar[dict[str, bool]] = {"exempt": True}


class _PublicVersionResource(VersionResource):
    auth: ClassVar[dict[str, bool]] = {"exempt": True}


def create_app(
    *,
    name: str,
    version: str,
    auth: JWTAuthMiddleware | None = None,
    asgi: bool = False,
    middleware: Iterable[Any] = (),
    health_checks: Mapping[str, Callable[[], object]] | None = None,
    health_timeout: float = 2.0,
) -> falcon.App[Any, Any]:
    """Build a service's Falcon app with the library's wiring in place.

    The app has, in this order, `RequestIdMiddleware`,
    `AccessLogMiddleware`, ``auth`` (when given) and then ``middleware``:
    the access log starts its clock before auth decides, so a 401 or 403 is
    logged and measured like any answer, with the request id. Every
    `falcon.HTTPError` is answered as ``application/problem+json``. It serves
    ``GET /health`` (`HealthResource` with ``health_checks``), ``GET /version``
    (`VersionResource`), ``GET /openapi.json`` and Swagger UI at ``GET /docs``;
    all four are public, whatever ``auth`` exempts. Add the service's own
    routes to the returned app: the OpenAPI document is built on first request,
    so it describes them too.

    Logging (`setup_logging`) and the environment (`CFEnv`, the ``jwt``
    binding) stay the service's own: read them before, and pass ``auth``.

    Keyword Args:
        name: The service's name (``/version``, the OpenAPI title).
        version: The service's version (``/version``, the OpenAPI version).
        auth: The service's `JWTAuthMiddleware`; ``None`` for a service without auth.
        asgi: Build a ``falcon.asgi.App`` (for uvicorn); the health and version
            resources then answer with their coroutine responders. Add the
            service's routes with ``suffix="async"`` or async responders.
        middleware: More middleware, after auth (they see only authenticated
            requests, unless exempt).
        health_checks: Name to check callable for ``/health`` (see `HealthResource`).
        health_timeout: Seconds ``/health`` waits for the checks, at most.

    Returns:
        The WSGI (or ASGI) application.

    Raises:
        common_utils.errors.ConfigurationError: ``name`` or ``version`` is empty.

    Examples:
        >>> import falcon.testing
        >>> app = create_app(name="orders", version="1.4.0", asgi=True)
        >>> falcon.testing.TestClient(app).simulate_get("/version").json["app"]
        {'name': 'orders', 'version': '1.4.0'}
    """
    chain: list[Any] = [RequestIdMiddleware(), AccessLogMiddleware()]
    if auth is not None:
        chain.append(auth)
    chain.extend(middleware)
    app: falcon.App[Any, Any] = (falcon.asgi.App if asgi else falcon.App)(middleware=chain)
    app.set_error_serializer(problem_error_serializer)
    twins: dict[str, str] = {"suffix": "async"} if asgi else {}
    health = _PublicHealthResource(checks=health_checks, timeout=health_timeout)
    app.add_route("/health", health, **twins)
    app.add_route("/version", _PublicVersionResource(app_name=name, app_version=version), **twins)
    OpenAPI(app, title=name, version=version, auth=auth).register()
    return app


def build_or_exit(factory: Callable[[], _T], *, name: str) -> _T:
    r"""Call ``factory``; on a configuration error print one line and exit with status 3.

    The line goes to stderr as ``<name>: configuration error: <message>``; the
    message names the setting and never its value (a `ConfigurationError`
    never carries a secret), and no traceback follows. Use it where the server
    imports the app (``wsgi.py``, ``asgi.py``), so ``gunicorn``, ``uwsgi`` and
    ``uvicorn`` all stop with the same line and status. Other exceptions
    propagate unchanged: they are bugs, and their traceback is wanted.

    Args:
        factory: Builds the app (typically the service's ``create_app``).

    Keyword Args:
        name: The service's name, the line's prefix.

    Returns:
        What ``factory`` returned.

    Raises:
        SystemExit: With `CONFIGURATION_ERROR_EXIT_STATUS` after the line,
            when ``factory`` raises a `ConfigurationError`.

    Examples:
        >>> import contextlib, io
        >>> from common_utils.cfenv import CFEnv
        >>> stderr = io.StringIO()
        >>> with contextlib.redirect_stderr(stderr):
        ...     build_or_exit(lambda: CFEnv(environ={"PORT": "http"}).port, name="orders")
        Traceback (most recent call last):
        ...
        SystemExit: 3
        >>> stderr.getvalue()
        'orders: configuration error: PORT must be an integer in 1..65535\n'
    """
    try:
        return factory()
    except ConfigurationError as ex:
        print(f"{name}: configuration error: {ex}", file=sys.stderr, flush=True)
        raise SystemExit(CONFIGURATION_ERROR_EXIT_STATUS) from None
