"""Convert Cerberus schemas to JSON Schema 2020-12 (the dialect of OpenAPI 3.1).

The converter describes what a client may send: a document Cerberus accepts is
accepted by the JSON Schema (soundness is what the property tests pin). Rules it
cannot express are dropped and listed in `Conversion.dropped`; it never
raises on a rule it does not know.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Conversion", "cerberus_rules_to_json_schema", "cerberus_to_json_schema"]

JSONSchema = dict[str, Any]

# Cerberus type name -> JSON Schema fragment. `integer` and `float` also accept
# Python's bool in Cerberus; the document does not advertise that quirk.
_TYPES: dict[str, JSONSchema] = {
    "boolean": {"type": "boolean"},
    "integer": {"type": "integer"},
    "float": {"type": "number"},
    "number": {"type": "number"},
    "string": {"type": "string"},
    "dict": {"type": "object"},
    "list": {"type": "array"},
    "set": {"type": "array", "uniqueItems": True},
    "container": {"type": ["array", "object"]},
    "binary": {"type": "string", "contentEncoding": "base64"},
    "date": {"type": "string", "format": "date"},
    "datetime": {"type": "string", "format": "date-time"},
}
# The string forms Python's int() and float() accept (a little looser, never stricter).
INT_STRING_PATTERN = r"^\s*[+-]?\d[\d_]*\s*$"
FLOAT_STRING_PATTERN = (
    r"^\s*[+-]?(?:(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d[\d_]*)?"
    r"|[iI][nN][fF](?:[iI][nN][iI][tT][yY])?|[nN][aA][nN])\s*$"
)
# Named coercers of common_utils.validation.Validator: the strings they turn into values.
_NAMED_COERCERS = {
    "integer": r"^[+-]?[0-9]+$",
    "number": r"^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$",
    "boolean": (
        r"^(?:[tT][rR][uU][eE]|[fF][aA][lL][sS][eE]|[yY][eE][sS]|[nN][oO]|[oO][nN]|[oO][fF][fF]|1|0)$"
    ),
}
_OF_RULES = ("allof", "anyof", "oneof", "noneof")
# Rules that only shape normalization or documentation: nothing to validate.
_SILENT = frozenset(
    {
        "meta",
        "required",
        "nullable",
        "default",
        "allow_unknown",
        "purge_unknown",
        "require_all",
        "excludes",
        "dependencies",
    }
)
_KNOWN = (
    frozenset(
        {
            "type",
            "allowed",
            "forbidden",
            "contains",
            "empty",
            "min",
            "max",
            "minlength",
            "maxlength",
            "regex",
            "schema",
            "items",
            "keysrules",
            "valuesrules",
            "coerce",
            "readonly",
            *_OF_RULES,
        }
    )
    | _SILENT
)
_ALIASES = {"keyschema": "keysrules", "valueschema": "valuesrules"}


@dataclass
class Conversion:
    """The JSON Schema of a Cerberus schema and the rules left out of it.

    Attributes:
        schema: The JSON Schema 2020-12 (an ``object`` schema for a document
            schema, any schema for a rules set).
        dropped: ``"path: rule"`` strings naming each rule that could not be
            expressed, in schema order, without duplicates.

    Examples:
        >>> conv = cerberus_to_json_schema({"n": {"type": "integer", "check_with": "odd"}})
        >>> conv.dropped
        ['n: check_with']
    """

    schema: JSONSchema
    dropped: list[str] = field(default_factory=list)


@dataclass
class _Ctx:
    dropped: list[str] = field(default_factory=list)
    loose: int = 0  # incremented each time the output accepts more than Cerberus
    # False inside the *of branches of a field whose type excludes booleans.
    boolean_possible: bool = True

    def drop(self, path: str, rule: str) -> None:
        self.loose += 1
        self.dropped.append(f"{path}: {rule}" if path else rule)


@dataclass(frozen=True)
class _Doc:
    allow_unknown: Any
    purge_unknown: bool
    require_all: bool
    update: bool


def cerberus_to_json_schema(
    schema: Mapping[str, Any],
    *,
    allow_unknown: bool | Mapping[str, Any] = False,
    purge_unknown: bool = False,
    require_all: bool = False,
    update: bool = False,
    coerce: bool = True,
) -> Conversion:
    """Convert a Cerberus document schema to a JSON Schema ``object`` schema.

    Args:
        schema: A Cerberus schema: a mapping of field names to rules sets.

    Keyword Args:
        allow_unknown: The validator's ``allow_unknown`` (``True``, or a rules
            set for unknown fields).
        purge_unknown: The validator's ``purge_unknown``: unknown fields are
            removed, so the client may send them.
        require_all: The validator's ``require_all``.
        update: Validation with ``update=True`` ignores ``required``.
        coerce: Describe what ``coerce`` rules accept (the string form of a
            number coerced with ``int`` or ``float``). Pass ``False`` for query
            parameters, whose OpenAPI schemas describe the value, not its
            serialization.

    Returns:
        The `Conversion`.

    Examples:
        >>> cerberus_to_json_schema({"sku": {"type": "string", "required": True}}).schema
        {'type': 'object', 'properties': {'sku': {'type': 'string'}}, 'required': ['sku'], 'additionalProperties': False}
    """  # noqa: E501
    ctx = _Ctx()
    doc = _Doc(allow_unknown, purge_unknown, require_all, update)
    return Conversion(_mapping(schema, "", ctx, doc, coerce=coerce), ctx.dropped)


def cerberus_rules_to_json_schema(rules: Mapping[str, Any], *, coerce: bool = True) -> Conversion:
    """Convert one Cerberus rules set (the rules of one field) to a JSON Schema.

    Args:
        rules: The rules of one field, for example ``{"type": "integer", "min": 1}``.

    Keyword Args:
        coerce: As for `cerberus_to_json_schema`.

    Returns:
        The `Conversion`.

    Examples:
        >>> cerberus_rules_to_json_schema({"type": "integer", "min": 1}).schema
        {'type': 'integer', 'minimum': 1}
    """
    ctx = _Ctx()
    doc = _Doc(False, False, False, False)
    return Conversion(_rules(rules, "", ctx, doc, coerce=coerce), ctx.dropped)


def _join(path: str, name: object) -> str:
    return f"{path}.{name}" if path else str(name)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _mapping(schema: Any, path: str, ctx: _Ctx, doc: _Doc, *, coerce: bool) -> JSONSchema:
    out: JSONSchema = {"type": "object"}
    if not isinstance(schema, Mapping):
        ctx.drop(path, "schema (a registry name or not a mapping)")
        return out
    props: JSONSchema = {}
    required: list[str] = []
    dependent: dict[str, list[str]] = {}
    excluded: set[str] = set()
    for name, raw in schema.items():
        fpath = _join(path, name)
        if not isinstance(raw, Mapping):
            ctx.drop(fpath, "rules (not a mapping)")
            props[str(name)] = {}
            continue
        rules = raw
        for key in ("excludes", "dependencies"):
            if key in rules:
                value = rules[key]
                names = [value] if isinstance(value, str) else value
                if key == "excludes" and isinstance(names, list):
                    excluded.update(str(n) for n in names)
                    ctx.drop(fpath, "excludes")
                elif (
                    key == "dependencies"
                    and isinstance(names, list)
                    and all(
                        isinstance(n, str) and "." not in n and not n.startswith("^") for n in names
                    )
                ):
                    dependent[str(name)] = [str(n) for n in names]
                else:
                    ctx.drop(fpath, key)
        has_default = "default" in rules or "default_setter" in rules
        if rules.get("required", doc.require_all) and not (has_default or doc.update):
            required.append(str(name))
        if rules.get("readonly"):
            props[str(name)] = False
            continue
        props[str(name)] = _rules(rules, fpath, ctx, doc, coerce=coerce)
    out["properties"] = props
    required = [n for n in required if n not in excluded]
    if required:
        out["required"] = required
    if dependent:
        out["dependentRequired"] = dependent
    if isinstance(doc.allow_unknown, Mapping):
        out["additionalProperties"] = _rules(
            doc.allow_unknown, _join(path, "<unknown>"), ctx, doc, coerce=coerce
        )
    elif not (doc.allow_unknown or doc.purge_unknown):
        out["additionalProperties"] = False
    return out


def _types(rules: Mapping[str, Any], path: str, ctx: _Ctx) -> list[JSONSchema] | None:
    """The JSON Schema fragments of the ``type`` rule, or None when unconstrained."""
    if "type" not in rules:
        return None
    declared = rules["type"]
    names = [declared] if isinstance(declared, str) else declared
    if not isinstance(names, Sequence) or not names:
        ctx.drop(path, "type")
        return None
    fragments = []
    for name in names:
        if not isinstance(name, str) or name not in _TYPES:
            ctx.drop(path, f"type {name!r}")
            return None
        fragments.append(_TYPES[name])
    return fragments


def _json_types(fragments: list[JSONSchema] | None) -> set[str] | None:
    if fragments is None:
        return None
    names: set[str] = set()
    for frag in fragments:
        value = frag["type"]
        names.update([value] if isinstance(value, str) else value)
    return names


def _type_schema(fragments: list[JSONSchema]) -> JSONSchema:
    if len(fragments) == 1:
        return dict(fragments[0])
    names = sorted(_json_types(fragments) or ())
    if "number" in names and "integer" in names:
        names.remove("integer")
    plain = all(len(f) == 1 for f in fragments)
    if plain:
        return {"type": names if len(names) > 1 else names[0]}
    return {"anyOf": [dict(f) for f in fragments]}


def _applies(types: set[str] | None, *candidates: str) -> bool:
    return types is None or any(c in types for c in candidates)


def _rules(  # noqa: C901 - one flat dispatch over the Cerberus rules
    raw_rules: Mapping[str, Any], path: str, ctx: _Ctx, doc: _Doc, *, coerce: bool
) -> JSONSchema:
    rules = _expand(raw_rules, path, ctx)
    fragments = _types(rules, path, ctx)
    types = _json_types(fragments)
    out: JSONSchema = _type_schema(fragments) if fragments else {}
    extra: list[JSONSchema] = []  # combined with allOf

    for rule in rules:
        if rule not in _KNOWN:
            ctx.drop(path, rule)
    meta = rules.get("meta")
    if isinstance(meta, Mapping):
        for key in ("title", "description", "examples"):
            if key in meta:
                out[key] = meta[key]
    if "default" in rules:
        out["default"] = rules["default"]

    for rule, key_str, key_arr, key_obj in (
        ("minlength", "minLength", "minItems", "minProperties"),
        ("maxlength", "maxLength", "maxItems", "maxProperties"),
    ):
        value = rules.get(rule)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            ctx.drop(path, rule)
            continue
        for json_type, key in (("string", key_str), ("array", key_arr), ("object", key_obj)):
            if _applies(types, json_type):
                out[key] = value
    for rule, key in (("min", "minimum"), ("max", "maximum")):
        if rule in rules:
            if _is_number(rules[rule]):
                out[key] = rules[rule]
                # NOTE: Cerberus compares True/False as 1/0; JSON Schema's bounds
                # ignore booleans, so there the document accepts more.
                if _applies(types, "boolean") and (types is not None or ctx.boolean_possible):
                    ctx.loose += 1
            else:
                ctx.drop(path, f"{rule} (not a number)")
    if "regex" in rules:
        pattern = rules["regex"]
        if isinstance(pattern, str):
            out["pattern"] = _anchored(pattern)
        else:
            ctx.drop(path, "regex")
    if rules.get("empty") is False:
        for json_type, key in (
            ("string", "minLength"),
            ("array", "minItems"),
            ("object", "minProperties"),
        ):
            if _applies(types, json_type):
                out[key] = max(out.get(key, 0), 1)

    if "allowed" in rules:
        _allowed(rules["allowed"], types, out, extra, path, ctx, negate=False)
    if "forbidden" in rules:
        _allowed(rules["forbidden"], types, out, extra, path, ctx, negate=True)
    if "contains" in rules and _applies(types, "array"):
        expected = rules["contains"]
        values = (
            [expected]
            if isinstance(expected, str) or not isinstance(expected, Iterable)
            else list(expected)
        )
        extra.extend({"contains": {"const": v}} for v in values)

    if "schema" in rules:
        _schema_rule(rules, types, out, path, ctx, doc, coerce=coerce)
    if "items" in rules:
        items = rules["items"]
        if isinstance(items, Sequence) and all(isinstance(i, Mapping) for i in items):
            out["prefixItems"] = [
                _rules(i, _join(path, n), ctx, doc, coerce=coerce) for n, i in enumerate(items)
            ]
            out["items"] = False
            out["minItems"] = max(out.get("minItems", 0), len(items))
        else:
            ctx.drop(path, "items")
    if "keysrules" in rules:
        out["propertyNames"] = _sub(
            rules["keysrules"], _join(path, "<key>"), ctx, doc, coerce=coerce
        )
    if "valuesrules" in rules:
        values_schema = _sub(rules["valuesrules"], _join(path, "<value>"), ctx, doc, coerce=coerce)
        if "properties" in out:
            extra.append({"additionalProperties": values_schema})
        else:
            out["additionalProperties"] = values_schema

    _of_rules(rules, out, extra, path, ctx, doc, coerce=coerce)
    if extra:
        out.setdefault("allOf", []).extend(extra)

    if rules.get("empty") is True and types is not None and (types & {"string", "array", "object"}):
        out = _allow_empty(out, types, rules)
    if "coerce" in rules:
        out = _coerce(rules["coerce"], out, types, path, ctx) if coerce else out
    # A null sent for a field with a default is replaced by the default.
    return _nullable(out) if rules.get("nullable") or "default" in rules else out


def _expand(rules: Mapping[str, Any], path: str, ctx: _Ctx) -> dict[str, Any]:
    """Resolve aliases and the ``anyof_type``-style shorthands."""
    expanded: dict[str, Any] = {}
    for rule, value in rules.items():
        name = _ALIASES.get(rule, rule)
        of, _, inner = name.partition("_")
        if of in _OF_RULES and inner:
            if isinstance(value, Sequence) and not isinstance(value, str):
                expanded[of] = [{inner: v} for v in value]
            else:
                ctx.drop(path, rule)
            continue
        expanded[name] = value
    return expanded


def _sub(rules: Any, path: str, ctx: _Ctx, doc: _Doc, *, coerce: bool) -> JSONSchema:
    if isinstance(rules, Mapping):
        return _rules(rules, path, ctx, doc, coerce=coerce)
    ctx.drop(path, "rules (not a mapping)")
    return {}


def _allowed(
    values: Any,
    types: set[str] | None,
    out: JSONSchema,
    extra: list[JSONSchema],
    path: str,
    ctx: _Ctx,
    *,
    negate: bool,
) -> None:
    rule = "forbidden" if negate else "allowed"
    if isinstance(values, str) or not isinstance(values, Iterable):
        ctx.drop(path, rule)
        return
    enum = list(values)
    if negate:
        # A sequence is rejected when one of its items is forbidden; a scalar when it is one.
        branches: list[JSONSchema] = []
        if _applies(types, "array"):
            branches.append({"type": "array", "contains": {"enum": enum}})
        if types is None or types - {"array"}:
            branches.append({"not": {"type": "array"}, "enum": enum})
        extra.append({"not": branches[0] if len(branches) == 1 else {"anyOf": branches}})
        return
    if types is not None and types <= {"array", "object"}:
        if "array" in types:
            out["items"] = {"enum": enum}
        if "object" in types:
            out["propertyNames"] = {"enum": enum}
        return
    if types is not None and not types & {"array", "object"}:
        out["enum"] = enum
        return
    # Strings are scalars to Cerberus; lists and dicts are checked item by item.
    extra.append(
        {
            "anyOf": [
                {"type": "array", "items": {"enum": enum}},
                {"type": "object", "propertyNames": {"enum": enum}},
                {"enum": enum},
            ]
        }
    )


def _looks_like_rules(schema: Mapping[str, Any]) -> bool:
    return bool(schema) and all(
        isinstance(k, str) and (_ALIASES.get(k, k) in _KNOWN or k.partition("_")[0] in _OF_RULES)
        for k in schema
    )


def _schema_rule(
    rules: Mapping[str, Any],
    types: set[str] | None,
    out: JSONSchema,
    path: str,
    ctx: _Ctx,
    doc: _Doc,
    *,
    coerce: bool,
) -> None:
    schema = rules["schema"]
    if not isinstance(schema, Mapping):
        ctx.drop(path, "schema")
        return
    as_list = types is not None and "array" in types and "object" not in types
    if types is None or ("array" in types and "object" in types):
        as_list = _looks_like_rules(schema)
    if as_list:
        out["items"] = _rules(schema, _join(path, "<item>"), ctx, doc, coerce=coerce)
        return
    child = _Doc(
        rules.get("allow_unknown", doc.allow_unknown),
        bool(rules.get("purge_unknown", doc.purge_unknown)),
        bool(rules.get("require_all", doc.require_all)),
        doc.update,
    )
    mapped = _mapping(schema, path, ctx, child, coerce=coerce)
    del mapped["type"]
    out.update(mapped)


def _of_rules(
    rules: Mapping[str, Any],
    out: JSONSchema,
    extra: list[JSONSchema],
    path: str,
    ctx: _Ctx,
    doc: _Doc,
    *,
    coerce: bool,
) -> None:
    for rule in _OF_RULES:
        if rule not in rules:
            continue
        subs = rules[rule]
        if isinstance(subs, str) or not isinstance(subs, Sequence) or not subs:
            ctx.drop(path, rule)
            continue
        before = ctx.loose
        outer = ctx.boolean_possible
        declared = rules.get("type")
        if declared is not None:
            names = declared if isinstance(declared, (list, tuple)) else [declared]
            ctx.boolean_possible = "boolean" in names
        # Cerberus checks the branches without normalizing: no coercion there.
        converted = [
            _sub(s, _join(path, f"{rule}.{n}"), ctx, doc, coerce=False) for n, s in enumerate(subs)
        ]
        ctx.boolean_possible = outer
        exact = ctx.loose == before
        if rule == "allof":
            extra.extend(converted)
        elif rule == "anyof" or (rule == "oneof" and not exact):
            if rule == "oneof":
                ctx.drop(path, "oneof (described as anyOf: a branch is not exact)")
            extra.append({"anyOf": converted})
        elif rule == "oneof":
            extra.append({"oneOf": converted})
        elif exact:
            extra.append({"not": {"anyOf": converted}})
        else:
            ctx.drop(path, "noneof (a branch is not exact)")


def _allow_empty(out: JSONSchema, types: set[str], rules: Mapping[str, Any]) -> JSONSchema:
    """``empty: True`` lets an empty value skip the length, regex and allowed rules."""
    if not any(r in rules for r in ("minlength", "allowed", "regex", "items", "contains")):
        return out
    empty = [
        {"type": t, key: 0}
        for t, key in (("string", "maxLength"), ("array", "maxItems"), ("object", "maxProperties"))
        if t in types
    ]
    return {"anyOf": [out, *empty]}


def _coerce(
    coercer: Any, out: JSONSchema, types: set[str] | None, path: str, ctx: _Ctx
) -> JSONSchema:
    """Widen ``out`` by the string form the coercer turns into a value of ``out``."""
    if isinstance(coercer, str) and coercer in _NAMED_COERCERS:
        pattern = _NAMED_COERCERS[coercer]
    elif coercer is int:
        pattern = INT_STRING_PATTERN
    elif coercer is float:
        pattern = FLOAT_STRING_PATTERN
    elif coercer is str and types is not None and types <= {"string"}:
        ctx.loose += 1
        return {"anyOf": [out, {"not": {"type": "string"}}]}
    else:
        ctx.drop(path, "coerce (the document shows the coerced value)")
        return out
    ctx.loose += 1
    return {"anyOf": [out, {"type": "string", "pattern": pattern}]}


def _nullable(out: JSONSchema) -> JSONSchema:
    declared = out.get("type")
    combined = set(out) & {"enum", "anyOf", "oneOf", "allOf", "not"}
    if declared is None and not combined:
        return out  # no keyword of this schema rejects null
    if combined:
        return {"anyOf": [{"type": "null"}, out]}
    names = [declared] if isinstance(declared, str) else list(declared or ())
    out["type"] = [*names, "null"]
    return out


def _anchored(pattern: str) -> str:
    """Return a JSON Schema ``pattern`` (a search) that matches what Cerberus' ``regex`` does.

    Cerberus appends ``$`` unless the pattern ends with one and matches from the
    start (``re.match``); ``^(?:...)`` says the same to a search. A leading ``^``
    of the pattern is redundant there, so it is dropped rather than doubled.

    Examples:
        >>> _anchored("c-[a-z]+")
        '^(?:c-[a-z]+$)'
        >>> _anchored("^c-[a-z]+$")
        '^(?:c-[a-z]+$)'
        >>> _anchored("^a|b")
        '^(?:a|b$)'
    """
    body = pattern if pattern.endswith("$") else pattern + "$"
    # NOTE: under re.match a leading ^ holds at position 0 whatever the flags, in the first
    # alternative only; the group's own ^ anchors every alternative, so the first's is redundant.
    if body.startswith("^"):
        body = body[1:]
    return f"^(?:{body})"
