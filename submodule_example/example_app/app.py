r"""The example service's Falcon application, assembled from common_utils.

Routes (the contract in ``docs/consuming.md``):

========================  ===========================  ==========================================
route                     auth                         behaviour
========================  ===========================  ==========================================
``GET /``                 none                         ``Hello world`` (text/plain)
``POST /``                bearer, ``example.filter``   JSON object in, only the keys starting with
                                                       "a" (case-insensitive) out
``POST /v1/filter``       bearer, ``example.filter``   the same, at the first version's route:
                                                       deprecated (``Deprecation``, ``Sunset`` and
                                                       ``Link`` headers) until ``V1_SUNSET``
``GET /health``           none                         ``{"status": "ok"}``
``GET /version``          none                         service and common_utils versions, how the
                                                       library was loaded and from where
``GET /openapi.json``     none                         OpenAPI 3.1 document
``GET /docs``             none                         Swagger UI, served offline
========================  ===========================  ==========================================

Example:
    >>> from falcon import testing
    >>> from example_app.app import create_app
    >>> vcap = ('{"user-provided": [{"name": "jwt", "label": "user-provided", "tags": ["jwt"],'
    ...         ' "credentials": {"issuer": "https://uaa.example.com/oauth/token",'
    ...         ' "audience": "example-app", "secret": "' + "s" * 32 + '",'
    ...         ' "algorithms": ["HS256"]}}]}')
    >>> client = testing.TestClient(create_app({"VCAP_SERVICES": vcap, "LOG_FORMAT": "json"}))
    >>> client.simulate_get("/").text
    'Hello world\n'
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from datetime import date
from typing import Any, ClassVar, TextIO

import falcon
import falcon.asgi

from common_utils.auth import Exempt, JWTAuthMiddleware, require_scopes
from common_utils.cfenv import CFEnv
from common_utils.deprecation import deprecated
from common_utils.errors import ConfigurationError
from common_utils.logs import AccessLogMiddleware, RequestIdMiddleware, setup_logging
from common_utils.openapi import OpenAPI
from common_utils.problems import problem_error_serializer
from common_utils.resources import HealthResource, VersionResource, library_origin
from common_utils.validation import validate
from example_app import APP_NAME, __version__

__all__ = [
    "CONFIGURATION_ERRORS",
    "FILTER_SCOPE",
    "PUBLIC_ROUTES",
    "V1_SUNSET",
    "FilterV1Resource",
    "SampleResource",
    "create_app",
    "log_unhandled_error",
    "log_unhandled_error_async",
]

log = logging.getLogger(__name__)

FILTER_SCOPE = "example.filter"
"""Scope a token needs to call ``POST /``."""

# The OpenAPI document and Swagger UI are public by themselves (OpenAPI.register()).
PUBLIC_ROUTES = ("/health", "/version")
"""URI templates served without a token (``GET /`` is public through its resource)."""

CONFIGURATION_ERRORS: type[ConfigurationError] = ConfigurationError
"""What :func:`create_app` raises for a bad environment: one class, one clear message."""

V1_DEPRECATED = date(2026, 12, 1)
"""When ``POST /v1/filter`` was deprecated in favour of ``POST /``."""

V1_SUNSET = date(2027, 6, 30)
"""When ``POST /v1/filter`` stops answering: at least the 6 months the API policy promises."""

V1_MIGRATION_NOTES = "https://docs.example.com/example-app/migrate-from-v1"
"""The migration notes clients are sent to (``Link: <...>; rel="deprecation"``)."""


def _keys_starting_with_a(body: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if key.lower().startswith("a")}


class SampleResource:
    """The talk's resource: a greeting, and a filter for JSON keys starting with "a".

    ``GET`` is public (the per-resource ``auth`` override), ``POST`` needs a
    bearer token with the ``example.filter`` scope and a JSON object body.

    Example:
        >>> SampleResource.auth
        {'exempt_methods': ['GET', 'HEAD', 'OPTIONS']}
    """

    auth: ClassVar[dict[str, list[str]]] = {"exempt_methods": ["GET", "HEAD", "OPTIONS"]}

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Greet the caller.

        Args:
            req: The request.
            resp: The response: ``Hello world`` as text/plain.

        Example:
            >>> SampleResource().on_get  # doctest: +ELLIPSIS
            <bound method SampleResource.on_get of ...>
        """
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = "Hello world\n"

    @falcon.before(require_scopes(FILTER_SCOPE))
    @validate(body={}, allow_unknown=True)
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Return only the keys of the posted JSON object that start with "a".

        The comparison is case-insensitive; values are returned unchanged.

        Args:
            req: The request; ``req.context.body`` holds the validated object.
            resp: The response: the filtered object as JSON.

        Example:
            >>> SampleResource().on_post  # doctest: +ELLIPSIS
            <bound method SampleResource.on_post of ...>
        """
        resp.media = _keys_starting_with_a(req.context.body)

    async def on_get_async(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """ASGI twin of `on_get` (documented by it)."""
        self.on_get(req, resp)

    @falcon.before(require_scopes(FILTER_SCOPE))
    @validate(body={}, allow_unknown=True)
    async def on_post_async(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """ASGI twin of `on_post` (documented by it)."""
        resp.media = _keys_starting_with_a(req.context.body)


@deprecated(since=V1_DEPRECATED, sunset=V1_SUNSET, link=V1_MIGRATION_NOTES)
class FilterV1Resource:
    """The first version of the filter, ``POST /v1/filter``, kept beside its successor ``POST /``.

    Same contract as ``POST /``; every response it produces (a 403 or 422 too)
    carries the ``Deprecation``, ``Sunset`` and ``Link`` headers, and the
    OpenAPI document marks the operation deprecated. Delete the class and its
    route after ``V1_SUNSET``.

    Example:
        >>> from common_utils.deprecation import deprecation_of
        >>> deprecation_of(FilterV1Resource.on_post).sunset.date()
        datetime.date(2027, 6, 30)
    """

    @falcon.before(require_scopes(FILTER_SCOPE))
    @validate(body={}, allow_unknown=True)
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Return only the keys of the posted JSON object that start with "a" (deprecated).

        Args:
            req: The request; ``req.context.body`` holds the validated object.
            resp: The response: the filtered object as JSON.
        """
        resp.media = _keys_starting_with_a(req.context.body)

    @falcon.before(require_scopes(FILTER_SCOPE))
    @validate(body={}, allow_unknown=True)
    async def on_post_async(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """ASGI twin of `on_post` (documented by it)."""
        resp.media = _keys_starting_with_a(req.context.body)


def log_unhandled_error(
    req: falcon.Request, resp: falcon.Response, ex: Exception, params: Mapping[str, Any]
) -> None:
    """Log an unhandled exception as one JSON line, then answer a bare 500 problem.

    Falcon's default handler writes the traceback to ``wsgi.errors`` (stderr):
    one event per traceback line in Logsearch, and no request id. Installed with
    ``app.add_error_handler(Exception, ...)``, this logs it through ``logging``
    instead (the ``exception`` field, with ``request_id``), and the client sees
    no exception text.

    Args:
        req: The request.
        resp: The response.
        ex: The exception no responder or handler dealt with.
        params: The route's URI fields.

    Raises:
        falcon.HTTPInternalServerError: Always; rendered by the problem serializer.
    """
    log.error("unhandled %s in %s %s", type(ex).__name__, req.method, req.path, exc_info=ex)
    raise falcon.HTTPInternalServerError()


async def log_unhandled_error_async(
    req: falcon.asgi.Request,
    resp: falcon.asgi.Response,
    ex: Exception,
    params: Mapping[str, Any],
) -> None:
    """ASGI twin of `log_unhandled_error` (``falcon.asgi.App`` takes coroutine handlers)."""
    log_unhandled_error(req, resp, ex, params)


_fd1_stream: TextIO | None = None


def _stdout() -> TextIO:
    """Return a text stream on file descriptor 1, the process's real stdout.

    uWSGI's Python plugin points ``sys.stdout`` at file descriptor 2, so a
    service that logs to ``sys.stdout`` under uWSGI actually writes to stderr.
    Cloud Foundry tags the two streams differently (OUT and ERR), and the
    12-factor contract is stdout, so write to descriptor 1 itself.
    """
    global _fd1_stream
    try:
        if sys.stdout is not None and sys.stdout.fileno() == 1:
            return sys.stdout
    except (AttributeError, OSError, ValueError):
        pass  # no usable descriptor behind sys.stdout (a test capture, for example)
    else:
        if _fd1_stream is None:
            _fd1_stream = open(1, "w", encoding="utf-8", buffering=1, closefd=False)  # noqa: SIM115
        return _fd1_stream
    return sys.stdout


def create_app(
    environ: Mapping[str, str] | None = None, *, asgi: bool = False
) -> falcon.App[Any, Any]:
    """Build the service from an environment (``os.environ`` by default).

    The same service as a WSGI app (``falcon.App``, for uWSGI and gunicorn) or,
    with ``asgi=True``, as an ASGI app (``falcon.asgi.App``, for uvicorn): the
    same routes, middleware, errors, log lines and OpenAPI document.

    Configuration is read once, here: ``LOG_LEVEL``/``LOG_FORMAT``, ``PORT``
    and ``VCAP_SERVICES`` (a bound service tagged ``jwt``).

    Args:
        environ: The environment variables to read; ``None`` reads ``os.environ``.

    Keyword Args:
        asgi: Build a ``falcon.asgi.App`` (async responders) instead of a ``falcon.App``.

    Returns:
        The WSGI (or ASGI) application.

    Raises:
        common_utils.errors.ConfigurationError: The environment cannot be used:
            ``VCAP_SERVICES`` is malformed, ``PORT`` is invalid, no (or more than
            one) service tagged ``jwt`` is bound (``CFEnvError``), ``LOG_LEVEL``
            or ``LOG_FORMAT`` is invalid (``LoggingConfigError``), or the jwt
            service's credentials are missing or unusable (``AuthConfigError``).

    Example:
        >>> create_app({"LOG_FORMAT": "json"})
        Traceback (most recent call last):
        ...
        common_utils.cfenv.ServiceNotFoundError: no bound service matches tag='jwt'; ...
    """
    env_vars = os.environ if environ is None else environ
    setup_logging(environ=env_vars, stream=_stdout())
    env = CFEnv(environ=env_vars)
    port = env.port  # validated now: a bad PORT stops start-up
    auth = JWTAuthMiddleware.from_service(
        env.service(tag="jwt"), exempt=Exempt(routes=PUBLIC_ROUTES)
    )

    # Auth decides in process_request: the access log starts its clock before it.
    middleware: list[Any] = [RequestIdMiddleware(), AccessLogMiddleware(), auth]
    app: falcon.App[Any, Any] = (falcon.asgi.App if asgi else falcon.App)(middleware=middleware)
    auth.protect(app)  # bound once: auth knows its app's routes from the first request
    app.set_error_serializer(problem_error_serializer)
    # NOTE: for Exception only; Falcon's own HTTPError handler is more specific and still wins.
    app.add_error_handler(Exception, log_unhandled_error_async if asgi else log_unhandled_error)
    # The ASGI app routes to the resources' async twins (on_get_async ...).
    twins: dict[str, str] = {"suffix": "async"} if asgi else {}
    app.add_route("/", SampleResource(), **twins)
    app.add_route("/v1/filter", FilterV1Resource(), **twins)
    app.add_route("/health", HealthResource(), **twins)
    app.add_route("/version", VersionResource(app_name=APP_NAME, app_version=__version__), **twins)
    OpenAPI(app, title=APP_NAME, version=__version__, auth=auth).register()

    # VersionResource has already logged a WARNING if another copy is installed.
    origin = library_origin()
    log.info(
        "%s %s ready",
        APP_NAME,
        __version__,
        extra={
            "port": port,
            "common_utils_version": origin.version,
            "common_utils_source": origin.source,
            "common_utils_path": origin.path,
        },
    )
    return app
