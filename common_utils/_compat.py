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
from typing import Any

import falcon
from falcon.routing import CompiledRouter

__all__ = ["RouteResponders", "routes"]


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
