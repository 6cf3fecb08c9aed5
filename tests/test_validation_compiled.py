"""The compiled fast path of ``@validate`` answers exactly as Cerberus does (issue 30).

Every comparison runs the same schema twice through the public decorator on a
Falcon app, once with ``compiled=False`` (Cerberus alone) and once with the
fast path, and compares the status, the whole response (errors included) and
the normalized document with what it shares with the parsed body.

``COMPILED_PROPERTY_EXAMPLES`` raises the number of generated cases for a
long local run (CI runs the default).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import cerberus
import falcon
import falcon.testing
import pytest
from hypothesis import HealthCheck, event, given, reject, settings
from hypothesis import strategies as st

from common_utils.errors import ConfigurationError
from common_utils.problems import problem_error_serializer
from common_utils.validation import Validator, validate, validation_spec_of

EXAMPLES = int(os.environ.get("COMPILED_PROPERTY_EXAMPLES", "300"))
JSON = {"Content-Type": "application/json"}

ORDER: dict[str, Any] = {
    "customer_id": {"type": "string", "required": True, "regex": "^C-[0-9]{6}$"},
    "items": {
        "type": "list",
        "required": True,
        "minlength": 1,
        "maxlength": 50,
        "schema": {
            "type": "dict",
            "schema": {
                "sku": {"type": "string", "required": True, "minlength": 1, "maxlength": 32},
                "quantity": {"type": "integer", "required": True, "min": 1, "max": 100},
            },
        },
    },
    "address": {
        "type": "dict",
        "required": True,
        "schema": {
            "street": {"type": "string", "required": True, "maxlength": 100},
            "zip": {"type": "string", "required": True, "regex": "^[0-9]{5}$"},
        },
    },
    "note": {"type": "string", "nullable": True, "maxlength": 500},
    "tags": {"type": "list", "allowed": ["gift", "express", "fragile"]},
}
ORDER_DOC: dict[str, Any] = {
    "customer_id": "C-000042",
    "items": [{"sku": f"SKU-{i}", "quantity": i + 1} for i in range(3)],
    "address": {"street": "1 Main St", "zip": "10115"},
    "note": None,
    "tags": ["gift"],
}


def _shared_paths(normalized: Any, parsed: Any, path: str = "") -> list[str]:
    """Paths of the containers the normalized document shares with the parsed body."""
    out = []
    if isinstance(normalized, (dict, list)) and normalized is parsed:
        out.append(path or "/")
    if isinstance(normalized, dict) and isinstance(parsed, dict):
        for key, value in normalized.items():
            if key in parsed:
                out += _shared_paths(value, parsed[key], f"{path}/{key}")
    elif isinstance(normalized, list) and isinstance(parsed, list):
        for i, (value, old) in enumerate(zip(normalized, parsed, strict=False)):
            out += _shared_paths(value, old, f"{path}/{i}")
    return out


def _client(
    body: dict[str, Any] | None = None, params: dict[str, Any] | None = None, **kwargs: Any
) -> falcon.testing.TestClient:
    class R:
        @validate(body=body, params=params, **kwargs)
        def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
            media = req.get_media() if body is not None else None
            resp.media = {
                "body": getattr(req.context, "body", None),
                "params": getattr(req.context, "params", None),
                "shared": _shared_paths(getattr(req.context, "body", None), media),
            }

    app = falcon.App()
    app.set_error_serializer(problem_error_serializer)
    app.add_route("/r", R())
    return falcon.testing.TestClient(app)


@contextmanager
def _cerberus_calls() -> Iterator[list[int]]:
    """Count the documents handed to ``Validator.validate`` (Cerberus' public entry)."""
    calls = [0]
    original = Validator.validate

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return original(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Validator, "validate", counting)
        yield calls


def _answer(result: falcon.testing.Result) -> tuple[int, Any]:
    return result.status_code, result.json


# --- The order body of the issue ---------------------------------------------------------


def test_a_valid_order_is_accepted_without_calling_cerberus():
    """The order body of issue 30 is accepted by the fast path alone, normalized alike."""
    fast, plain = _client(ORDER), _client(ORDER, compiled=False)
    with _cerberus_calls() as calls:
        result = fast.simulate_post("/r", json=ORDER_DOC)
    assert calls[0] == 0
    assert _answer(result) == _answer(plain.simulate_post("/r", json=ORDER_DOC))
    assert result.json["body"] == ORDER_DOC


def test_an_invalid_order_gets_cerberus_errors():
    """A failing document goes to Cerberus, which writes every error."""
    fast, plain = _client(ORDER), _client(ORDER, compiled=False)
    bad = {**ORDER_DOC, "items": [{"sku": "", "quantity": 0}], "tags": ["gift", "x"]}
    with _cerberus_calls() as calls:
        result = fast.simulate_post("/r", json=bad)
    assert calls[0] == 1
    assert result.status_code == 422
    assert _answer(result) == _answer(plain.simulate_post("/r", json=bad))


def test_compiled_false_always_calls_cerberus():
    """``compiled=False`` sends every document to Cerberus and shows in the spec."""
    client = _client(ORDER, compiled=False)
    with _cerberus_calls() as calls:
        assert client.simulate_post("/r", json=ORDER_DOC).status_code == 200
    assert calls[0] == 1


def test_the_environment_switch_turns_the_fast_path_off(monkeypatch: pytest.MonkeyPatch):
    """``COMMON_UTILS_VALIDATION_COMPILED=0`` at decoration time means Cerberus alone."""
    monkeypatch.setenv("COMMON_UTILS_VALIDATION_COMPILED", "0")
    client = _client(ORDER)
    with _cerberus_calls() as calls:
        assert client.simulate_post("/r", json=ORDER_DOC).status_code == 200
    assert calls[0] == 1


def test_the_spec_tells_whether_the_fast_path_was_allowed(monkeypatch: pytest.MonkeyPatch):
    """``ValidationSpec.compiled`` is the outcome of both switches."""

    def spec(**kwargs: Any) -> Any:
        @validate(body=ORDER, **kwargs)
        def on_post(self: Any, req: Any, resp: Any) -> None: ...

        return validation_spec_of(on_post)

    assert spec().compiled is True
    assert spec(compiled=False).compiled is False
    monkeypatch.setenv("COMMON_UTILS_VALIDATION_COMPILED", "1")
    assert spec().compiled is True
    monkeypatch.setenv("COMMON_UTILS_VALIDATION_COMPILED", "0")
    assert spec().compiled is False


@pytest.mark.parametrize("value", ["yes", "", "2", "off"])
def test_a_bad_environment_switch_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """Any value but 0 or 1 stops the decoration with the variable's name, not the value."""
    monkeypatch.setenv("COMMON_UTILS_VALIDATION_COMPILED", value)
    with pytest.raises(ConfigurationError, match="COMMON_UTILS_VALIDATION_COMPILED") as info:
        validate(body=ORDER)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "schema",
    [
        {"n": {"type": "integer", "coerce": int}},
        {"n": {"type": "integer", "default": 1}},
        {"n": {"anyof": [{"type": "integer"}, {"type": "string"}]}},
        {"n": {"type": "list", "forbidden": ["x"]}},
        {"n": {"type": "dict", "schema": {}, "allow_unknown": {"type": "integer"}}},
    ],
    ids=["coerce", "default", "anyof", "forbidden", "allow_unknown rules"],
)
def test_rules_outside_the_subset_leave_the_schema_to_cerberus(schema: dict[str, Any]):
    """A schema with a rule the fast path cannot express is validated by Cerberus only."""
    with _cerberus_calls() as calls:
        _client(schema).simulate_post("/r", json={"n": 1})
    assert calls[0] == 1


