"""Typed, path-aware reading of decoded JSON documents (private)."""

from __future__ import annotations

import json
from typing import Any

from common_utils.cfenv._errors import CFEnvError


def type_name(value: object) -> str:
    """Name a decoded JSON value's type the way JSON does."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else type(value).__name__


def key_path(path: str, key: str | int) -> str:
    """Append one JSON key or index to a path: ``VCAP_SERVICES["redis"][0]``."""
    return f"{path}[{key}]" if isinstance(key, int) else f"{path}[{json.dumps(key)}]"


def format_path(parts: tuple[str | int, ...]) -> str:
    """Format ``(variable, key, index, ...)`` as a path; only done for error messages."""
    path = str(parts[0])
    for key in parts[1:]:
        path = key_path(path, key)
    return path


def load_object(text: str, where: str) -> dict[str, Any]:
    """Decode ``text`` as a JSON object or raise a CFEnvError naming ``where``."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as ex:
        # NOTE: ex.msg and the position never contain the document itself.
        raise CFEnvError(
            f"{where} is not valid JSON: {ex.msg} (line {ex.lineno}, column {ex.colno})"
        ) from None
    except (ValueError, RecursionError):
        raise CFEnvError(f"{where} is not valid JSON (too deep or too large)") from None
    if not isinstance(doc, dict):
        raise CFEnvError(f"{where} must be a JSON object, got {type_name(doc)}")
    return doc


class Reader:
    """Read typed attributes of one JSON object, naming its path in errors."""

    __slots__ = ("data", "parts")

    def __init__(self, data: dict[str, Any], parts: tuple[str | int, ...]) -> None:
        self.data = data
        self.parts = parts  # PERF: formatted only when an error needs it

    def _bad(self, key: str, expected: str, value: object) -> CFEnvError:
        path = format_path((*self.parts, key))
        return CFEnvError(f"{path} must be {expected}, got {type_name(value)}")

    def opt_str(self, key: str) -> str | None:
        """Return a string attribute, None when missing or null."""
        value = self.data.get(key)
        if value is None or isinstance(value, str):
            return value
        raise self._bad(key, "a string", value)

    def opt_int(self, key: str) -> int | None:
        """Return an integer attribute, None when missing or null."""
        value = self.data.get(key)
        if value is None or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        raise self._bad(key, "an integer", value)

    def str_tuple(self, key: str) -> tuple[str, ...]:
        """Return an array-of-strings attribute, () when missing or null."""
        value = self.data.get(key)
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self._bad(key, "an array of strings", value)
        for i, item in enumerate(value):
            if not isinstance(item, str):
                path = format_path((*self.parts, key, i))
                raise CFEnvError(f"{path} must be a string, got {type_name(item)}")
        return tuple(value)

    def opt_object(self, key: str) -> Reader | None:
        """Return an object attribute as a Reader, None when missing or null."""
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self._bad(key, "an object", value)
        return Reader(value, (*self.parts, key))
