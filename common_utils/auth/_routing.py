"""Find the route Falcon will pick for a request, from inside ``process_request``.

Falcon calls ``process_resource`` only for a routed resource that is truthy: never
for sinks, static routes or a resource whose ``__bool__``/``__len__`` is false, so
authenticating there leaves those open. ``process_request`` runs for every request,
but before routing, and Falcon hands middleware no reference to its app. So the
middleware asks the app's own router, found through the frame that called the hook.

Everything here leans on Falcon internals (``App.__call__`` calls the request hooks
directly; ``App._router_search`` is the router's ``find``). It is kept to this one
module and pinned by ``tests/test_auth.py::test_route_lookup_*``: a Falcon release that
changes either makes those tests fail, and the middleware then fails closed.
"""

from __future__ import annotations

from types import FrameType
from typing import Any, NamedTuple

import falcon

__all__ = ["Route", "falcon_route"]


class Route(NamedTuple):
    """What the router found: the resource and its URI template, or two ``None``."""

    resource: object | None
    uri_template: str | None


_UNROUTED = Route(None, None)  # a sink, a static route or nothing at all


def falcon_route(caller: FrameType | None, req: falcon.Request) -> Route | None:
    """Return the route the calling ``falcon.App`` will pick for ``req``.

    Args:
        caller: The frame that called the middleware hook (``sys._getframe(1)``).
        req: The request, before routing.

    Returns:
        The resource and URI template (``Route(None, None)`` when no resource
        route matches), or ``None`` when the caller is not a ``falcon.App``.
    """
    app = caller.f_locals.get("self") if caller is not None else None
    if not isinstance(app, falcon.App):
        return None
    found: Any = app._router_search(req.path, req=req)
    if found is None or found[0] is None:
        return _UNROUTED
    # NOTE: older routers answer (resource, method_map, params) without a template.
    return Route(found[0], found[3] if len(found) > 3 else None)
