"""The Cerberus validator subclass: named coercers for string input, bounded errors."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import cerberus
import cerberus.errors

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


class ErrorsCut(cerberus.errors.ValidationError):  # type: ignore[misc]
    """Marker in a validator's error list: errors after this one were not recorded.

    Its field is ``"..."`` under the validator's own path, so Cerberus's own
    error handlers show it as ``{"...": ["more errors were not recorded"]}``.
    """

    def __init__(self, document_path: tuple[Any, ...], schema_path: tuple[Any, ...]) -> None:
        info = ("more errors were not recorded",)
        path = (*document_path, "...")
        super().__init__(path, schema_path, cerberus.errors.CUSTOM.code, None, None, None, info)


class _OneField(Mapping[Any, Any]):
    """A document as an ``*of`` branch sees it: every key readable, one key iterated.

    Cerberus validates the whole parent document in every branch of
    ``anyof``/``oneof``/``allof``/``noneof``, with unknown fields allowed, so
    each sibling it iterates is pure waste: N list items (or ``valuesrules``
    values) with a logic rule cost N * N. Lookups (``dependencies``,
    ``excludes``, ``^root`` paths, custom rules) still reach every sibling.
    """

    __slots__ = ("_document", "_field")

    def __init__(self, document: Mapping[Any, Any], field: Any) -> None:
        self._document = document
        self._field = field

    def __getitem__(self, key: Any) -> Any:
        return self._document[key]

    def __contains__(self, key: object) -> bool:
        return key in self._document

    def __iter__(self) -> Iterator[Any]:
        return iter((self._field,))

    def __len__(self) -> int:
        return 1

    def __copy__(self) -> _OneField:
        return self  # Cerberus copies documents it may normalize; branches never do


class Validator(cerberus.Validator):  # type: ignore[misc]
    """Cerberus validator with named coercers for values that arrive as strings.

    ``"coerce": "integer"``, ``"number"`` and ``"boolean"`` convert strings
    (query parameters) strictly and leave other values untouched, so a bad
    value is reported as "cannot be coerced" instead of crashing. Subclass it
    to add your own rules and pass the subclass as ``validator_class`` to
    :func:`validate`.

    Errors are recorded in constant time each (Cerberus re-sorts its whole
    error list and its schema error tree on every error, which is quadratic);
    ``_errors`` is therefore unsorted and ``schema_error_tree`` stays empty.
    With the extra keyword ``max_errors=N`` (the decorator passes it) each
    validator, including the children Cerberus creates for nested documents,
    list items and ``*of`` branches, keeps at most N errors and then one
    :class:`ErrorsCut` marker. A validator that dropped errors still has
    errors, so validity never changes. The branches of ``*of`` rules iterate
    only their own field of the document (Cerberus iterates every sibling:
    quadratic for a list whose items have a logic rule) and still look up any.

    Example:
        >>> v = Validator({"dry_run": {"type": "boolean", "coerce": "boolean"}})
        >>> v.validate({"dry_run": "yes"}), v.document
        (True, {'dry_run': True})
    """

    document: Any  # set by Cerberus on every validate() call

    def _error(self, *args: Any) -> None:
        if len(args) != 1:  # Cerberus builds one ValidationError and calls back with [it]
            super()._error(*args)
            return
        new = list(args[0])
        limit: int | None = self._config.get("max_errors")
        if limit is not None and len(self._errors) + len(new) > limit:
            marked = len(self._errors) > limit  # only the marker goes past the limit
            new = new[: max(limit - len(self._errors), 0)]
            self._record(new)
            if not marked:
                self._errors.append(ErrorsCut(self.document_path, self.schema_path))
            return
        self._record(new)

    def _record(self, new: list[Any]) -> None:
        # PERF: Cerberus's own _error sorts self._errors and the schema error tree after
        # every error: quadratic in the number of errors. Cerberus reads only the document
        # error tree back (coercion chains, readonly, dependencies); the error handler sorts.
        self._errors.extend(new)
        for error in new:
            self.document_error_tree.add(error)
            self.error_handler.emit(error)

    def _BareValidator__validate_logical(  # noqa: N802 (overrides a name-mangled method)
        self, operator: str, definitions: Any, field: Any, value: Any
    ) -> Any:
        document = self.document
        self.document = _OneField(document, field)  # see _OneField: linear, not quadratic
        try:
            return super()._BareValidator__validate_logical(operator, definitions, field, value)
        finally:
            self.document = document

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
