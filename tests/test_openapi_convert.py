"""The Cerberus -> JSON Schema 2020-12 converter of common_utils.openapi."""

from __future__ import annotations

from typing import Any

import cerberus
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from common_utils.openapi import cerberus_rules_to_json_schema, cerberus_to_json_schema
from common_utils.validation import Validator as CUValidator


def accepts(schema: dict[str, Any], value: Any) -> bool:
    return Draft202012Validator(schema).is_valid(value)


def field(rules: dict[str, Any], value: Any, **kw: Any) -> tuple[bool, bool]:
    """(Cerberus accepts, JSON Schema accepts) for {"f": value} under {"f": rules}."""
    v = CUValidator({"f": rules}, **kw)
    js = cerberus_to_json_schema({"f": rules}, **kw).schema
    Draft202012Validator.check_schema(js)
    return v.validate({"f": value}), accepts(js, {"f": value})


def test_document_schema_is_a_closed_object_with_required_fields():
    conv = cerberus_to_json_schema({"sku": {"type": "string", "required": True}, "n": {}})
    assert conv.schema == {
        "type": "object",
        "properties": {"sku": {"type": "string"}, "n": {}},
        "required": ["sku"],
        "additionalProperties": False,
    }
    assert conv.dropped == []


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        ({"allow_unknown": True}, None),
        ({"purge_unknown": True}, None),
        ({"allow_unknown": {"type": "integer"}}, {"type": "integer"}),
    ],
)
def test_unknown_fields_map_to_additional_properties(kw, expected):
    schema = cerberus_to_json_schema({"a": {}}, **kw).schema
    assert schema.get("additionalProperties") == expected


def test_type_list_becomes_json_type_list_and_nullable_adds_null():
    assert cerberus_rules_to_json_schema({"type": ["string", "integer"]}).schema == {
        "type": ["integer", "string"]
    }
    assert cerberus_rules_to_json_schema({"type": ["integer", "number"]}).schema == {
        "type": "number"
    }
    assert cerberus_rules_to_json_schema({"type": "string", "nullable": True}).schema == {
        "type": ["string", "null"]
    }


def test_types_with_extra_keywords_are_combined_with_any_of():
    schema = cerberus_rules_to_json_schema({"type": ["set", "date"]}).schema
    assert schema == {
        "anyOf": [
            {"type": "array", "uniqueItems": True},
            {"type": "string", "format": "date"},
        ]
    }


