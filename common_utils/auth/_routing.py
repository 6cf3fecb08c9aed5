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

import falcon

from common_utils._compat import calling_app, router_search

__all__ = ["Route", "falcon_route"]


# What the router found: the resource and its URI template, or two ``None``. (A plain
# tuple: PERF, a NamedTuple costs a Python-level __new__ on every request.)
Route = tuple[object | None, str | None]


def falcon_route(caller: FrameType | None, req: falcon.Request) -> Route | None:
    """Return the route the calling ``falcon.App`` will pick for ``req``.

    Args:
        caller: The frame that called the middleware hook (``sys._getframe(1)``).
        req: The request, before routing.

    Returns:
        The resource and URI template (``(None, None)`` when no resource
        route matches), or ``None`` when the caller is not a ``falcon.App``.
    """
    app = calling_app(caller)
    if app is None:
        return None
    return router_search(app, req)
