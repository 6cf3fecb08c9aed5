"""``@validate`` skips Cerberus' normalization pass only where the pass provably changes nothing."""

from __future__ import annotations

import json
from typing import Any

import cerberus
import falcon
import falcon.testing
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common_utils._compat_cerberus import (
    keep_expanded_schema,
    normalization_is_noop,
    recorded_errors,
)
from common_utils.problems import problem_error_serializer
from common_utils.validation import Validator, validate
from common_utils.validation._body import _cached_is_json_media_type, is_json_media_type
from common_utils.validation._errors import flat_errors

JSON = {"Content-Type": "application/json"}


def _client(resource: Any, **app_kwargs: Any) -> falcon.testing.TestClient:
    app = falcon.App(**app_kwargs)
    app.set_error_serializer(problem_error_serializer)
    app.add_route("/r", resource)
    return falcon.testing.TestClient(app)


def _noop(schema: dict[str, Any], cls: type[Validator] = Validator, **kwargs: Any) -> bool:
    validator = cls(schema, **kwargs)
    keep_expanded_schema(validator)  # as the decorator uses it
    return normalization_is_noop(validator)


# --- the decision, made once per decorated responder --------------------------------------------

NOOP_SCHEMAS: list[dict[str, Any]] = [
    {},
    {"sku": {"type": "string", "required": True, "regex": "^[A-Z]+$"}},
    {"n": {"type": ["integer", "float"], "min": 0, "nullable": True}, "m": {"required": True}},
    {"a": {"type": "dict"}, "b": {"type": "list", "maxlength": 2}},  # no rules for their content
    {"a": {"type": "string", "dependencies": "b", "excludes": "c"}, "b": {}, "c": {}},
    {"a": {"allowed": ["x", "y"], "empty": False}, "b": {"type": "integer", "forbidden": [1]}},
    {"a": {"anyof": [{"type": "integer"}, {"type": "string", "regex": "^x"}]}},
    # Cerberus 1.3 never normalizes inside *of branches (pinned in test_compat.py).
    {
        "a": {
            "type": "dict",
            "oneof_schema": [{"x": {"type": "integer"}}, {"y": {"rename": "z", "coerce": int}}],
        }
    },
]


@pytest.mark.parametrize("schema", NOOP_SCHEMAS)
def test_schemas_without_normalizing_or_container_rules_skip_the_pass(schema):
    assert _noop(schema)
    assert _noop(schema, allow_unknown=True)


@pytest.mark.parametrize(
    "rules",
    [
        {"coerce": int},
        {"coerce": "integer"},  # a named coercer of the class
        {"default": 1},
        {"default_setter": lambda document: 1},
        {"rename": "b"},
        {"rename_handler": str.upper},
        {"readonly": True},  # checked by the pass, ahead of the other rules
        {"type": "dict", "schema": {"x": {"type": "integer"}}},  # the pass copies the dict
        {"type": "dict", "allow_unknown": True},
        {"type": "dict", "purge_unknown": True},
        {"type": "dict", "keysrules": {"type": "string"}},
        {"type": "dict", "valuesrules": {"type": "string"}},
        {"type": "list", "schema": {"type": "string"}},
        {"type": "list", "items": [{"type": "string"}]},
    ],
)
def test_a_field_with_a_rule_the_pass_acts_on_keeps_the_pass(rules):
    assert not _noop({"ok": {"type": "string"}, "a": rules})


def test_validator_settings_and_registry_names_keep_the_pass():
    schema = {"a": {"type": "string"}}
    assert not _noop(schema, purge_unknown=True)
    assert not _noop(schema, allow_unknown={"type": "string"})
    assert not _noop(schema, purge_readonly=True)
    registry = cerberus.rules_set_registry
    registry.add("test_normalization_plain", {"type": "string"})
    try:
        assert not _noop({"a": "test_normalization_plain"})  # a name hides what it holds
    finally:
        registry.remove("test_normalization_plain")


