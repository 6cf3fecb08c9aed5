"""Media type, size and strict JSON parsing of request bodies."""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import math
from collections.abc import Iterator
from typing import Any

from common_utils.problems import ProblemError
from common_utils.validation._limits import (
    check_document,
    may_break_limits,
    not_finite,
    problem,
    too_deep,
)

ACCEPTED_MEDIA_TYPES = ("application/json", "application/*+json")
_BODY = "The request body"


class _NotFiniteError(ValueError):
    """A number literal too large for a float (``1e999``)."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise _NotFiniteError(literal)
    return value


_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)

# PERF: a 1 MiB body of nested arrays makes about a million lists; every 700 of them (2,000 on
# 3.13) the cyclic collector scans the young ones again, which tripled the parse's CPU (539 ms
# per hostile request, over the 500 ms bound; 135-139 ms with it paused, docs/benchmarks.md).
# JSON cannot form a cycle, so nothing the collector could find is missed; refcounting frees
# the parsed document as before. Only large bodies pause it: the switch is process-wide.
_PAUSE_GC_FROM_CHARS = 64 * 1024


@contextlib.contextmanager
def _collector_paused(size: int) -> Iterator[None]:
    """Pause the cyclic garbage collector while parsing ``size`` characters, if it is on."""
    if size < _PAUSE_GC_FROM_CHARS or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _is_json_media_type(content_type: str) -> bool:
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


# PERF: clients send the same few values, parsed once each here. The cache is bounded
# and holds only short values: the attacker-chosen strings it keeps total a few KB.
_cached_is_json_media_type = functools.lru_cache(maxsize=64)(_is_json_media_type)
_CACHED_LENGTH = 100


def is_json_media_type(content_type: str) -> bool:
    """Tell whether a Content-Type is JSON (any parameters, ``+json``) in UTF-8."""
    if len(content_type) <= _CACHED_LENGTH:
        return _cached_is_json_media_type(content_type)
    return _is_json_media_type(content_type)


def parse_json(data: bytes, *, max_depth: int, max_items: int) -> Any:
    """Parse a body as strict UTF-8 JSON within the limits; raise a 400 problem if not.

    The limits and value rules are those of `check_document`; the walk
    runs only when the text could break them, so normal bodies skip it.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise problem(400, "The request body is not valid UTF-8.") from None
    try:
        with _collector_paused(len(text)):
            document = _DECODER.decode(text)
    except RecursionError:
        raise too_deep(_BODY, max_depth) from None
    except _NotFiniteError:
        raise not_finite(_BODY) from None
    except json.JSONDecodeError as ex:
        raise problem(
            400, f"The request body is not valid JSON (line {ex.lineno}, column {ex.colno})."
        ) from None
    except ValueError:  # NaN/Infinity, or an integer with too many digits
        raise problem(400, "The request body is not valid JSON.") from None
    if isinstance(document, dict) and may_break_limits(
        text, max_depth=max_depth, max_items=max_items
    ):
        check_document(document, _BODY, max_depth=max_depth, max_items=max_items)
    return document


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
