"""Media type, size and strict JSON parsing of request bodies."""

from __future__ import annotations

import json
from typing import Any

from common_utils.problems import ProblemError

ACCEPTED_MEDIA_TYPES = ("application/json", "application/*+json")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def problem(status: int, detail: str, **extensions: Any) -> ProblemError:
    """Build a problem error with extension members."""
    return ProblemError(status, detail=detail, extensions=extensions)


def is_json_media_type(content_type: str) -> bool:
    """Tell whether a Content-Type is JSON (any parameters, ``+json``) in UTF-8."""
    media_type, _, parameters = content_type.partition(";")
    media_type = media_type.strip().lower()
    if media_type != "application/json" and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        return False
    for parameter in parameters.split(";"):
        key, _, value = parameter.partition("=")
        if key.strip().lower() == "charset" and value.strip().strip('"').lower() not in (
            "utf-8",
            "utf8",
        ):
            return False
    return True


def too_deep(subject: str, max_depth: int) -> ProblemError:
    """Build the 400 problem for arrays and objects nested deeper than ``max_depth``."""
    return problem(400, f"{subject} nests arrays and objects deeper than {max_depth} levels.")


def parse_json(data: bytes, max_depth: int) -> Any:
    """Parse a body as strict UTF-8 JSON; raise a 400 problem for anything else.

    Nesting is bounded by the caller after parsing; nesting deep enough to
    exhaust the C parser's recursion limit is reported here as too deep.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise problem(400, "The request body is not valid UTF-8.") from None
    try:
        return _DECODER.decode(text)
    except RecursionError:
        raise too_deep("The request body", max_depth) from None
    except json.JSONDecodeError as ex:
        raise problem(
            400, f"The request body is not valid JSON (line {ex.lineno}, column {ex.colno})."
        ) from None
    except ValueError:  # NaN/Infinity, or an integer with too many digits
        raise problem(400, "The request body is not valid JSON.") from None


def unsupported() -> ProblemError:
    """Build the 415 problem that lists the accepted media types."""
    return problem(
        415,
        "The request body must be JSON: " + ", ".join(ACCEPTED_MEDIA_TYPES) + " (UTF-8).",
        accepted=list(ACCEPTED_MEDIA_TYPES),
    )


def too_large(limit: int) -> ProblemError:
    """Build the 413 problem for a body above ``limit`` bytes."""
    return problem(413, f"The request body exceeds {limit} bytes.", max_body_bytes=limit)