def test_subclasses_with_own_normalization_keep_the_pass():
    class Coercing(Validator):
        def _normalize_coerce(self, mapping: Any, schema: Any) -> None:
            mapping["touched"] = True  # runs for every document, whatever the rules

        _normalize_coerce.__doc__ = Validator._normalize_coerce.__doc__  # its rule's schema

    class Validating(Validator):
        def validate(self, *args: Any, **kwargs: Any) -> Any:
            return super().validate(*args, **kwargs)

    class Custom(Validator):
        def _normalize_trim(self, mapping: Any, schema: Any, field: Any) -> None:
            """{'type': 'boolean'}"""

    schema = {"a": {"type": "string"}}
    assert not _noop(schema, Coercing)
    assert not _noop(schema, Validating)
    assert _noop(schema, Custom)
    assert not _noop({"a": {"trim": True}}, Custom)


# --- what the responder sees --------------------------------------------------------------------


def test_rules_that_normalize_still_apply_at_every_level():
    seen: dict[str, Any] = {}

    class R:
        @validate(
            body={
                "n": {"type": "integer", "coerce": int},
                "d": {"type": "integer", "default": 7},
                "old": {"rename": "new"},
                "new": {"type": "string"},
                "sub": {
                    "type": "dict",
                    "schema": {"x": {"type": "integer", "coerce": int, "default": 0}},
                },
                "items": {"type": "list", "schema": {"type": "integer", "coerce": int}},
                "map": {"type": "dict", "valuesrules": {"type": "integer", "coerce": int}},
            },
            purge_unknown=True,
        )
        def on_post(self, req, resp):
            seen["body"] = req.context.body

    document = {
        "n": "1",
        "old": "x",
        "gone": 1,
        "sub": {"y": 2},
        "items": ["3", 4],
        "map": {"k": "5"},
    }
    assert _client(R()).simulate_post("/r", json=document).status_code == 200
    assert seen["body"] == {
        "n": 1,
        "d": 7,
        "new": "x",
        "sub": {"x": 0},
        "items": [3, 4],
        "map": {"k": 5},
    }


def test_the_responder_still_gets_its_own_copy_of_the_document():
    """The body is a copy of the parsed media, as before: changing it leaves the media alone."""
    seen: dict[str, Any] = {}

    class R:
        @validate(body={"a": {"type": "string"}}, allow_unknown=True)
        def on_post(self, req, resp):
            req.context.body["added"] = 1
            req.context.body["a"] = "changed"
            seen["media"] = req.get_media()

        @validate(body={"sub": {"type": "dict", "schema": {"x": {"type": "integer"}}}})
        def on_put(self, req, resp):
            req.context.body["sub"]["x"] = 2  # a container the pass copies stays a copy
            seen["media"] = req.get_media()

    client = _client(R())
    assert client.simulate_post("/r", json={"a": "x", "b": {"c": 1}}).status_code == 200
    assert seen["media"] == {"a": "x", "b": {"c": 1}}
    assert client.simulate_put("/r", json={"sub": {"x": 1}}).status_code == 200
    assert seen["media"] == {"sub": {"x": 1}}


def test_readonly_fields_are_reported_once_either_way():
    class R:
        @validate(body={"id": {"type": "integer", "readonly": True}, "a": {"type": "string"}})
        def on_post(self, req, resp):
            resp.media = req.context.body

    result = _client(R()).simulate_post("/r", json={"id": "x", "a": 1})
    assert result.status_code == 422
    assert result.json["errors"] == [
        {"field": "a", "message": "must be of string type"},
        {"field": "id", "message": "field is read-only"},
    ]


@pytest.mark.parametrize(
    "raw",
    ['{"n": 1e999}', '{"n": "\\ud800"}', '{"\\udc00": 1}'],
    ids=["infinite-number", "unpaired-surrogate-value", "unpaired-surrogate-key"],
)
def test_values_json_cannot_carry_are_refused_without_the_pass(raw):
    """The post-validation walk is skipped only because the document was walked before."""

    class R:
        @validate(body={"n": {"type": "number"}})
        def on_post(self, req, resp):
            resp.media = req.context.body

    assert _client(R()).simulate_post("/r", body=raw, headers=JSON).status_code == 400


# --- same answers as plain Cerberus -------------------------------------------------------------

