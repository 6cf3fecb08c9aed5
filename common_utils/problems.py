"""RFC 9457 problem details for Falcon errors.

Falcon's default error serializer answers ``application/json``. Install
`problem_error_serializer` to answer every `falcon.HTTPError`
(yours, Falcon's own, and those of ``common_utils.auth`` and
``common_utils.validation``) as ``application/problem+json``.

Examples:
    >>> import falcon
    >>> from common_utils.problems import problem_error_serializer
    >>> app = falcon.App()
    >>> app.set_error_serializer(problem_error_serializer)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, MutableMapping
from typing import Any

import falcon

__all__ = ["PROBLEM_JSON", "ProblemError", "problem_dict", "problem_error_serializer"]

PROBLEM_JSON = "application/problem+json"

# Members RFC 9457 defines; extension members may not shadow them.
_RESERVED = frozenset({"type", "title", "status", "detail", "instance"})


class ProblemError(falcon.HTTPError):
    """An `falcon.HTTPError` that carries RFC 9457 extension members.

    Args:
        status: The HTTP status, as an ``int`` or a Falcon status string.

    Keyword Args:
        title: Short, human-readable summary; defaults to the status phrase.
        detail: Explanation specific to this occurrence. Never put secrets,
            tokens or exception text here: clients see it.
        type_uri: URI identifying the problem type (default ``about:blank``).
        headers: Extra response headers (for example ``WWW-Authenticate``).
        extensions: Extra members of the problem object (for example
            ``errors``); they must be JSON-serializable.

    Examples:
        >>> errors = [{"field": "sku", "message": "required field"}]
        >>> err = ProblemError(422, detail="1 field is invalid", extensions={"errors": errors})
        >>> problem_dict(err)["errors"][0]["field"]
        'sku'
    """

    def __init__(
        self,
        status: int | str,
        *,
        title: str | None = None,
        detail: str | None = None,
        type_uri: str = "about:blank",
        headers: Mapping[str, str] | None = None,
        extensions: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(status, title=title, description=detail, headers=headers)
        self.type_uri = type_uri
        clash = _RESERVED.intersection(extensions or {})
        if clash:
            raise ValueError(f"extension members may not redefine {sorted(clash)}")
        self.extensions: dict[str, Any] = dict(extensions or {})

    def to_dict(self, obj_type: type[MutableMapping[str, Any]] = dict) -> MutableMapping[str, Any]:
        """Falcon's error object (``title``, ``description``) with the extension members.

        Falcon's default error serializer renders this, so an app that never
        installed `problem_error_serializer` still shows clients what was
        wrong (the ``errors`` list of a validation failure, for example).
        """
        obj = super().to_dict(obj_type)
        for key, value in self.extensions.items():
            obj.setdefault(key, value)
        if self.type_uri != "about:blank":
            obj.setdefault("type", self.type_uri)
        return obj


def problem_dict(exception: falcon.HTTPError) -> dict[str, Any]:
    """Build the RFC 9457 problem object for a Falcon error.

    Args:
        exception: Any `falcon.HTTPError`.

    Returns:
        A dict with ``type``, ``title``, ``status`` and, when present,
        ``detail`` plus the extension members of a `ProblemError`.

    Examples:
        >>> problem_dict(falcon.HTTPNotFound())
        {'type': 'about:blank', 'title': 'Not Found', 'status': 404}
    """
    title = exception.title
    # Falcon's default title is the status line ("404 Not Found"); RFC 9457
    # wants the phrase alone.
    if title == falcon.code_to_http_status(exception.status_code):
        title = title.partition(" ")[2]
    problem: dict[str, Any] = {
        "type": getattr(exception, "type_uri", "about:blank"),
        "title": title,
        "status": exception.status_code,
    }
    if exception.description:
        problem["detail"] = exception.description
    problem.update(getattr(exception, "extensions", {}))
    return problem


def problem_error_serializer(
    req: falcon.Request, resp: falcon.Response, exception: falcon.HTTPError
) -> None:
    """Serialize a Falcon error as ``application/problem+json``.

    Pass it to ``app.set_error_serializer``; it works for WSGI and ASGI apps.

    Args:
        req: The request (unused: every client gets problem+json).
        resp: The response to fill.
        exception: The error being rendered.

    Examples:
        >>> app = falcon.App()
        >>> app.set_error_serializer(problem_error_serializer)
    """
    resp.content_type = PROBLEM_JSON
    resp.text = json.dumps(problem_dict(exception), separators=(",", ":"))
    resp.append_header("Vary", "Accept")