def test_a_validator_subclass_is_never_compiled():
    """A subclass may change what any rule means: Cerberus decides."""

    class Strict(Validator):
        def _validate_min(self, min_value: Any, field: Any, value: Any) -> None:
            """{'nullable': False}"""
            if value <= min_value:
                self._error(field, "must be above the minimum")

    schema = {"n": {"type": "integer", "min": 1}}
    result = _client(schema, validator_class=Strict).simulate_post("/r", json={"n": 1})
    assert result.status_code == 422


@pytest.mark.parametrize(
    "doc",
    [{"i": True, "f": False}, {"n": True}, {"n": 1, "f": 2}],
    ids=["bool-as-integer-and-float", "bool-as-number", "ints-as-number-and-float"],
)
def test_integer_and_float_accept_booleans_as_cerberus_does(doc):
    """Cerberus' integer and float types take bool (a subclass of int), number does not."""
    schema = {"i": {"type": "integer"}, "f": {"type": "float"}, "n": {"type": "number"}}
    fast, plain = _client(schema), _client(schema, compiled=False)
    assert _answer(fast.simulate_post("/r", json=doc)) == _answer(
        plain.simulate_post("/r", json=doc)
    )


@pytest.mark.parametrize("value", ["ab", "ab\n", "abc", "xab"])
def test_a_regex_matches_as_cerberus_does_with_a_trailing_newline(value):
    """Cerberus appends ``$`` and uses ``match``: ``"ab\\n"`` matches ``^ab$``."""
    schema = {"s": {"type": "string", "regex": "ab"}}
    fast, plain = _client(schema), _client(schema, compiled=False)
    doc = {"s": value}
    assert _answer(fast.simulate_post("/r", json=doc)) == _answer(
        plain.simulate_post("/r", json=doc)
    )


