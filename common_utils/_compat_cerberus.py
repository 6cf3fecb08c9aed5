"""Cerberus internals the library relies on, in one place, each pinned by a test.

Kept apart from ``common_utils._compat`` (Falcon) so that importing
``common_utils.auth`` never imports Cerberus. ``tests/test_compat.py`` checks
every name used here against the installed Cerberus (pinned ``<2``): an upgrade
that renames one fails that test instead of silently restoring quadratic time.

What is used, and why:

- ``Validator._error`` (recording an error) is overridden: Cerberus re-sorts its
  whole error list and schema error tree on every error (quadratic in their
  number); the override records in constant time and stops at ``max_errors``.
  It fills ``_errors``, ``document_error_tree`` and ``error_handler`` as the
  original does, and reads the ``max_errors`` rule from ``_config``.
- ``Validator._config`` holds the extra keyword arguments a validator was built
  with, copied into every child validator: read through `setting`.
- ``Validator._BareValidator__validate_logical`` (the ``*of`` rules) is wrapped:
  Cerberus validates the whole parent document in each branch, for each value.
- ``Validator._schema`` is set to the expanded plain dict once, so no request
  pays for Cerberus' per-call schema copy and re-check.
- ``Validator._errors`` is read for the flat error list.
- ``Validator._normalize_coerce``, ``_normalize_rename`` and
  ``_normalize_rename_handler`` (called by the normalization pass for every
  field) must not be overridden for `normalization_is_noop` to hold.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import cerberus
import cerberus.errors

__all__ = [
    "ErrorsCut",
    "LinearErrorsValidator",
    "keep_expanded_schema",
    "normalization_is_noop",
    "recorded_errors",
    "setting",
]

# Field rules that make Cerberus' normalization pass act on a field besides the
# normalization rules themselves: the container rules it recurses through (each
# recursion copies the container) and ``readonly`` (checked there, ahead of the rest).
_PASS_RULES = frozenset(
    {"allow_unknown", "items", "keysrules", "purge_unknown", "readonly", "schema", "valuesrules"}
)
# Methods the normalization pass calls for every field whatever the rules; and validate().
_PASS_METHODS = ("_normalize_coerce", "_normalize_rename", "_normalize_rename_handler", "validate")


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


class LinearErrorsValidator(cerberus.Validator):  # type: ignore[misc]
    """A Cerberus validator whose errors cost constant time each, and at most ``max_errors``.

    With the extra keyword ``max_errors=N`` each validator, including the
    children Cerberus creates for nested documents, list items and ``*of``
    branches, keeps at most N errors and then one `ErrorsCut` marker. A
    validator that dropped errors still has errors, so validity never changes.
    ``_errors`` is unsorted and ``schema_error_tree`` stays empty (Cerberus'
    error handlers sort by themselves). The branches of ``*of`` rules iterate
    only their own field of the document and still look up any.
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


def keep_expanded_schema(validator: cerberus.Validator) -> None:
    """Make ``validator`` reuse its expanded, checked schema on every ``validate()``.

    Cerberus copies a root ``DefinitionSchema`` on every call (normalization),
    and each copy expands, hashes and re-checks the whole schema; its own child
    validators get plain dicts instead. Call this right after construction.
    """
    validator._schema = validator.schema.schema


def normalization_is_noop(validator: cerberus.Validator) -> bool:
    """Tell whether Cerberus' normalization pass leaves every document as it is.

    True when no field's rules hold a normalization rule (``coerce``,
    ``default``, ``rename`` ... any of the class's ``normalization_rules``), a
    container rule or ``readonly``; no rules are a registry name; unknown fields
    are neither purged nor given rules; and the class keeps Cerberus' own
    normalization hooks. Then the pass reads the schema and nothing else: it
    records no error and copies nothing below the top-level copy that
    ``validate()`` makes anyway, so ``validate(document, normalize=False)``
    gives the same result, errors and ``document``. Cerberus 1.3 never
    normalizes inside ``*of`` branches, so their rules do not matter.
    """
    cls = type(validator)
    if any(getattr(cls, name) is not getattr(cerberus.Validator, name) for name in _PASS_METHODS):
        return False
    if validator.purge_unknown or validator.purge_readonly:
        return False
    if not isinstance(validator.allow_unknown, bool):  # a rules dict or a registry name
        return False
    acting = _PASS_RULES.union(cls.normalization_rules)
    schema: Mapping[Any, Any] = validator.schema
    return all(isinstance(rules, Mapping) and acting.isdisjoint(rules) for rules in schema.values())


def setting(validator: cerberus.Validator, name: str) -> Any:
    """Return the extra keyword argument ``name`` of a validator or its root, else ``None``."""
    return validator._config.get(name)


def recorded_errors(validator: cerberus.Validator) -> list[Any]:
    """Return the errors ``validator`` recorded in its last ``validate()``, as recorded."""
    errors: list[Any] = validator._errors
    return errors