@pytest.mark.parametrize(
    ("rules", "good", "bad"),
    [
        ({"type": "integer", "min": 1, "max": 3}, 2, 4),
        ({"type": "string", "minlength": 2, "maxlength": 3}, "abc", "a"),
        ({"type": "list", "minlength": 1, "maxlength": 2}, [1], [1, 2, 3]),
        ({"type": "dict", "maxlength": 1}, {"a": 1}, {"a": 1, "b": 2}),
        ({"type": "string", "regex": "a|b"}, "bcd"[0], "cb"),
        ({"type": "string", "regex": "ab$"}, "ab", "abc"),
        ({"type": "string", "allowed": ["x", "y"]}, "x", "z"),
        ({"type": "integer", "allowed": [1, 2]}, 2, 3),
        ({"type": "list", "allowed": ["x", "y"]}, ["x", "y"], ["z"]),
        ({"type": "dict", "allowed": ["x"]}, {"x": 1}, {"z": 1}),
        ({"allowed": ["x", "y"]}, ["x"], "z"),
        ({"type": "string", "forbidden": ["x"]}, "y", "x"),
        ({"type": "list", "forbidden": ["x"]}, ["y"], ["y", "x"]),
        ({"forbidden": ["x"]}, "y", ["x"]),
        ({"type": "list", "contains": ["a", "b"]}, ["b", "a", "c"], ["a"]),
        ({"type": "list", "contains": "a"}, ["a"], ["b"]),
        ({"type": "string", "empty": False}, "x", ""),
        ({"type": "string", "empty": True, "minlength": 2}, "", "a"),
        ({"type": "list", "schema": {"type": "integer"}}, [1, 2], [1, "x"]),
        ({"type": "dict", "schema": {"a": {"type": "integer", "required": True}}}, {"a": 1}, {}),
        ({"type": "list", "items": [{"type": "integer"}, {"type": "string"}]}, [1, "a"], [1]),
        ({"type": "dict", "keysrules": {"type": "string", "regex": "[a-z]+"}}, {"ab": 1}, {"A": 1}),
        ({"type": "dict", "valuesrules": {"type": "integer"}}, {"a": 1}, {"a": "x"}),
        (
            {"type": "dict", "schema": {"a": {}}, "valuesrules": {"type": "integer"}},
            {"a": 1},
            {"a": "x"},
        ),
        ({"type": "integer", "anyof": [{"min": 10}, {"max": 0}]}, 11, 5),
        ({"type": "integer", "allof": [{"min": 0}, {"max": 10}]}, 5, 11),
        ({"type": "integer", "oneof": [{"min": 0}, {"min": 10}]}, 5, 11),
        ({"type": "integer", "noneof": [{"min": 10}]}, 5, 11),
        ({"anyof_type": ["string", "integer"]}, 1, 1.5),
        ({"type": "integer", "coerce": int}, "12", "x"),
        ({"type": "float", "coerce": float}, "1.5e3", "x"),
        ({"type": "integer", "coerce": "integer"}, "-3", "3.5"),
        ({"type": "number", "coerce": "number"}, "3.5", "3,5"),
        ({"type": "boolean", "coerce": "boolean"}, "Yes", "maybe"),
        ({"type": "string", "coerce": str, "minlength": 2}, 55, "a"),
        ({"type": "integer", "nullable": True, "allowed": [1]}, None, 2),
        ({"type": "integer", "default": 3}, None, "x"),
        ({"readonly": True}, None, None),
    ],
)
def test_rule_is_exact_on_a_valid_and_an_invalid_value(rules, good, bad):
    if rules == {"readonly": True}:
        assert cerberus_to_json_schema({"f": rules}).schema["properties"]["f"] is False
        return
    assert field(rules, good) == (True, True)
    cerberus_ok, json_ok = field(rules, bad)
    assert not cerberus_ok
    assert not json_ok


def test_dict_field_inherits_and_overrides_allow_unknown():
    rules = {"type": "dict", "schema": {"a": {}}, "allow_unknown": True}
    assert field(rules, {"a": 1, "b": 2}) == (True, True)
    assert field({"type": "dict", "schema": {"a": {}}}, {"b": 2}, allow_unknown=False) == (
        False,
        False,
    )
    rules = {"type": "dict", "schema": {"a": {"required": True}}, "require_all": True}
    assert "required" in cerberus_to_json_schema({"f": rules}).schema["properties"]["f"]


def test_update_and_default_drop_required():
    schema = {"a": {"required": True}, "b": {"required": True, "default": 1}}
    assert cerberus_to_json_schema(schema).schema["required"] == ["a"]
    assert "required" not in cerberus_to_json_schema(schema, update=True).schema


def test_dependencies_and_excludes():
    conv = cerberus_to_json_schema(
        {
            "a": {"dependencies": "b"},
            "b": {"dependencies": ["a"]},
            "c": {"dependencies": {"a": [1]}, "required": True},
            "d": {"excludes": "c", "required": True},
        }
    )
    assert conv.schema["dependentRequired"] == {"a": ["b"], "b": ["a"]}
    assert conv.schema["required"] == ["d"]  # c may be excluded by d
    assert conv.dropped == ["c: dependencies", "d: excludes"]