EQUIVALENCE_SCHEMAS: list[dict[str, Any]] = [
    *NOOP_SCHEMAS,
    {
        "sku": {"type": "string", "required": True, "regex": "^[A-Z0-9-]{3,32}$"},
        "quantity": {"type": "integer", "min": 1, "max": 1000},
        "note": {"type": "string", "maxlength": 20, "nullable": True},
        "kind": {"allowed": ["a", "b"], "dependencies": "sku"},
        "tags": {"type": "list", "minlength": 1},
    },
]
_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=6)  # no lone surrogates
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_text, children),
    max_leaves=12,
)
_keys = st.sampled_from(["sku", "quantity", "note", "kind", "tags", "a", "b", "c", "m", "n", "z"])
_documents = st.dictionaries(
    _keys,
    _json | st.from_regex(r"\A[A-Z0-9-]{3,6}\Z") | st.integers(-5, 2000),
    max_size=6,
)


def _app_for(schema: dict[str, Any], allow_unknown: bool, update: bool) -> Any:
    class R:
        @validate(body=schema, allow_unknown=allow_unknown, update=update)
        def on_post(self, req, resp):
            resp.media = req.context.body

    return _client(R())


_CASES = [
    (schema, allow_unknown, update, _app_for(schema, allow_unknown, update))
    for schema in EQUIVALENCE_SCHEMAS
    for allow_unknown in (False, True)
    for update in (False, True)
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=st.sampled_from(_CASES), document=_documents)
def test_skipping_the_pass_gives_plain_cerberus_answers(case, document):
    schema, allow_unknown, update, client = case
    assert _noop(schema, allow_unknown=allow_unknown)
    plain = cerberus.Validator(schema, allow_unknown=allow_unknown)
    valid = plain.validate(document, update=update)
    result = client.simulate_post("/r", body=json.dumps(document), headers=JSON)
    if valid:
        assert result.status_code == 200, result.text
        assert result.json == json.loads(json.dumps(plain.document))
    else:
        assert result.status_code == 422, result.text
        assert result.json["errors"] == flat_errors(recorded_errors(plain), 100)[0]


@settings(max_examples=200, deadline=None)
@given(
    schema=st.sampled_from(NOOP_SCHEMAS),
    document=_documents,
    allow_unknown=st.booleans(),
    max_errors=st.sampled_from([None, 1, 2]),
)
def test_the_validator_records_the_same_errors_in_the_same_order_without_the_pass(
    schema, document, allow_unknown, max_errors
):
    """Errors in recording order, so a ``max_errors`` cut keeps the same ones too."""
    kwargs = {"allow_unknown": allow_unknown, "max_errors": max_errors}
    skipping, normalizing = Validator(schema, **kwargs), Validator(schema, **kwargs)
    keep_expanded_schema(skipping)
    keep_expanded_schema(normalizing)
    valid = skipping.validate(document, normalize=False)
    assert valid is normalizing.validate(document)
    assert recorded_errors(skipping) == recorded_errors(normalizing)
    assert [e.info for e in recorded_errors(skipping)] == [
        e.info for e in recorded_errors(normalizing)
    ]
    assert skipping.errors == normalizing.errors
    assert skipping.document == normalizing.document
    assert skipping.document is not document


# --- the media-type decision is cached, boundedly -----------------------------------------------


def test_media_type_decisions_are_cached_for_short_values_only():
    _cached_is_json_media_type.cache_clear()
    for _ in range(3):
        assert is_json_media_type("application/json; charset=utf-8")
        assert not is_json_media_type("text/plain")
    assert _cached_is_json_media_type.cache_info().hits == 4
    for i in range(500):  # many distinct values: the cache stays bounded
        assert not is_json_media_type(f"text/x-{i}")
    assert _cached_is_json_media_type.cache_info().currsize == 64
    long_json = "application/json; " + "; ".join(f"p{i}=v" for i in range(40))
    before = _cached_is_json_media_type.cache_info()
    assert is_json_media_type(long_json)
    assert not is_json_media_type(long_json + "; charset=latin-1")
    assert _cached_is_json_media_type.cache_info() == before  # long values are not kept
