"""The first version's route, POST /v1/filter, kept beside its successor POST / until its sunset."""

from __future__ import annotations

import email.utils
from collections.abc import Callable
from datetime import datetime, timezone

from example_app.app import V1_MIGRATION_NOTES, V1_SUNSET
from falcon import testing

TALK_INPUT = {"abra": 123, "kadabra": 4, "Avocado": None}


def test_v1_filter_answers_like_its_successor(
    client: testing.TestClient, auth_headers: dict[str, str]
) -> None:
    v1 = client.simulate_post("/v1/filter", json=TALK_INPUT, headers=auth_headers)
    current = client.simulate_post("/", json=TALK_INPUT, headers=auth_headers)
    assert v1.status_code == current.status_code == 200
    assert v1.json == current.json == {"abra": 123, "Avocado": None}


def test_v1_filter_announces_its_deprecation_and_sunset(
    client: testing.TestClient, auth_headers: dict[str, str]
) -> None:
    resp = client.simulate_post("/v1/filter", json=TALK_INPUT, headers=auth_headers)
    deprecation = resp.headers["Deprecation"]
    assert deprecation.startswith("@")
    assert datetime.fromtimestamp(int(deprecation[1:]), timezone.utc).date() <= V1_SUNSET
    sunset = email.utils.parsedate_to_datetime(resp.headers["Sunset"])
    assert sunset == datetime(V1_SUNSET.year, V1_SUNSET.month, V1_SUNSET.day, tzinfo=timezone.utc)
    assert resp.headers["Link"] == f'<{V1_MIGRATION_NOTES}>; rel="deprecation"'


def test_the_successor_is_not_deprecated(
    client: testing.TestClient, auth_headers: dict[str, str]
) -> None:
    resp = client.simulate_post("/", json=TALK_INPUT, headers=auth_headers)
    assert "Deprecation" not in resp.headers
    assert "Sunset" not in resp.headers


def test_v1_filter_needs_the_same_scope_and_says_deprecated_when_refusing(
    client: testing.TestClient, make_token: Callable[..., str]
) -> None:
    headers = {"Authorization": f"Bearer {make_token(scopes=['other'])}"}
    resp = client.simulate_post("/v1/filter", json=TALK_INPUT, headers=headers)
    assert resp.status_code == 403
    assert resp.headers["content-type"] == "application/problem+json"
    assert "Deprecation" in resp.headers
    assert client.simulate_post("/v1/filter", json=TALK_INPUT).status_code == 401


def test_v1_filter_validates_the_body_like_its_successor(
    client: testing.TestClient, auth_headers: dict[str, str]
) -> None:
    resp = client.simulate_post("/v1/filter", body="[1, 2]", headers=auth_headers)
    assert resp.status_code == 400
    assert "Sunset" in resp.headers


def test_the_document_marks_only_v1_deprecated(client: testing.TestClient) -> None:
    paths = client.simulate_get("/openapi.json").json["paths"]
    assert paths["/v1/filter"]["post"]["deprecated"] is True
    assert all("deprecated" not in op for op in paths["/"].values())