def test_unknown_and_inexpressible_rules_are_dropped_and_listed_never_raise():
    conv = cerberus_to_json_schema(
        {
            "a": {"type": "string", "check_with": "x", "rename": "b"},
            "b": {"type": ["string", "objectid"]},
            "c": {"type": 5},
            "d": {"type": []},
            "e": "not rules",
            "f": {"type": "dict", "schema": "registry-name"},
            "g": {"type": "list", "items": "nope"},
            "h": {"min": "a", "max": [1], "minlength": "x", "regex": 5},
            "i": {"allowed": "ab", "forbidden": 3, "anyof": "x", "oneof_type": 3},
            "j": {"coerce": lambda v: v, "type": "dict", "keysrules": 1},
            "k": {"type": "integer", "oneof": [{"check_with": "x"}, {"min": 1}]},
            "l": {"type": "integer", "noneof": [{"check_with": "x"}]},
            "m": {"type": "integer", "coerce": str},
        }
    )
    assert conv.dropped == [
        "a: check_with",
        "a: rename",
        "b: type 'objectid'",
        "c: type",
        "d: type",
        "e: rules (not a mapping)",
        "f: schema",
        "g: items",
        "h: minlength",
        "h: min (not a number)",
        "h: max (not a number)",
        "h: regex",
        "i: oneof_type",
        "i: allowed",
        "i: forbidden",
        "i: anyof",
        "j.<key>: rules (not a mapping)",
        "j: coerce (the document shows the coerced value)",
        "k.oneof.0: check_with",
        "k: oneof (described as anyOf: a branch is not exact)",
        "l.noneof.0: check_with",
        "l: noneof (a branch is not exact)",
        "m: coerce (the document shows the coerced value)",
    ]
    Draft202012Validator.check_schema(conv.schema)


def test_a_document_schema_that_is_not_a_mapping_is_dropped():
    conv = cerberus_to_json_schema("registry-name")  # type: ignore[arg-type]
    assert conv.schema == {"type": "object"}
    assert conv.dropped == ["schema (a registry name or not a mapping)"]


def test_meta_annotations_and_default_are_kept():
    schema = cerberus_rules_to_json_schema(
        {"type": "integer", "default": 2, "meta": {"description": "d", "title": "t", "x": 1}}
    ).schema
    assert schema == {"type": ["integer", "null"], "title": "t", "description": "d", "default": 2}


def test_ambiguous_schema_rule_is_read_by_its_shape():
    as_items = cerberus_rules_to_json_schema({"schema": {"type": "integer"}}).schema
    assert as_items["items"] == {"type": "integer"}
    as_mapping = cerberus_rules_to_json_schema({"schema": {"a": {"type": "integer"}}}).schema
    assert as_mapping["properties"] == {"a": {"type": "integer"}}


def test_nullable_without_type_keeps_schema_or_wraps_combinators():
    assert cerberus_rules_to_json_schema({"nullable": True}).schema == {}
    assert cerberus_rules_to_json_schema({"nullable": True, "min": 1}).schema == {"minimum": 1}
    assert cerberus_rules_to_json_schema({"nullable": True, "allowed": [1]}).schema["anyOf"][0] == {
        "type": "null"
    }


def test_empty_true_without_length_rules_changes_nothing():
    assert cerberus_rules_to_json_schema({"type": "string", "empty": True}).schema == {
        "type": "string"
    }


def test_params_conversion_ignores_coerce():
    assert cerberus_rules_to_json_schema(
        {"type": "integer", "coerce": int}, coerce=False
    ).schema == {"type": "integer"}


# --- property: Cerberus accepts => the JSON Schema accepts -------------------------------

_TYPES = ["string", "integer", "float", "number", "boolean", "list", "dict"]
_TEXT = st.text(alphabet="abAB1 ", max_size=5)
# No booleans where numbers are expected: Cerberus takes True as an integer, the document does not.
_NOISE = st.one_of(st.none(), st.integers(-20, 20), st.floats(-20, 20), _TEXT)
_NOISE_NO_FLOATS = st.one_of(st.none(), st.integers(-20, 20), _TEXT)


def _value(rules: dict[str, Any], depth: int) -> st.SearchStrategy[Any]:
    types = rules.get("type", [])
    types = [types] if isinstance(types, str) else types
    # Documented difference: Python's int() truncates 1.5 to 1, so Cerberus takes a
    # float for `coerce: int`; the document does not advertise that.
    truncating = rules.get("coerce") is int
    options: list[st.SearchStrategy[Any]] = [_NOISE_NO_FLOATS if truncating else _NOISE]
    for t in types:
        if t == "boolean":
            options.append(st.booleans())
        if t == "list":
            inner = rules.get("schema", {})
            options.append(st.lists(_value(inner, depth + 1), max_size=3))
        if t == "dict":
            sub = rules.get("schema")
            if isinstance(sub, dict) and "list" not in types:
                options.append(_document(sub, depth + 1))
            else:
                options.append(st.dictionaries(_TEXT, _NOISE, max_size=3))
    if "coerce" in rules:
        options.append(st.integers(-20, 20).map(str))
    if "allowed" in rules:
        options.append(st.sampled_from(rules["allowed"]))
    return st.one_of(options)


