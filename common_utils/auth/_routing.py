"""Find the route Falcon will pick for a request, from inside ``process_request``.

Falcon calls ``process_resource`` only for a routed resource that is truthy: never
for sinks, static routes or a resource whose ``__bool__``/``__len__`` is false, so
authenticating there leaves those open. ``process_request`` runs for every request,
but before routing, and Falcon hands middleware no reference to its app. So the
middleware asks the app's own router.

The app is found by the request: every request an app makes carries the app's
``req_options`` object as ``req.options`` (public Falcon API). `Apps` maps those
objects to their apps: filled by ``JWTAuthMiddleware.protect(app)``, or else once per
app from the frame that called the hook (``App.__call__``, whose ``self`` is the
app). Both Falcon internals this needs (that frame; the router's ``find`` as
``App._router_search``) are read in `common_utils._compat` and pinned by
``tests/test_compat.py``: a Falcon release that changes either makes those tests
fail, and the middleware then fails closed.
"""

from __future__ import annotations

from types import FrameType
from typing import Any, NamedTuple

import falcon

from common_utils._compat import calling_app, is_own_responder

__all__ = ["Apps", "Route", "falcon_answers", "resource_answers"]


class Route(NamedTuple):
    """What the router found for a request, or three ``None`` (sinks, static routes, nothing)."""

    resource: object | None
    uri_template: str | None
    method_map: dict[str, Any] | None  # HTTP method -> the responder Falcon will call


# Apps are few; the cap only bounds a process that builds apps in a loop (tests).
_MAX_APPS = 256


class Apps:
    """The Falcon apps one middleware serves, found by their requests' ``req.options``.

    Keyed by the options object's identity; each entry holds the object itself, so
    its id cannot be reused by another meanwhile. Two apps that share one options
    object (an assignment ``app2.req_options = app1.req_options``) cannot be told
    apart by their requests: their entry holds no app, and the frame is read on
    every request for them, as it was before this table existed.
    """

    def __init__(self) -> None:
        self._by_options: dict[int, tuple[object, falcon.App[Any, Any] | None]] = {}

    def bind(self, app: falcon.App[Any, Any]) -> None:
        """Remember ``app`` for the requests it makes."""
        self._remember(app.req_options, app)

    def known(self, options: object) -> falcon.App[Any, Any] | None:
        """Return the app whose requests carry ``options``, or None when not known (yet)."""
        entry = self._by_options.get(id(options))
        if entry is not None and entry[0] is options:
            return entry[1]
        return None

    def find(self, options: object, caller: FrameType | None) -> falcon.App[Any, Any] | None:
        """Return the app running in the hook's calling frame, remembered for next time."""
        app = calling_app(caller)
        if app is not None and app.req_options is options:
            self._remember(options, app)
        return app

    def _remember(self, options: object, app: falcon.App[Any, Any]) -> None:
        entry = self._by_options.get(id(options))
        found: falcon.App[Any, Any] | None = app
        if entry is not None and entry[0] is options and entry[1] is not app:
            found = None  # shared by two apps: read the frame every time
        elif entry is None and len(self._by_options) >= _MAX_APPS:
            self._by_options.clear()
        self._by_options[id(options)] = (options, found)


def falcon_answers(route: Route, method: str) -> bool:
    """Tell whether Falcon itself answers ``method`` on a routed resource.

    True when the route's responder for the method is one Falcon made (its
    default OPTIONS responder, which CORS middleware answers preflight with,
    or a 405), False for the resource's own responder and for everything
    that is not a routed resource (sinks, static routes, nothing).
    """
    if route.resource is None or route.method_map is None:
        return False
    responder = route.method_map.get(method)
    return responder is None or not is_own_responder(route.resource, responder)


def resource_answers(resource: object, method: str) -> bool:
    """Tell whether ``resource`` has its own ``on_<method>`` (for tools, without a route)."""
    return callable(getattr(resource, f"on_{method.lower()}", None))
