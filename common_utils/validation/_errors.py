"""Cerberus errors as a flat, sorted list of ``{"field", "message"}`` without values."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import cerberus.errors

from common_utils.validation._validator import ErrorsCut

_MESSAGES: dict[int, str] = {
    cerberus.errors.REQUIRED_FIELD.code: "required field",
    cerberus.errors.UNKNOWN_FIELD.code: "unknown field",
    cerberus.errors.DEPENDENCIES_FIELD.code: "depends on field(s) {constraint}",
    cerberus.errors.DEPENDENCIES_FIELD_VALUE.code: "depends on field(s) {constraint}",
    cerberus.errors.EXCLUDES_FIELD.code: "must not be present with {constraint}",
    cerberus.errors.EMPTY_NOT_ALLOWED.code: "empty values not allowed",
    cerberus.errors.NOT_NULLABLE.code: "null value not allowed",
    cerberus.errors.BAD_TYPE.code: "must be of {constraint} type",
    cerberus.errors.BAD_TYPE_FOR_SCHEMA.code: "must be of dict type",
    cerberus.errors.ITEMS_LENGTH.code: "must have exactly {count} items",
    cerberus.errors.MIN_LENGTH.code: "min length is {constraint}",
    cerberus.errors.MAX_LENGTH.code: "max length is {constraint}",
    cerberus.errors.REGEX_MISMATCH.code: "value does not match regex '{constraint}'",
    cerberus.errors.MIN_VALUE.code: "min value is {constraint}",
    cerberus.errors.MAX_VALUE.code: "max value is {constraint}",
    cerberus.errors.UNALLOWED_VALUE.code: "unallowed value, allowed: {constraint}",
    cerberus.errors.UNALLOWED_VALUES.code: "unallowed values, allowed: {constraint}",
    cerberus.errors.FORBIDDEN_VALUE.code: "forbidden value",
    cerberus.errors.FORBIDDEN_VALUES.code: "forbidden values",
    cerberus.errors.MISSING_MEMBERS.code: "must contain {constraint}",
    cerberus.errors.COERCION_FAILED.code: "cannot be coerced",
    cerberus.errors.RENAMING_FAILED.code: "cannot be renamed",
    cerberus.errors.READONLY_FIELD.code: "field is read-only",
    cerberus.errors.SETTING_DEFAULT_FAILED.code: "default value cannot be set",
    cerberus.errors.NONEOF.code: "must not match any of the allowed definitions",
    cerberus.errors.ONEOF.code: "must match exactly one of the allowed definitions",
    cerberus.errors.ANYOF.code: "must match at least one of the allowed definitions",
    cerberus.errors.ALLOF.code: "must match all of the allowed definitions",
}


# Bounds of what a 422 holds whatever the client sent (docs/validation.md): path elements
# can be keys the client chose (valuesrules, keysrules, unknown keys), as long as a body.
MAX_ELEMENT_CHARS = 64
MAX_FIELD_CHARS = 256
MAX_MESSAGE_CHARS = 256
MAX_ERRORS_BYTES = 64 * 1024
TRUNCATED = "\u2026(truncated)"


def flat_errors(errors: Iterable[Any], limit: int) -> tuple[list[dict[str, str]], bool]:
    """Flatten, sort and cut Cerberus errors; tell whether any were left out.

    Each path element is cut at `MAX_ELEMENT_CHARS`, each ``field`` at
    `MAX_FIELD_CHARS` and each message at `MAX_MESSAGE_CHARS` (a cut ends
    with `TRUNCATED`), and the list stops before its JSON (as Python's
    ``json.dumps`` writes it, ASCII-escaped: the longest form) exceeds
    `MAX_ERRORS_BYTES`. Only bounded strings are ever built.

    Args:
        errors: A validator's ``_errors``.
        limit: Most errors returned.

    Returns:
        The ``{"field", "message"}`` list and whether errors were cut, here or
        by a validator that hit its ``max_errors``.
    """
    leaves: list[Any] = []
    cut = _collect(errors, leaves)
    # A value that cannot be coerced also fails its type rule: report the cause only.
    uncoerced = {e.document_path for e in leaves if e.code == cerberus.errors.COERCION_FAILED.code}
    leaves = [
        e
        for e in leaves
        if e.document_path not in uncoerced or e.code == cerberus.errors.COERCION_FAILED.code
    ]
    leaves.sort(key=lambda e: (_path_key(e.document_path), e.code))
    if len(leaves) > limit:
        leaves, cut = leaves[:limit], True
    out: list[dict[str, str]] = []
    size = 2  # the brackets of the list
    for error in leaves:
        entry = {"field": _dotted(error.document_path), "message": _cap(_message(error))}
        size += len(json.dumps(entry)) + 2  # and ", " before the next one
        if size > MAX_ERRORS_BYTES:
            return out, True
        out.append(entry)
    return out, cut


def _collect(errors: Iterable[Any], out: list[Any]) -> bool:
    cut = False
    for error in errors:
        if isinstance(error, ErrorsCut):
            cut = True
        # A logic error (anyof ...) is one message; other groups only wrap their children.
        elif error.is_logic_error or not error.child_errors:
            out.append(error)
        else:
            cut = _collect(error.child_errors, out) or cut
    return cut


def _path_key(path: tuple[Any, ...]) -> tuple[tuple[int, int, str], ...]:
    return tuple((0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in path)


def _dotted(path: tuple[Any, ...]) -> str:
    # JSON-Pointer-style escapes keep a key containing "." unambiguous. Each element is
    # cut before it is escaped or joined: a 1 MiB key never becomes a 1 MiB string here.
    parts: list[str] = []
    length = -1
    for p in path:
        text = str(p) if isinstance(p, int) else _element(p)
        length += len(text) + 1
        if length > MAX_FIELD_CHARS:
            return _cut(".".join([*parts, text]), MAX_FIELD_CHARS)
        parts.append(text)
    return ".".join(parts)


def _element(key: Any) -> str:
    text = key if isinstance(key, str) else str(key)
    escaped = text[: MAX_ELEMENT_CHARS + 1].replace("~", "~0").replace(".", "~1")
    return _cut(escaped, MAX_ELEMENT_CHARS) if len(escaped) > MAX_ELEMENT_CHARS else escaped


def _cut(text: str, limit: int) -> str:
    # Never half an escape: every "~" of an escaped text starts "~0" or "~1".
    return text[:limit].removesuffix("~") + TRUNCATED


def _cap(message: str) -> str:
    return _cut(message, MAX_MESSAGE_CHARS) if len(message) > MAX_MESSAGE_CHARS else message


def _fmt(constraint: Any) -> str:
    if isinstance(constraint, (list, tuple, set, frozenset, dict)):
        return ", ".join(sorted(str(c) for c in constraint))
    return str(constraint)


def _message(error: Any) -> str:
    if error.code == cerberus.errors.CUSTOM.code and error.info and isinstance(error.info[0], str):
        return error.info[0]  # written by the schema author in a custom rule
    template = _MESSAGES.get(error.code, "is invalid")
    constraint = error.constraint
    if error.code == cerberus.errors.BAD_TYPE.code and isinstance(constraint, (list, tuple)):
        shown = " or ".join(str(c) for c in constraint)
    else:
        shown = _fmt(constraint)
    count = len(constraint) if isinstance(constraint, (list, tuple)) else 0
    return template.format(constraint=shown, count=count)
