"""Find the route Falcon will pick for a request, from inside ``process_request``.

Falcon calls ``process_resource`` only for a routed resource that is truthy: never
for sinks, static routes or a resource whose ``__bool__``/``__len__`` is false, so
authenticating there leaves those open. ``process_request`` runs for every request,
but before routing, and Falcon hands middleware no reference to its app. So the
middleware asks the app's own router, found through the frame that called the hook.

Both Falcon internals this needs (the calling frame is ``App.__call__``; the
router's ``find`` as ``App._router_search``) are read in `common_utils._compat`
and pinned by ``tests/test_compat.py``: a Falcon release that changes either makes
those tests fail, and the middleware then fails closed.
"""

from __future__ import annotations

from types import FrameType
from typing import Any

import falcon

from common_utils._compat import calling_app, is_own_responder, router_find

__all__ = ["Route", "falcon_answers", "falcon_route", "resource_answers"]


# What the router found: the resource, its URI template and its method map, or three
# ``None``. (A plain tuple: PERF, a NamedTuple costs a Python-level __new__ per request.)
Route = tuple[object | None, str | None, dict[str, Any] | None]


def falcon_route(caller: FrameType | None, req: falcon.Request) -> Route | None:
    """Return the route the calling ``falcon.App`` will pick for ``req``.

    Args:
        caller: The frame that called the middleware hook (``sys._getframe(1)``).
        req: The request, before routing.

    Returns:
        The resource, URI template and method map (three ``None`` when no
        resource route matches), or ``None`` when the caller is not a
        ``falcon.App``.
    """
    app = calling_app(caller)
    if app is None:
        return None
    return router_find(app, req)


def falcon_answers(route: Route, method: str) -> bool:
    """Tell whether Falcon itself answers ``method`` on a routed resource.

    True when the route's responder for the method is one Falcon made (its
    default OPTIONS responder, which CORS middleware answers preflight with,
    or a 405), False for the resource's own responder and for everything
    that is not a routed resource (sinks, static routes, nothing).
    """
    resource, _, method_map = route
    if resource is None or method_map is None:
        return False
    responder = method_map.get(method)
    return responder is None or not is_own_responder(resource, responder)


def resource_answers(resource: object, method: str) -> bool:
    """Tell whether ``resource`` has its own ``on_<method>`` (for tools, without a route)."""
    return callable(getattr(resource, f"on_{method.lower()}", None))
