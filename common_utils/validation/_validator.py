"""The Cerberus validator subclass: named coercers for string input, bounded errors."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import cerberus.errors

from common_utils._compat_cerberus import ErrorsCut, LinearErrorsValidator, setting

__all__ = ["BudgetExhaustedError", "CheckBudget", "ErrorsCut", "Validator", "params_schema"]

_INT_RE = re.compile(r"[+-]?[0-9]+")
_NUMBER_RE = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_LOGIC_RULES = frozenset({"anyof", "oneof", "allof", "noneof"})
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
# Query-parameter types and the named coercer that turns their string form into them.
_PARAM_COERCERS = {
    "integer": "integer",
    "float": "number",
    "number": "number",
    "boolean": "boolean",
}


class CheckBudget:
    """The value checks one request may still cost, shared by a validator and its children.

    Cerberus validates every nested document, list and ``anyof``/``oneof``/
    ``allof``/``noneof`` branch with a child validator of its own; each one
    checks at least one value. Nested alternatives multiply them (two levels of
    3-way ``oneof`` visit a value up to 13 times), so ``max_items`` alone does
    not bound the work: this does, in units of child validations.
    """

    __slots__ = ("left", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.left = limit

    def spend(self) -> None:
        """Take one value check; raise `BudgetExhaustedError` when none is left."""
        self.left -= 1
        if self.left < 0:
            raise BudgetExhaustedError(self.limit)


class BudgetExhaustedError(Exception):
    """A request needed more value checks than its budget (``max_checks``)."""


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

    # Cerberus judges ``forbidden`` and ``contains`` (and ``allowed`` given as a set)
    # with sets: an array or object inside a JSON array is unhashable, and the
    # TypeError was a 500 for any client. These judge list members by equality, as
    # Cerberus does for everything hashable; the docstrings are the rules' own
    # constraints, which Cerberus reads from them.

    def _validate_allowed(self, allowed_values: Any, field: Any, value: Any) -> None:
        """{'type': 'container'}"""  # noqa: D415 - the rule's constraints, read by Cerberus
        if isinstance(value, list) and isinstance(allowed_values, (set, frozenset)):
            unallowed = tuple(x for x in value if not _in_set(x, allowed_values))
            if unallowed:
                self._error(field, cerberus.errors.UNALLOWED_VALUES, unallowed)
            return
        super()._validate_allowed(allowed_values, field, value)

    def _validate_contains(self, expected_values: Any, field: Any, value: Any) -> None:
        """{'empty': False }"""  # noqa: D415 - the rule's constraints, read by Cerberus
        if not isinstance(value, list):
            super()._validate_contains(expected_values, field, value)
            return
        if isinstance(expected_values, str) or not isinstance(expected_values, Iterable):
            expected_values = (expected_values,)
        found = _found_in(value, expected_values)
        missing = [x for x in dict.fromkeys(expected_values) if x not in found]
        if missing:
            self._error(field, cerberus.errors.MISSING_MEMBERS, missing)

    def _validate_forbidden(self, forbidden_values: Any, field: Any, value: Any) -> None:
        """{'type': 'list'}"""  # noqa: D415 - the rule's constraints, read by Cerberus
        if not isinstance(value, list):
            super()._validate_forbidden(forbidden_values, field, value)
            return
        forbidden = _found_in(value, forbidden_values)
        if forbidden:
            self._error(field, cerberus.errors.FORBIDDEN_VALUES, forbidden)

    def _validate_items(self, items: Any, field: Any, values: Any) -> None:
        """{'type': 'list', 'check_with': 'items'}"""  # noqa: D415 - constraints, read by Cerberus
        if not isinstance(values, list):
            # Cerberus took len() of any value: a number was a TypeError (a 500), and a
            # string or an object was checked item by item.
            self._error(field, "must be of list type")
            return
        super()._validate_items(items, field, values)

    def _validate_schema(self, schema: Any, field: Any, value: Any) -> None:
        """{'type': ['dict', 'string'],
        'anyof': [{'check_with': 'schema'}, {'check_with': 'bulk_schema'}]}"""  # noqa: D205, D209, D415
        fields = isinstance(schema, Mapping) and not all(name in self.rules for name in schema)
        if fields and isinstance(value, list):
            # Fields, not rules: it wants an object. Cerberus applied the field names to
            # each item as rules and raised RuntimeError (a 500) for any array.
            self._error(field, cerberus.errors.BAD_TYPE_FOR_SCHEMA)
            return
        super()._validate_schema(schema, field, value)

    def _get_child_validator(self, *args: Any, **kwargs: Any) -> Any:
        # Cerberus' documented hook for every child validation (nested documents, list
        # items, *of branches, keysrules, valuesrules); children share the root's budget
        # through the configuration Cerberus copies into them.
        budget: CheckBudget | None = setting(self, "check_budget")
        if budget is not None:
            budget.spend()
            crumb = kwargs.get("schema_crumb")
            if isinstance(crumb, tuple) and len(crumb) > 1 and crumb[1] in _LOGIC_RULES:
                budget.spend()  # a branch builds and checks a schema of its own: twice the work
        return super()._get_child_validator(*args, **kwargs)

    def _normalize_coerce_integer(self, value: Any) -> Any:
        return _from_text(value, _INT_RE, int, "not an integer")

    def _normalize_coerce_number(self, value: Any) -> Any:
        return _from_text(value, _NUMBER_RE, float, "not a number")

    def _normalize_coerce_boolean(self, value: Any) -> Any:
        if isinstance(value, str):
            lowered = value.lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValueError("not a boolean")
        return value


def _from_text(
    value: Any, pattern: re.Pattern[str], convert: Callable[[str], Any], problem: str
) -> Any:
    """Convert a query parameter's text that matches ``pattern``; leave other values as they are.

    Raises:
        ValueError: ``problem``, for text that does not match.
    """
    if not isinstance(value, str):
        return value
    if not pattern.fullmatch(value):
        raise ValueError(problem)
    return convert(value)


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


def _in_set(value: Any, values: set[Any] | frozenset[Any]) -> bool:
    return _hashable(value) and value in values  # unhashable: equal to no member of a set


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _found_in(array: list[Any], wanted: Iterable[Any]) -> list[Any]:
    """The ``wanted`` values (hashable: Cerberus hashes the schema) that ``array`` holds."""
    members = {item for item in array if _hashable(item)}
    return [value for value in dict.fromkeys(wanted) if value in members]
