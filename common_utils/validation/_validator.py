"""The Cerberus validator subclass: named coercers for string input, bounded errors."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from common_utils._compat_cerberus import ErrorsCut, LinearErrorsValidator

__all__ = ["ErrorsCut", "Validator", "params_schema"]

_INT_RE = re.compile(r"[+-]?[0-9]+")
_NUMBER_RE = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
# Query-parameter types and the named coercer that turns their string form into them.
_PARAM_COERCERS = {
    "integer": "integer",
    "float": "number",
    "number": "number",
    "boolean": "boolean",
}


class Validator(LinearErrorsValidator):
    """Cerberus validator with named coercers for values that arrive as strings.

    ``"coerce": "integer"``, ``"number"`` and ``"boolean"`` convert strings
    (query parameters) strictly and leave other values untouched, so a bad
    value is reported as "cannot be coerced" instead of crashing. Subclass it
    to add your own rules and pass the subclass as ``validator_class`` to
    `validate`.

    Errors are recorded in constant time each and at most ``max_errors`` of
    them (the decorator passes it): see
    `common_utils._compat_cerberus.LinearErrorsValidator`.

    Examples:
        >>> v = Validator({"dry_run": {"type": "boolean", "coerce": "boolean"}})
        >>> v.validate({"dry_run": "yes"}), v.document
        (True, {'dry_run': True})
    """

    def _normalize_coerce_integer(self, value: Any) -> Any:
        if isinstance(value, str):
            if not _INT_RE.fullmatch(value):
                raise ValueError("not an integer")
            return int(value)
        return value

    def _normalize_coerce_number(self, value: Any) -> Any:
        if isinstance(value, str):
            if not _NUMBER_RE.fullmatch(value):
                raise ValueError("not a number")
            return float(value)
        return value

    def _normalize_coerce_boolean(self, value: Any) -> Any:
        if isinstance(value, str):
            lowered = value.lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValueError("not a boolean")
        return value


def params_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Add named coercers to scalar query-parameter fields that lack ``coerce``."""
    out: dict[str, Any] = {}
    for name, rules in schema.items():
        if isinstance(rules, Mapping):
            rules = dict(rules)
            _add_coercer(rules)
            items = rules.get("schema")
            if rules.get("type") == "list" and isinstance(items, Mapping):
                rules["schema"] = dict(items)
                _add_coercer(rules["schema"])
        out[name] = rules
    return out


def _add_coercer(rules: dict[str, Any]) -> None:
    coercer = _PARAM_COERCERS.get(rules.get("type"))  # type: ignore[arg-type]
    if coercer is not None and "coerce" not in rules:
        rules["coerce"] = coercer
