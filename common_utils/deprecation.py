"""Tell clients that an HTTP API is going away: ``Deprecation``, ``Sunset`` and ``Link`` headers.

`deprecated` marks a responder, or every responder of a resource class,
as deprecated. Each response then carries:

- ``Deprecation: @<unix seconds>`` (RFC 9745: a structured-field date; the date
  may lie in the future, "will be deprecated", or in the past);
- ``Sunset: <HTTP-date>`` (RFC 8594) when a removal date is given; RFC 9745 §5
  forbids a sunset earlier than the deprecation;
- ``Link: <...>; rel="deprecation"`` to the migration notes (RFC 9745 §3), and
  ``Link: <...>; rel="sunset"`` to the sunset policy when one is given
  (RFC 8594 §4).

Every argument is checked when the decorator is created, so a typo stops the
service at start-up instead of sending a malformed header. The OpenAPI document
of `common_utils.openapi` marks the operations ``deprecated: true``.

A whole API version is deprecated by applying one `Deprecation` to each
resource class that serves it (a deprecated version keeps its own classes; a
subclass is enough when the behaviour is the same).

Examples:
    >>> from datetime import date
    >>> import falcon, falcon.testing
    >>> V1 = deprecated(
    ...     since=date(2026, 12, 1),
    ...     sunset=date(2027, 6, 30),
    ...     link="https://docs.example.com/orders/v1-to-v2",
    ... )
    >>> @V1
    ... class OrdersV1:
    ...     def on_get(self, req, resp):
    ...         resp.media = []
    >>> app = falcon.App()
    >>> app.add_route("/v1/orders", OrdersV1())
    >>> headers = falcon.testing.TestClient(app).simulate_get("/v1/orders").headers
    >>> headers["Deprecation"], headers["Sunset"]
    ('@1796083200', 'Wed, 30 Jun 2027 00:00:00 GMT')
    >>> headers["Link"]
    '<https://docs.example.com/orders/v1-to-v2>; rel="deprecation"'
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from email.utils import format_datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import falcon

__all__ = ["Deprecation", "deprecated", "deprecation_of"]

_T = TypeVar("_T")
_MARKER = "__deprecation__"
# Responder names Falcon routes to: on_get, on_post_item (a route suffix), ...
_RESPONDER = re.compile(r"^on_(?P<method>[a-z]+)(?:_\w+)?$")
# Characters that cannot appear in a URI reference inside <...> (RFC 3986, RFC 8288).
_NOT_IN_URI = re.compile(r'[\x00-\x20\x7f<>"\\^`{|}]')


def _moment(name: str, value: object) -> datetime:
    """Return ``value`` as an aware UTC datetime, or raise naming the argument."""
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"{name}: a datetime must be timezone-aware (add tzinfo=timezone.utc)")
        return value.astimezone(timezone.utc)
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=timezone.utc)
    raise TypeError(f"{name}: expected a date or an aware datetime, got {type(value).__name__}")


def _uri(name: str, value: object) -> str:
    """Return ``value`` if it is an http(s) URL or an absolute path, or raise naming it."""
    if not isinstance(value, str):
        raise TypeError(f"{name}: expected a URL string, got {type(value).__name__}")
    if not value or _NOT_IN_URI.search(value):
        raise ValueError(f"{name}: {value!r} is not a URL (empty, or spaces, quotes or <>)")
    parts = urlsplit(value)
    if parts.scheme in {"http", "https"} and parts.netloc:
        return value
    if not parts.scheme and value.startswith("/") and not value.startswith("//"):
        return value
    raise ValueError(f"{name}: {value!r} must be an http(s) URL or a path starting with '/'")


@dataclass(frozen=True)
class Deprecation:
    """A deprecation notice for responders; build it with `deprecated`.

    Apply it to a responder or to a resource class (every ``on_*`` responder).

    Attributes:
        since: When the API was (or will be) deprecated, in UTC.
        sunset: When it stops answering, in UTC, or ``None`` if not decided.
        link: The migration notes (``rel="deprecation"``).
        sunset_link: The sunset policy (``rel="sunset"``), or ``None``.
        headers: The response headers, computed once: ``(name, value)`` pairs.

    Examples:
        >>> from datetime import date
        >>> d = deprecated(since=date(2026, 12, 1), link="/docs/migrate")
        >>> d.headers
        (('Deprecation', '@1796083200'), ('Link', '</docs/migrate>; rel="deprecation"'))
    """

    since: datetime
    sunset: datetime | None
    link: str
    sunset_link: str | None = None
    headers: tuple[tuple[str, str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # PERF: header values are formatted once, not on every response.
        headers = [("Deprecation", f"@{int(self.since.timestamp())}")]
        if self.sunset is not None:
            headers.append(("Sunset", format_datetime(self.sunset, usegmt=True)))
        headers.append(("Link", f'<{self.link}>; rel="deprecation"'))
        if self.sunset_link is not None:
            headers.append(("Link", f'<{self.sunset_link}>; rel="sunset"'))
        object.__setattr__(self, "headers", tuple(headers))

    def apply(self, resp: falcon.Response | falcon.asgi.Response) -> None:
        """Add the deprecation headers to a response (``Link`` is appended to).

        Args:
            resp: The response (WSGI or ASGI).
        """
        for name, value in self.headers:
            if name == "Link":
                resp.append_header(name, value)
            else:
                resp.set_header(name, value)

    def __call__(self, target: _T) -> _T:
        """Mark a responder, or every responder of a resource class.

        Args:
            target: A responder function (sync or ``async``) or a resource class.

        Returns:
            The wrapped responder, or the class with its responders wrapped.

        Raises:
            TypeError: ``target`` is neither, or the class has no responder.
        """
        if isinstance(target, type):
            names = [
                name
                for name in dir(target)
                if (m := _RESPONDER.match(name)) and m["method"].upper() in falcon.COMBINED_METHODS
            ]
            if not names:
                raise TypeError(f"deprecated: {target.__name__} has no on_<method> responder")
            for name in names:
                setattr(target, name, self._wrap(getattr(target, name)))
            return target
        if callable(target):
            return self._wrap(target)  # type: ignore[return-value]
        raise TypeError(f"deprecated: expected a responder or a resource class, got {target!r}")

    def _wrap(self, responder: Callable[..., Any]) -> Callable[..., Any]:
        # NOTE: the headers are set before the responder runs, so an error it
        # raises (a 422 from @validate) carries them too.
        wrapper: Callable[..., Any]
        if inspect.iscoroutinefunction(responder):

            async def wrapper(
                resource: Any, req: Any, resp: falcon.asgi.Response, *args: Any, **kwargs: Any
            ) -> Any:
                self.apply(resp)
                return await responder(resource, req, resp, *args, **kwargs)

        else:

            def wrapper(
                resource: Any, req: Any, resp: falcon.Response, *args: Any, **kwargs: Any
            ) -> Any:
                self.apply(resp)
                return responder(resource, req, resp, *args, **kwargs)

        functools.update_wrapper(wrapper, responder)
        setattr(wrapper, _MARKER, self)
        return wrapper


def deprecated(
    *,
    since: date | datetime,
    link: str,
    sunset: date | datetime | None = None,
    sunset_link: str | None = None,
) -> Deprecation:
    """Mark a responder or a resource class as deprecated, checked now.

    A ``date`` means midnight UTC of that day.

    Keyword Args:
        since: When it is (or was) deprecated: ``Deprecation: @<unix seconds>``.
        link: URL of the migration notes (an ``http(s)`` URL or a path such as
            ``/docs/migrate-v1``): ``Link: <link>; rel="deprecation"``.
        sunset: When it stops answering: ``Sunset: <HTTP-date>``. Not earlier
            than ``since``.
        sunset_link: URL of the sunset policy: ``Link: <...>; rel="sunset"``.

    Returns:
        A `Deprecation`; use it as a decorator, one for a whole version.

    Raises:
        TypeError: A date or URL argument has the wrong type.
        ValueError: A naive datetime, a malformed URL, or a sunset before ``since``.

    Examples:
        >>> from datetime import date
        >>> deprecated(since=date(2027, 1, 1), sunset=date(2026, 1, 1), link="/docs")
        Traceback (most recent call last):
        ...
        ValueError: sunset 2026-01-01T00:00:00Z is earlier than since 2027-01-01T00:00:00Z
    """
    since_at = _moment("since", since)
    sunset_at = _moment("sunset", sunset) if sunset is not None else None
    if sunset_at is not None and sunset_at < since_at:
        utc = "%Y-%m-%dT%H:%M:%SZ"
        raise ValueError(f"sunset {sunset_at:{utc}} is earlier than since {since_at:{utc}}")
    return Deprecation(
        since=since_at,
        sunset=sunset_at,
        link=_uri("link", link),
        sunset_link=_uri("sunset_link", sunset_link) if sunset_link is not None else None,
    )


def deprecation_of(responder: object) -> Deprecation | None:
    """Return the `Deprecation` of a responder, or ``None``.

    Works on functions, bound methods and wrappers that copy attributes
    (``functools.wraps``, ``falcon.before``) stacked on top of `deprecated`.

    Args:
        responder: A responder function or method.

    Returns:
        The notice `deprecated` attached, or ``None``.

    Examples:
        >>> from datetime import date
        >>> @deprecated(since=date(2026, 12, 1), link="/docs")
        ... def on_get(self, req, resp): ...
        >>> deprecation_of(on_get).link, deprecation_of(print)
        ('/docs', None)
    """
    notice = getattr(responder, _MARKER, None)
    return notice if isinstance(notice, Deprecation) else None
