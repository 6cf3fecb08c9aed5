"""A 422 is bounded whatever the client sent: its size and the memory of building it.

An error's ``field`` is a path whose elements can be keys the client chose
(``valuesrules``, ``keysrules``, unknown keys under ``allow_unknown``). Issue 25:
one 1 MiB body with one long key and 101 bad values answered a 105 MB 422 and
grew the process by about 300 MiB, with either error serializer.
"""

from __future__ import annotations

import json
import tracemalloc
from typing import Any

import falcon
import falcon.testing
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common_utils.problems import problem_error_serializer
from common_utils.validation import validate

MIB = 1024 * 1024
JSON = {"Content-Type": "application/json"}
# What docs/validation.md guarantees.
MAX_ELEMENT_CHARS = 64
MAX_FIELD_CHARS = 256
MAX_MESSAGE_CHARS = 256
MAX_ERRORS_BYTES = 64 * 1024
TRUNCATED = "\u2026(truncated)"
# The rest of a problem body: type, title, status, detail, errors_truncated.
PROBLEM_OVERHEAD = 512

LIST_OF_INTEGERS = {"type": "list", "schema": {"type": "integer"}}


def _client(schema: dict[str, Any], *, problem_json: bool = True, **kwargs: Any):
    class R:
        @validate(body=schema, **kwargs)
        def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
            resp.media = req.context.body

    app = falcon.App()
    if problem_json:
        app.set_error_serializer(problem_error_serializer)
    app.add_route("/r", R())
    return falcon.testing.TestClient(app)


def _long_key_body(shape: str) -> tuple[dict[str, Any], str]:
    """A schema and a ~1 MiB body: one key of almost 1 MiB, 101 bad values under it."""
    key = "k" * (MIB - 2_000)
    if shape == "valuesrules":
        schema = {"m": {"type": "dict", "valuesrules": LIST_OF_INTEGERS}}
        doc: Any = {"m": {key: ["x"] * 101}}
    elif shape == "keysrules":
        schema = {"m": {"type": "dict", "keysrules": {"type": "string", "maxlength": 3}}}
        doc = {"m": {f"{i:03d}" + "k" * 10_000: 0 for i in range(101)}}
    elif shape == "allow_unknown":
        schema = {"m": {"type": "dict", "allow_unknown": LIST_OF_INTEGERS, "schema": {}}}
        doc = {"m": {key: ["x"] * 101}}
    else:  # unknown keys at the top, each long
        schema = {"a": {"type": "integer"}}
        doc = {f"{i:03d}" + "u" * 10_000: 0 for i in range(101)}
    return schema, json.dumps(doc)


SHAPES = ["valuesrules", "keysrules", "allow_unknown", "unknown keys"]


def _assert_bounded(errors: list[dict[str, str]]) -> None:
    assert len(json.dumps(errors).encode()) <= MAX_ERRORS_BYTES
    for error in errors:
        assert len(error["field"]) <= MAX_FIELD_CHARS + len(TRUNCATED)
        assert len(error["message"]) <= MAX_MESSAGE_CHARS + len(TRUNCATED)
        for element in error["field"].split("."):
            assert len(element) <= MAX_ELEMENT_CHARS + len(TRUNCATED)


@pytest.mark.parametrize("problem_json", [True, False], ids=["problem+json", "falcon default"])
@pytest.mark.parametrize("shape", SHAPES)
def test_a_one_mebibyte_body_gets_a_422_of_at_most_64_kib(shape, problem_json):
    """Long client keys in error paths are cut; the list stops at 64 KiB, either serializer."""
    schema, raw = _long_key_body(shape)
    assert len(raw) <= MIB
    result = _client(schema, problem_json=problem_json).simulate_post("/r", body=raw, headers=JSON)
    assert result.status_code == 422, result.text[:300]
    assert len(result.content) <= MAX_ERRORS_BYTES + PROBLEM_OVERHEAD
    _assert_bounded(result.json["errors"])


def test_a_long_key_is_cut_and_the_field_says_so():
    """The first 64 characters of a key stay, then a marker: the reader sees it was cut."""
    schema, raw = _long_key_body("valuesrules")
    body = _client(schema).simulate_post("/r", body=raw, headers=JSON).json
    first = body["errors"][0]
    assert first == {
        "field": "m." + "k" * MAX_ELEMENT_CHARS + TRUNCATED + ".0",
        "message": "must be of integer type",
    }
    # 101 errors of ~100 bytes each fit: nothing else was cut.
    assert len(body["errors"]) == 100
    assert body["errors_truncated"] is True