@pytest.mark.parametrize(
    ("rules", "doc"),
    [
        ({"type": "dict", "schema": {}, "empty": False}, {"a": {"x": None}}),
        ({"type": "dict", "schema": {"k": {}}, "minlength": 2}, {"a": {"k": 1, "x": 2}}),
        ({"type": "dict", "schema": {"k": {}}, "empty": False, "maxlength": 1}, {"a": {"x": 1}}),
    ],
    ids=["purged-to-empty", "purged-below-minlength", "purged-to-empty-with-a-length-rule"],
)
def test_rules_on_an_object_see_it_after_its_unknown_fields_are_purged(
    rules: dict[str, Any], doc: dict[str, Any]
) -> None:
    """Cerberus purges unknown fields first, then checks ``empty`` and lengths on the rest.

    Found by the random schemas with more examples: the fast path checked the object as
    sent and accepted what Cerberus refuses.
    """
    schema = {"a": rules}
    fast = _client(schema, purge_unknown=True)
    plain = _client(schema, purge_unknown=True, compiled=False)
    expected = _answer(plain.simulate_post("/r", json=doc))
    assert expected[0] == 422
    assert _answer(fast.simulate_post("/r", json=doc)) == expected


def test_the_budget_still_stops_a_document_the_fast_path_would_accept():
    """A valid document needing more child validations than max_checks still gets 400."""
    schema = {
        "m": {"type": "dict", "keysrules": {"type": "string"}, "valuesrules": {"type": "dict"}}
    }
    doc = {"m": {f"k{i}": {} for i in range(4)}}
    for max_checks in (1, 3, 4, 5, 100):
        fast = _client(schema, max_checks=max_checks)
        plain = _client(schema, max_checks=max_checks, compiled=False)
        assert _answer(fast.simulate_post("/r", json=doc)) == _answer(
            plain.simulate_post("/r", json=doc)
        )


