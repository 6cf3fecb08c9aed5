"""Every use of a third-party private attribute, in one place, each pinned by a test.

The library reads a few things Falcon does not expose publicly. Each reader is
a small function here; ``tests/test_compat.py`` checks each against the
installed Falcon, so an upgrade that moves an attribute fails that test by
name instead of silently degrading a feature.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import FrameType
from typing import Any

import falcon
import falcon.asgi
from falcon._typing import _UNSET
from falcon.routing import CompiledRouter

__all__ = [
    "RouteResponders",
    "app_middleware",
    "calling_app",
    "has_parsed_media",
    "is_own_responder",
    "parsed_media",
    "router_find",
    "router_search",
    "routes",
    "set_parsed_media",
]


@dataclass(frozen=True)
class RouteResponders:
    """One route of an app: its URI template, its resource and the resource's responders.

    ``responders`` maps HTTP methods to the functions the resource defines
    (``on_get``, ``on_post_item`` ...), unbound; the responders Falcon adds by
    itself (405, the default OPTIONS) are left out.
    """

    template: str
    resource: object
    responders: dict[str, Callable[..., Any]]


def routes(app: falcon.App[Any, Any]) -> list[RouteResponders]:
    """Return the routes of ``app`` in the order ``falcon.inspect.inspect_routes`` gives.

    Walks the compiled router as ``falcon.inspect`` does (``app._router._roots``,
    each node's ``raw_segment``, ``resource``, ``method_map`` and ``children``),
    but returns the objects themselves rather than their source locations, so
    nothing depends on readable source files.

    Raises:
        TypeError: The app uses a custom router this walk cannot read.
    """
    router = app._router
    if not isinstance(router, CompiledRouter):
        raise TypeError(
            f"cannot read the routes of a {type(router).__name__}: "
            "common_utils.openapi supports Falcon's default CompiledRouter"
        )
    return list(_walk(router._roots, ""))


def _walk(nodes: list[Any], parent: str) -> Iterator[RouteResponders]:
    for node in nodes:
        template = f"{parent}/{node.raw_segment}"
        if node.resource is not None:
            yield RouteResponders(
                template, node.resource, _own_responders(node.resource, node.method_map or {})
            )
        if node.children:
            yield from _walk(node.children, template)


def _own_responders(resource: object, method_map: dict[str, Any]) -> dict[str, Callable[..., Any]]:
    own: dict[str, Callable[..., Any]] = {}
    for method, responder in method_map.items():
        function: Any = responder.func if isinstance(responder, functools.partial) else responder
        if getattr(function, "__self__", None) is resource:
            own[method] = function.__func__
    return own


# -- the app and its router, for common_utils.auth -------------------------------------------


def calling_app(caller: FrameType | None) -> falcon.App[Any, Any] | None:
    """Return the ``falcon.App`` whose ``__call__`` is running in ``caller``, or ``None``.

    Falcon hands middleware no reference to its app, but ``App.__call__`` (WSGI)
    and ``App.__call__`` (ASGI, a coroutine) call ``process_request`` directly, so
    the hook's calling frame is that method and its ``self`` is the app.

    Args:
        caller: The frame that called the middleware hook (``sys._getframe(1)``).
    """
    app = caller.f_locals.get("self") if caller is not None else None
    return app if isinstance(app, falcon.App) else None


def app_middleware(app: falcon.App[Any, Any]) -> list[object]:
    """Return the middleware objects ``app`` was given, in order (``App._unprepared_middleware``).

    Both ``falcon.App(middleware=[...])`` and ``app.add_middleware(...)`` add to it.
    """
    return list(app._unprepared_middleware)


def router_search(app: falcon.App[Any, Any], req: falcon.Request) -> tuple[object, str | None]:
    """Return the resource and URI template the app's router picks for ``req``.

    Uses ``App._router_search`` (the router's ``find``, which Falcon itself calls
    when it routes), so the answer is exactly the route Falcon will take.
    Returns ``(None, None)`` when no resource route matches (sinks, static
    routes, nothing).
    """
    resource, template, _ = router_find(app, req)
    return resource, template


def router_find(
    app: falcon.App[Any, Any], req: falcon.Request
) -> tuple[object, str | None, dict[str, Any] | None]:
    """Return the resource, URI template and method map the app's router picks for ``req``.

    As `router_search`, plus the route's method map (HTTP method -> the
    responder Falcon will call: the resource's own, or one Falcon made, such
    as its default OPTIONS responder or a 405). ``(None, None, None)`` when no
    resource route matches.
    """
    found: Any = app._router_search(req.path, req=req)
    if found is None or found[0] is None:
        return None, None, None
    # NOTE: older routers answer (resource, method_map, params) without a template.
    return found[0], found[3] if len(found) > 3 else None, found[1]


def is_own_responder(resource: object, responder: Any) -> bool:
    """Tell whether a method map's ``responder`` is the resource's own (not one Falcon made)."""
    function: Any = responder.func if isinstance(responder, functools.partial) else responder
    return getattr(function, "__self__", None) is resource


# -- the parsed body, for common_utils.validation --------------------------------------------
# ``req.get_media()`` caches its result in ``Request._media`` (``_UNSET`` until then). The
# validator parses the body itself (size and depth limits first) and stores the document
# there, so ``get_media()`` returns it instead of reading the consumed stream again.


def has_parsed_media(req: falcon.Request | falcon.asgi.Request) -> bool:
    """Tell whether something already parsed the body (``get_media()`` was called)."""
    return getattr(req, "_media", _UNSET) is not _UNSET


def parsed_media(req: falcon.Request | falcon.asgi.Request) -> Any:
    """Return the body ``get_media()`` parsed and cached."""
    return req._media


def set_parsed_media(req: falcon.Request | falcon.asgi.Request, document: Any) -> None:
    """Store ``document`` as the body ``get_media()`` returns from now on."""
    req._media = document
