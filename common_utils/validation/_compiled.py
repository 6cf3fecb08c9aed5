"""A compiled fast path for `validate`: accept valid documents without Cerberus.

At decoration time `compile_fast_path` translates a Cerberus schema into a
tree of small closures, one per rule set, in the spirit of fastjsonschema.
Running it on a document either returns the document Cerberus would have
returned (accepted) or ``None`` (undecided). It never rejects: a document it
does not accept goes to Cerberus, which alone decides and writes the errors.
So every answer, every normalized document and every error stays Cerberus'.

**The contract**: "accepted by the fast path" implies "accepted by Cerberus
1.3, with an equal normalized document that is copied where Cerberus copies
and shares where Cerberus shares". Whenever a rule, a value or a count is not
provably the same, the fast path answers ``None``.

**The subset compiled** (anything else makes the whole schema uncompiled):

- ``type`` with ``string``, ``integer``, ``float``, ``number``, ``boolean``,
  ``dict`` and ``list`` (a value of any other Python type is undecided; Cerberus'
  own definitions: ``integer`` and ``float`` accept ``bool``, ``number`` does not);
- ``required``, ``nullable``, ``empty``, ``meta``, ``require_all``;
- ``allowed`` (a list, tuple or set; array items one by one), ``min``, ``max``,
  ``minlength``, ``maxlength``, ``regex`` (Cerberus' own ``match`` with a ``$``
  appended);
- ``schema`` of fields for objects and of rules for array items, ``keysrules``,
  ``valuesrules`` (not together with ``schema``), ``allow_unknown`` and
  ``purge_unknown`` as booleans, at every level with Cerberus' inheritance.

Rule sets and schemas given as registry names, ``allow_unknown`` given as
rules, every normalization rule (``coerce``, ``default``, ``rename`` ...),
``readonly``, ``dependencies``, ``excludes``, ``forbidden``, ``contains``,
``items``, ``check_with``, ``*of`` and custom rules are left to Cerberus, and
so is any validator class other than `common_utils.validation.Validator`
(a subclass may change what any rule means).

**Limits and budget**: the fast path runs after the size, depth and value
limits, and counts the child validations Cerberus would have spent on the
document (``max_checks``); past the budget it is undecided, so Cerberus
answers the 400 as before.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Mapping
from typing import Any, Final

__all__ = ["FastPath", "compile_fast_path"]

FastPath = Callable[[dict[Any, Any]], "dict[Any, Any] | None"]
"""A compiled schema: the normalized document, or ``None`` when Cerberus must decide."""

# A rule set's check: the value as Cerberus normalizes it, or _FAIL (undecided).
# ``spent`` holds the child validations Cerberus would have created so far.
_Check = Callable[[Any, list[int]], Any]
_FAIL: Final = object()

# What Cerberus' TypeDefinitions accept, as exact types of values JSON parsing produces.
_TYPES: dict[str, frozenset[type]] = {
    "string": frozenset({str}),
    "integer": frozenset({int, bool}),
    "float": frozenset({float, int, bool}),
    "number": frozenset({int, float}),
    "boolean": frozenset({bool}),
    "dict": frozenset({dict}),
    "list": frozenset({list}),
}
_JSON_TYPES: frozenset[type] = frozenset({str, int, float, bool, dict, list, type(None)})
_SCALARS = (str, int, float, bool, type(None))
_SIZED = (str, list, dict)
_NUMBERS = frozenset({int, float, bool})
_BOUNDS = (int, float, type(None))
_SUBSET = frozenset(
    {
        "allow_unknown",
        "allowed",
        "empty",
        "keysrules",
        "max",
        "maxlength",
        "meta",
        "min",
        "minlength",
        "nullable",
        "purge_unknown",
        "regex",
        "require_all",
        "required",
        "schema",
        "type",
        "valuesrules",
    }
)


class _UnsupportedError(Exception):
    """The schema uses something outside the compiled subset."""


class _Context:
    """What a child validator inherits from its parent (Cerberus' config)."""

    __slots__ = ("allow_unknown", "normalizes", "purge_unknown", "require_all", "rule_names")

    def __init__(
        self,
        *,
        allow_unknown: bool,
        purge_unknown: bool,
        require_all: bool,
        normalizes: bool,
        rule_names: frozenset[str],
    ) -> None:
        self.allow_unknown = allow_unknown
        self.purge_unknown = purge_unknown
        self.require_all = require_all
        self.normalizes = normalizes
        self.rule_names = rule_names

    def child(self, rules: Mapping[str, Any]) -> _Context:
        """The context of a document below a field with ``rules`` (its ``schema``)."""
        return _Context(
            allow_unknown=_flag(rules, "allow_unknown", self.allow_unknown),
            purge_unknown=_flag(rules, "purge_unknown", self.purge_unknown),
            require_all=_flag(rules, "require_all", self.require_all),
            normalizes=self.normalizes,
            rule_names=self.rule_names,
        )


def compile_fast_path(
    schema: Mapping[Any, Any],
    *,
    validator_class: type,
    allow_unknown: bool,
    purge_unknown: bool,
    update: bool,
    normalizes: bool,
    max_checks: int,
) -> FastPath | None:
    """Compile an expanded Cerberus schema; return ``None`` if it leaves the subset.

    Args:
        schema: The schema as the validator holds it, expanded and checked.
        validator_class: The validator class `validate` uses; only
            `common_utils.validation.Validator` itself is compiled.

    Keyword Args:
        allow_unknown: The validator's ``allow_unknown`` (only a bool compiles).
        purge_unknown: The validator's ``purge_unknown``.
        update: Whether ``required`` is ignored.
        normalizes: Whether the decorator runs Cerberus' normalization pass
            (its child validations count against ``max_checks`` too).
        max_checks: The request's budget of child validations.

    Returns:
        A function from a document to its normalized copy or ``None``.
    """
    from common_utils.validation._validator import Validator

    if validator_class is not Validator or type(allow_unknown) is not bool:
        return None
    context = _Context(
        allow_unknown=allow_unknown,
        purge_unknown=bool(purge_unknown),
        require_all=False,
        normalizes=normalizes,
        rule_names=frozenset(Validator.rules),
    )
    try:
        check = _compile_fields(schema, context, update)
    except (_UnsupportedError, re.error):
        return None

    def fast_path(document: dict[Any, Any]) -> dict[Any, Any] | None:
        spent = [0]
        result = check(document, spent)
        if result is _FAIL or spent[0] > max_checks:
            return None
        return result  # type: ignore[no-any-return]

    return fast_path


def _flag(rules: Mapping[str, Any], name: str, inherited: bool) -> bool:
    value = rules.get(name, inherited)
    if type(value) is not bool:  # allow_unknown as rules or a registry name: Cerberus decides
        raise _UnsupportedError(name)
    return value


def _compile_fields(schema: Any, context: _Context, update: bool) -> _Check:
    """Compile a schema of fields into the check of one document (a dict)."""
    if not isinstance(schema, Mapping):
        raise _UnsupportedError("schema")
    fields: dict[Any, _Check] = {}
    required: list[Any] = []
    for name, rules in schema.items():
        fields[name] = _compile_rules(rules, context, update)
        if rules.get("required", context.require_all) is True:
            required.append(name)
    allow_unknown = context.allow_unknown
    purge = context.purge_unknown and not allow_unknown
    check_required = not update and bool(required)
    get = fields.get

    def check_document(document: Any, spent: list[int]) -> Any:
        # Cerberus copies the document, purges unknown fields, then checks field by field.
        out = document.copy()
        for key, value in document.items():
            check = get(key)
            if check is None:
                if allow_unknown:
                    continue
                if purge:
                    del out[key]
                    continue
                return _FAIL
            result = check(value, spent)
            if result is not value:  # a copied container, or undecided
                if result is _FAIL:
                    return _FAIL
                out[key] = result
        if check_required:
            for name in required:
                if name not in out:
                    return _FAIL
        return out

    return check_document


def _compile_rules(rules: Any, context: _Context, update: bool) -> _Check:  # noqa: C901
    """Compile one field's rule set into the check of its value."""
    if not isinstance(rules, Mapping) or not _SUBSET.issuperset(rules):
        raise _UnsupportedError("rules")
    for name in ("nullable", "empty", "required", "require_all"):
        if name in rules and type(rules[name]) is not bool:
            raise _UnsupportedError(name)
    nullable: bool = rules.get("nullable", False)
    types = _types(rules.get("type"))
    has_empty = "empty" in rules
    empty_ok: bool = rules.get("empty", True)
    # Rules that an empty value drops (Cerberus' _validate_empty), and those it keeps.
    droppable: list[Callable[[Any], bool]] = []
    kept: list[Callable[[Any], bool]] = []
    if "allowed" in rules:
        droppable.append(_allowed(rules["allowed"]))
    if "minlength" in rules or "maxlength" in rules:
        droppable.append(_lengths(rules, types))
    if "regex" in rules:
        droppable.append(_regex(rules["regex"]))
    if "min" in rules or "max" in rules:
        kept.append(_bounds(rules, types))
    dict_check, list_check = _containers(rules, context, update)
    droppable_t = tuple(droppable)
    every = tuple(droppable + kept)
    kept_t = tuple(kept)

    def rules_pass(value: Any, kind: type) -> bool:
        predicates = every
        if has_empty and kind in _SIZED and not value:
            if not empty_ok:
                return False
            predicates = kept_t
        return all(predicate(value) for predicate in predicates)

    def check(value: Any, spent: list[int]) -> Any:
        if value is None:
            return None if nullable else _FAIL  # nullable drops every other rule
        kind = type(value)
        if kind not in types:
            return _FAIL
        if kind is dict and dict_check is not None:
            # Cerberus purges unknown fields before it checks the rules: check what is left
            value = dict_check(value, spent)
            if value is _FAIL:
                return _FAIL
        if not rules_pass(value, kind):
            return _FAIL
        if kind is list and list_check is not None:
            return list_check(value, spent)
        return value

    if dict_check is not None or list_check is not None:
        if every:
            return check

        # PERF: an object or array with no rule of its own (an order's items): no loop;
        # with one_rule and fields_only, a 50-item order's fast path takes 45 us, not 52.
        def container(value: Any, spent: list[int]) -> Any:
            if value is None:
                return None if nullable else _FAIL
            kind = type(value)
            if kind not in types:
                return _FAIL
            if kind is dict and dict_check is not None:
                value = dict_check(value, spent)  # purged first, as in `check`
                if value is _FAIL:
                    return _FAIL
            if has_empty and not empty_ok and kind in _SIZED and not value:
                return _FAIL
            if kind is list and list_check is not None:
                return list_check(value, spent)
            return value

        return container
    if len(every) == 1:
        # PERF: the common leaf with one rule (a bounded string, an int range): no loop.
        only = every[0]
        dropped = bool(droppable_t)

        def one_rule(value: Any, spent: list[int]) -> Any:
            if value is None:
                return None if nullable else _FAIL
            kind = type(value)
            if kind not in types:
                return _FAIL
            if has_empty and kind in _SIZED and not value:
                if not empty_ok:
                    return _FAIL
                if dropped:
                    return value
            return value if only(value) else _FAIL

        return one_rule
    if not every:
        # PERF: the common leaf (type, nullable, empty only): no loop, no container test.
        def leaf(value: Any, spent: list[int]) -> Any:
            if value is None:
                return None if nullable else _FAIL
            kind = type(value)
            if kind not in types:
                return _FAIL
            if has_empty and not empty_ok and kind in _SIZED and not value:
                return _FAIL
            return value

        return leaf
    return check


def _types(constraint: Any) -> frozenset[type]:
    if constraint is None:
        return _JSON_TYPES
    names = (constraint,) if isinstance(constraint, str) else constraint
    if not isinstance(names, (list, tuple)):
        raise _UnsupportedError("type")
    if not names:
        return _JSON_TYPES  # Cerberus: an empty type rule checks nothing
    accepted: set[type] = set()
    for name in names:
        if name not in _TYPES:
            raise _UnsupportedError("type")
        accepted |= _TYPES[name]
    return frozenset(accepted)


def _containers(
    rules: Mapping[str, Any], context: _Context, update: bool
) -> tuple[_Check | None, _Check | None]:
    """Compile what Cerberus does with an object or an array under these rules."""
    keys = _compile_rules(rules["keysrules"], context, update) if "keysrules" in rules else None
    values = (
        _compile_rules(rules["valuesrules"], context, update) if "valuesrules" in rules else None
    )
    mapping_rules = {"schema", "allow_unknown", "purge_unknown"}.intersection(rules)
    if values is not None and mapping_rules:
        raise _UnsupportedError("valuesrules with schema")  # two normalizations of one object
    child = context.child(rules)
    fields: _Check | None = None
    items: _Check | None = None
    norm = 1 if context.normalizes else 0
    if "schema" in rules:
        schema = rules["schema"]
        if not isinstance(schema, Mapping):
            raise _UnsupportedError("schema")
        if all(name in context.rule_names for name in schema):
            # Rules for array items (or fields named like rules: try both readings).
            items = _compile_rules(schema, context, update)
            fields = _maybe(lambda: _compile_fields(schema, child, update))
        else:
            fields = _compile_fields(schema, child, update)
    elif mapping_rules:
        fields = _compile_fields({}, child, update)
    # Child validations Cerberus creates for one object: normalizing and validating
    # keysrules and valuesrules, normalizing a schema (any of mapping_rules), validating it.
    dict_cost = (norm + 1 if keys else 0) + (norm + 1 if values else 0)
    if mapping_rules:
        dict_cost += norm + (1 if "schema" in rules else 0)
    dict_check: _Check | None = None
    if keys is not None or values is not None or mapping_rules:
        if "schema" in rules and fields is None:
            dict_check = _undecided
        else:
            dict_check = _dict_check(keys, values, fields, dict_cost)
    list_check: _Check | None = None
    if "schema" in rules:
        list_check = _list_check(items, norm + 1) if items is not None else _undecided
    return dict_check, list_check


def _maybe(compile_: Callable[[], _Check]) -> _Check | None:
    try:
        return compile_()
    except (_UnsupportedError, re.error):
        return None


def _undecided(value: Any, spent: list[int]) -> Any:
    return _FAIL


def _dict_check(
    keys: _Check | None, values: _Check | None, fields: _Check | None, cost: int
) -> _Check:
    if keys is None and values is None and fields is not None:
        check_fields = fields

        # PERF: the common object, a schema of fields only (an order's items, its address).
        def fields_only(value: Any, spent: list[int]) -> Any:
            spent[0] += cost
            return check_fields(value, spent)

        return fields_only

    def check(value: Any, spent: list[int]) -> Any:
        spent[0] += cost
        out = value  # keysrules alone changes nothing and copies nothing
        if values is not None:
            out = {}
            for key, item in value.items():
                result = values(item, spent)
                if result is _FAIL:
                    return _FAIL
                out[key] = result
        if fields is not None:
            out = fields(out, spent)
            if out is _FAIL:
                return _FAIL
        if keys is not None:
            for key in out:
                if keys(key, spent) is _FAIL:
                    return _FAIL
        return out

    return check


def _list_check(items: _Check, cost: int) -> _Check:
    def check(value: Any, spent: list[int]) -> Any:
        spent[0] += cost
        out = [items(item, spent) for item in value]
        return _FAIL if _FAIL in out else out  # `in` tests identity first: no __eq__ runs

    return check


def _allowed(allowed: Any) -> Callable[[Any], bool]:
    if not isinstance(allowed, (list, tuple, set, frozenset)):
        raise _UnsupportedError("allowed")
    members: Any = allowed
    if all(type(x) in _SCALARS for x in allowed):
        # PERF: same answers as `in` on the list for these types (hash agrees with ==).
        members = frozenset(allowed)

    def check(value: Any) -> bool:
        if type(value) is list:  # every item must be allowed
            return all(type(item) in _SCALARS and item in members for item in value)
        if type(value) is dict:  # Cerberus iterates the keys: leave it to Cerberus
            return False
        return value in members

    return check


def _lengths(rules: Mapping[str, Any], types: frozenset[type]) -> Callable[[Any], bool]:
    least, most = rules.get("minlength", 0), rules.get("maxlength", sys.maxsize)
    if type(least) is not int or type(most) is not int:
        raise _UnsupportedError("minlength")
    if types == _TYPES["string"]:
        return lambda value: least <= len(value) <= most
    # Cerberus measures any Iterable: of JSON values, strings, arrays and objects.
    return lambda value: type(value) not in _SIZED or least <= len(value) <= most


def _regex(pattern: Any) -> Callable[[Any], bool]:
    if not isinstance(pattern, str):
        raise _UnsupportedError("regex")
    if not pattern.endswith("$"):  # exactly what Cerberus' _validate_regex does
        pattern += "$"
    match = re.compile(pattern).match
    return lambda value: type(value) is not str or match(value) is not None


def _bounds(rules: Mapping[str, Any], types: frozenset[type]) -> Callable[[Any], bool]:
    least, most = rules.get("min"), rules.get("max")
    for bound in (least, most):
        if bound is not None and type(bound) not in (int, float, str):
            raise _UnsupportedError("min")
    if types <= _NUMBERS and type(least) in _BOUNDS and type(most) in _BOUNDS:
        # Numbers against numbers always compare (NaN never gets here; if it did: undecided).
        low = -math.inf if least is None else least
        high = math.inf if most is None else most
        return lambda value: low <= value <= high

    def check(value: Any) -> bool:
        # Cerberus checks each bound alone; a value that does not compare with it passes it.
        try:
            if least is not None and value < least:
                return False
        except TypeError:
            pass
        try:
            return not (most is not None and value > most)
        except TypeError:
            return True

    return check