@pytest.mark.parametrize(
    "query",
    [{"q": "abc"}, {"q": "abcdefg"}, {"q": ["a", "b"]}, {"z": "1"}],
    ids=["valid", "too-long", "repeated", "unknown"],
)
def test_query_parameters_of_strings_take_the_fast_path(query):
    """A params schema of strings only is compiled; typed ones keep their coercers."""
    schema = {"q": {"type": "string", "maxlength": 5}, "t": {"type": "list"}}
    fast, plain = _client(params=schema), _client(params=schema, compiled=False)
    with _cerberus_calls() as calls:
        answer = _answer(fast.simulate_post("/r", params=query))
    assert answer == _answer(plain.simulate_post("/r", params=query))
    assert calls[0] == (0 if answer[0] == 200 else 1)


# --- Attack bodies of the security suites -------------------------------------------------

MIB = 1024 * 1024
_ANYOF = {
    "anyof": [
        {"type": "dict", "schema": {"a": {"type": "string", "regex": "^[a-z]+$"}}},
        {"type": "string", "regex": "^[a-z]+$"},
    ]
}
LIST_OF_INTEGERS = {"type": "list", "schema": {"type": "integer"}}
ATTACKS: dict[str, tuple[dict[str, Any], str]] = {
    "unknown keys": ({"sku": {"type": "string"}}, json.dumps({f"k{i}": 0 for i in range(6_000)})),
    "deep arrays": ({"a": {"type": "list"}}, '{"a":' + "[" * 70 + "]" * 70 + "}"),
    "anyof items": ({"v": {"type": "list", "schema": _ANYOF}}, json.dumps({"v": [0] * 4_999})),
    "4,999 empty dicts missing a field": (
        {"v": {"type": "list", "schema": {"type": "dict", "schema": {"x": {"required": True}}}}},
        json.dumps({"v": [{}] * 4_999}),
    ),
    "4,999 strings": (
        {"v": {"type": "list", "schema": {"type": "string"}}},
        json.dumps({"v": ["a"] * 4_999}),
    ),
    "2,499 nested documents": (
        {"m": {"type": "dict", "valuesrules": {"type": "dict", "schema": {"a": {}}}}},
        json.dumps({"m": {f"k{i}": {"a": 1} for i in range(2_499)}}),
    ),
    "3,333 keysrules documents past the budget": (
        {
            "m": {
                "type": "list",
                "schema": {"type": "dict", "keysrules": {"type": "string"}},
            }
        },
        json.dumps({"m": [{}] * 3_333}),
    ),
    "long key, bad values": (
        {"m": {"type": "dict", "valuesrules": LIST_OF_INTEGERS}},
        json.dumps({"m": {"k" * (MIB - 2_000): ["x"] * 101}}),
    ),
    "long keys, keysrules": (
        {"m": {"type": "dict", "keysrules": {"type": "string", "maxlength": 3}}},
        json.dumps({"m": {f"{i:03d}" + "k" * 10_000: 0 for i in range(101)}}),
    ),
    "many errors": (
        {"v": {"type": "list", "schema": {"type": "integer", "max": 0}}},
        json.dumps({"v": list(range(1, 3_000))}),
    ),
    "surrogate": ({"s": {"type": "string"}}, '{"s": "\\ud800"}'),
    "not finite": ({"n": {"type": "number"}}, '{"n": 1e999}'),
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_bodies_get_the_same_answer(name: str):
    """The hostile bodies of the security suites answer alike with and without the fast path."""
    schema, raw = ATTACKS[name]
    fast, plain = _client(schema), _client(schema, compiled=False)
    expected = plain.simulate_post("/r", body=raw, headers=JSON)
    assert _answer(fast.simulate_post("/r", body=raw, headers=JSON)) == _answer(expected)


# --- Property: random schemas and documents ----------------------------------------------

_SCALAR_POOL = ["", "a", "ab", "b", "x", 0, 1, 1.0, 2, -1, 2.5, True, False, None]
_REGEXES = ["^a+$", "a|b", "[ab]*", "x$", "^.$", "a.*", "(a|ab)(c|bcd)?"]
_TYPES = ["string", "integer", "float", "number", "boolean", "dict", "list"]
_FIELD_NAMES = ["a", "b", "c", "type", "min"]
_OUTSIDE = [
    {"coerce": "integer"},
    {"default": 1},
    {"forbidden": ["x", 1]},
    {"anyof": [{"type": "integer"}, {"type": "string"}]},
    {"dependencies": "a"},
    {"readonly": False},
    {"contains": "a"},
    {"excludes": "b"},
]
_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-3, 5)
    | st.floats(-3, 5, allow_nan=False)
    | st.text(alphabet="abx\n", max_size=3)
)
_json_values = st.recursive(
    _json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from([*_FIELD_NAMES, "z"]), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def _scalar_rules(draw: st.DrawFn) -> dict[str, Any]:
    rules: dict[str, Any] = {}
    type_ = draw(
        st.sampled_from([*_TYPES[:5], None, ["string", "integer"], ["boolean", "number"], []])
    )
    if type_ is not None:
        rules["type"] = type_
    for name, values in (
        ("allowed", st.lists(st.sampled_from(_SCALAR_POOL), max_size=4)),
        ("min", st.sampled_from([0, 1, -1.5, 2, "b"])),
        ("max", st.sampled_from([0, 1, 2.5, 4, "b"])),
        ("minlength", st.integers(0, 2)),
        ("maxlength", st.integers(0, 3)),
        ("regex", st.sampled_from(_REGEXES)),
    ):
        if draw(st.integers(0, 4)) == 0:
            rules[name] = draw(values)
    return rules


@st.composite
def _rules(draw: st.DrawFn, depth: int) -> dict[str, Any]:
    """A rule set, mostly within the compiled subset."""
    kinds = ["scalar"] + (["dict", "list", "mapping"] if depth > 0 else [])
    kind = draw(st.sampled_from(kinds))
    rules: dict[str, Any] = {}
    if kind == "scalar":
        rules = draw(_scalar_rules())
    elif kind == "dict":
        rules["type"] = "dict"
        rules["schema"] = draw(_fields(depth - 1))
        for name in ("allow_unknown", "purge_unknown", "require_all"):
            if draw(st.integers(0, 3)) == 0:
                rules[name] = draw(st.booleans())
    elif kind == "list":
        rules["type"] = "list"
        if draw(st.booleans()):
            rules["schema"] = draw(_rules(depth - 1))
        elif draw(st.booleans()):
            rules["allowed"] = draw(st.lists(st.sampled_from(_SCALAR_POOL), max_size=4))
        for name in ("minlength", "maxlength"):
            if draw(st.integers(0, 3)) == 0:
                rules[name] = draw(st.integers(0, 3))
    else:
        rules["type"] = "dict"
        if draw(st.booleans()):
            rules["keysrules"] = {"type": "string", **draw(st.sampled_from(_KEY_RULES))}
        if draw(st.booleans()):
            rules["valuesrules"] = draw(_rules(depth - 1))
    if kind != "scalar" and draw(st.integers(0, 5)) == 0:
        del rules["type"]  # container rules on any value
    return {**rules, **draw(_common_rules())}


@st.composite
def _common_rules(draw: st.DrawFn) -> dict[str, Any]:
    """Rules any field may have, and sometimes one outside the subset."""
    rules: dict[str, Any] = {}
    for name in ("required", "nullable", "empty"):
        if draw(st.integers(0, 2)) == 0:
            rules[name] = draw(st.booleans())
    if draw(st.integers(0, 9)) == 0:
        rules.update(draw(st.sampled_from(_OUTSIDE)))
    return rules


_KEY_RULES: list[dict[str, Any]] = [{}, {"regex": "[ab]+"}, {"maxlength": 1}, {"allowed": ["a"]}]


@st.composite
def _fields(draw: st.DrawFn, depth: int) -> dict[str, Any]:
    names = draw(st.lists(st.sampled_from(_FIELD_NAMES), max_size=3, unique=True))
    return {name: draw(_rules(depth)) for name in names}


def _is_rules(schema: dict[str, Any]) -> bool:
    return all(name in Validator.rules for name in schema)


@st.composite
def _value(draw: st.DrawFn, rules: dict[str, Any]) -> Any:
    """A value for a rule set: mostly one that may pass, sometimes any JSON."""
    if draw(st.integers(0, 7)) == 0:
        return draw(_json_values)
    if rules.get("nullable") and draw(st.integers(0, 4)) == 0:
        return None
    type_ = rules.get("type")
    names = [type_] if isinstance(type_, str) else type_ if isinstance(type_, list) else []
    if "schema" in rules or "valuesrules" in rules or "keysrules" in rules:
        names = names or ["dict", "list"]
    if not names:
        return draw(_json_scalars)
    name = draw(st.sampled_from(names))
    schema = rules.get("schema")
    if name == "dict":
        if isinstance(schema, dict) and not _is_rules(schema):
            fields = schema
            doc = {}
            for field, field_rules in fields.items():
                if field_rules.get("required") or draw(st.booleans()):
                    doc[field] = draw(_value(field_rules))
            if draw(st.integers(0, 4)) == 0:
                doc["z"] = draw(_json_values)
            return doc
        if "valuesrules" in rules:
            keys = st.sampled_from(["a", "ab", "b", "x", ""])
            return draw(st.dictionaries(keys, _value(rules["valuesrules"]), max_size=3))
        return draw(st.dictionaries(st.sampled_from(["a", "z"]), _json_values, max_size=2))
    if name == "list":
        if isinstance(schema, dict) and _is_rules(schema):
            return draw(st.lists(_value(schema), max_size=4))
        if "allowed" in rules:
            return draw(st.lists(st.sampled_from([*rules["allowed"], "zz"]), max_size=3))
        return draw(st.lists(_json_scalars, max_size=3))
    if "allowed" in rules and rules["allowed"] and draw(st.booleans()):
        return draw(st.sampled_from(rules["allowed"]))
    return draw(
        {
            "string": st.text(alphabet="abcdx\n", max_size=4),
            "integer": st.integers(-3, 5) | st.booleans(),
            "float": st.floats(-3, 5, allow_nan=False) | st.integers(-3, 5),
            "number": st.floats(-3, 5, allow_nan=False) | st.integers(-3, 5) | st.booleans(),
            "boolean": st.booleans(),
        }[name]
    )


@st.composite
def _cases(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any], list[Any]]:
    schema = draw(_fields(2))
    options = {
        "allow_unknown": draw(st.booleans()),
        "purge_unknown": draw(st.booleans()),
        "update": draw(st.booleans()),
        "max_errors": draw(st.sampled_from([1, 100])),
    }
    if draw(st.integers(0, 3)) == 0:
        options["max_checks"] = draw(st.integers(1, 8))
    top = {"type": "dict", "schema": schema}
    docs = draw(
        st.lists(_value(top) | st.dictionaries(st.text(max_size=2), _json_values), max_size=4)
    )
    return schema, options, [d for d in docs if isinstance(d, dict)]


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(case=_cases())
def test_random_schemas_and_documents_get_the_answers_of_cerberus(
    case: tuple[dict[str, Any], dict[str, Any], list[Any]],
) -> None:
    """Accepted or not, the status, errors and normalized document are Cerberus' own."""
    schema, options, docs = case
    try:
        plain = _client(schema, compiled=False, **options)
    except cerberus.SchemaError:
        reject()
    fast = _client(schema, **options)
    for doc in docs:
        expected = _answer(plain.simulate_post("/r", json=doc))
        with _cerberus_calls() as calls:
            got = _answer(fast.simulate_post("/r", json=doc))
        assert got == expected, (schema, options, doc)
        event("fast path accepted" if calls[0] == 0 else f"Cerberus answered {got[0]}")