def test_a_path_of_many_long_keys_is_cut_at_256_characters():
    """Deep paths of long keys: the field keeps its start and says it was cut."""
    key = "d" * 100
    rules: dict[str, Any] = {"type": "integer"}
    doc: Any = "x"
    for _ in range(6):
        rules = {"type": "dict", "valuesrules": rules}
        doc = {key: doc}
    body = _client({"a": rules}).simulate_post("/r", json={"a": doc}).json
    assert body["status"] == 422
    field = body["errors"][0]["field"]
    assert field.startswith("a." + "d" * MAX_ELEMENT_CHARS + TRUNCATED + ".")
    assert field.endswith(TRUNCATED)
    assert len(field) == MAX_FIELD_CHARS + len(TRUNCATED)
    _assert_bounded(body["errors"])


def test_errors_beyond_64_kib_are_cut_and_marked_truncated():
    """Each error fits its bounds, but together they would not: the list stops early."""
    doc = {f"{i:03d}" + "\U0001f600" * 500: 0 for i in range(100)}
    body = _client({"a": {"type": "integer"}}).simulate_post("/r", json=doc).json
    assert body["errors_truncated"] is True
    assert 0 < len(body["errors"]) < 100
    assert (
        body["detail"] == f"Too many fields are invalid; listing the first {len(body['errors'])}."
    )
    _assert_bounded(body["errors"])


def test_a_long_custom_message_is_cut():
    """Messages of a service's own rules pass through, bounded."""
    from common_utils.validation import Validator

    class Chatty(Validator):
        def _validate_chatty(self, chatty: bool, field: str, value: Any) -> None:
            """{'type': 'boolean'}"""
            if chatty:
                self._error(field, "x" * 10_000)

    class R:
        @validate(body={"a": {"chatty": True}}, validator_class=Chatty)
        def on_post(self, req: falcon.Request, resp: falcon.Response) -> None: ...

    app = falcon.App()
    app.set_error_serializer(problem_error_serializer)
    app.add_route("/r", R())
    body = falcon.testing.TestClient(app).simulate_post("/r", json={"a": 1}).json
    assert body["errors"] == [{"field": "a", "message": "x" * MAX_MESSAGE_CHARS + TRUNCATED}]


def test_building_the_422_of_a_hostile_body_stays_within_a_few_times_its_size():
    """The cut happens while the list is built: no 100 MB string is made and then cut."""
    schema, raw = _long_key_body("valuesrules")
    client = _client(schema)
    client.simulate_post("/r", body=raw, headers=JSON)  # warm up imports and caches
    tracemalloc.start()
    try:
        result = client.simulate_post("/r", body=raw, headers=JSON)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.status_code == 422
    # The body bytes, their decoded text, the parsed key and the test client's copies.
    assert peak < 12 * MIB, f"{peak / MIB:.1f} MiB"


# No lone surrogates: the test client cannot encode them (the parser's own tests cover them).
_CHARS = st.characters(blacklist_categories=("Cs",))
_KEYS = st.text(_CHARS, min_size=1, max_size=300) | st.builds(
    lambda c, n: c * n, _CHARS, st.integers(100, 3_000)
)
_RULES = st.sampled_from(
    [
        {"type": "integer"},
        LIST_OF_INTEGERS,
        {"type": "dict", "valuesrules": {"type": "integer"}},
        {"type": "dict", "keysrules": {"type": "string", "maxlength": 2}},
        {"type": "dict", "schema": {}, "allow_unknown": {"type": "integer"}},
    ]
)
_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: st.lists(children, max_size=30) | st.dictionaries(_KEYS, children, max_size=6),
    max_leaves=60,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    schema=st.dictionaries(st.sampled_from(["a", "b", "c"]), _RULES, min_size=1),
    doc=st.dictionaries(st.sampled_from(["a", "b", "c"]) | _KEYS, _VALUES, max_size=6),
    allow_unknown=st.booleans(),
    max_errors=st.sampled_from([1, 100, 1_000]),
)
def test_any_error_body_stays_within_its_bounds(schema, doc, allow_unknown, max_errors):
    """Random schemas with client-chosen keys in paths, random bodies: every 422 is bounded."""
    client = _client(schema, allow_unknown=allow_unknown, max_errors=max_errors)
    result = client.simulate_post("/r", json=doc)
    assert result.status_code in (200, 400, 422), result.text[:300]
    if result.status_code == 422:
        assert len(result.content) <= MAX_ERRORS_BYTES + PROBLEM_OVERHEAD
        _assert_bounded(result.json["errors"])