def _document(schema: dict[str, Any], depth: int) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {}, optional={name: _value(rules, depth) for name, rules in schema.items()}
    )


@st.composite
def _rules(draw: st.DrawFn, depth: int = 0) -> dict[str, Any]:  # noqa: C901 - one draw per feature
    rules: dict[str, Any] = {}
    types = draw(st.lists(st.sampled_from(_TYPES), min_size=1, max_size=2, unique=True))
    rules["type"] = types[0] if len(types) == 1 else types
    if draw(st.booleans()):
        rules["nullable"] = True
    if draw(st.booleans()):
        rules["required"] = True
    if "integer" in types or "number" in types or "float" in types:
        if draw(st.booleans()):
            rules["min"] = draw(st.integers(-10, 10))
        if draw(st.booleans()):
            rules["max"] = draw(st.integers(-10, 10))
        if types == ["integer"] and draw(st.booleans()):
            rules["coerce"] = draw(st.sampled_from([int, "integer"]))
    if "string" in types:
        if draw(st.booleans()):
            rules["regex"] = draw(st.sampled_from(["[ab]*", "a|b", "^A.*", "1?$"]))
        if draw(st.booleans()):
            rules["allowed"] = draw(st.lists(_TEXT, min_size=1, max_size=3))
        if draw(st.booleans()):
            rules["empty"] = draw(st.booleans())
    if "string" in types or "list" in types or "dict" in types:
        if draw(st.booleans()):
            rules["minlength"] = draw(st.integers(0, 3))
        if draw(st.booleans()):
            rules["maxlength"] = draw(st.integers(0, 3))
    if "list" in types and depth < 2 and draw(st.booleans()):
        rules["schema"] = draw(_rules(depth + 1))
        rules["schema"].pop("required", None)
    if types == ["dict"] and depth < 2:
        choice = draw(st.sampled_from(["schema", "keysrules", "valuesrules", None]))
        if choice == "schema":
            rules["schema"] = {
                f"k{i}": draw(_rules(depth + 1)) for i in range(draw(st.integers(1, 2)))
            }
            if draw(st.booleans()):
                rules["allow_unknown"] = True
        elif choice == "keysrules":
            rules["keysrules"] = {"type": "string", "regex": "[ab]+"}
        elif choice == "valuesrules":
            rules["valuesrules"] = {"type": ["integer", "string"]}
    if depth < 1 and draw(st.booleans()):
        of = draw(st.sampled_from(["anyof", "allof", "oneof", "noneof"]))
        rules[of] = [{"min": draw(st.integers(-5, 5))}, {"maxlength": draw(st.integers(0, 3))}]
    if draw(st.booleans()) and "coerce" not in rules:
        rules["default"] = None if rules.get("nullable") else draw(st.just(rules)).get("min", 1)
    return rules


@st.composite
def _case(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any], bool, bool]:
    schema = {f"f{i}": draw(_rules()) for i in range(draw(st.integers(1, 3)))}
    allow_unknown = draw(st.booleans())
    purge_unknown = draw(st.booleans())
    return schema, draw(_document(schema, 0)), allow_unknown, purge_unknown


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_case())
def test_cerberus_accepts_implies_json_schema_accepts(case):
    schema, document, allow_unknown, purge_unknown = case
    try:
        validator = CUValidator(schema, allow_unknown=allow_unknown, purge_unknown=purge_unknown)
    except cerberus.SchemaError:  # a drawn default may break the schema; not our concern
        return
    json_schema = cerberus_to_json_schema(
        schema, allow_unknown=allow_unknown, purge_unknown=purge_unknown
    ).schema
    Draft202012Validator.check_schema(json_schema)
    if validator.validate(document):
        errors = [e.message for e in Draft202012Validator(json_schema).iter_errors(document)]
        assert errors == [], (schema, document)


def test_of_rule_shorthand_expands_like_cerberus():
    schema = cerberus_rules_to_json_schema({"anyof_type": ["string", "integer"]}).schema
    assert schema == {"allOf": [{"anyOf": [{"type": "string"}, {"type": "integer"}]}]}
