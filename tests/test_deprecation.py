"""Deprecation, Sunset and Link headers for deprecated responders and resources."""

from __future__ import annotations

import email.utils
from datetime import date, datetime, timedelta, timezone
from typing import Any

import falcon
import falcon.asgi
import falcon.testing
import pytest

from common_utils.auth import JWTAuthMiddleware, Secret, require_scopes
from common_utils.deprecation import Deprecation, deprecated, deprecation_of
from common_utils.openapi import OpenAPI, operation
from common_utils.problems import problem_error_serializer
from common_utils.validation import validate

SINCE = date(2026, 12, 1)
SUNSET = date(2027, 6, 30)
MIGRATION = "https://docs.example.com/orders/v1-to-v2"
POLICY = "https://docs.example.com/api-lifecycle"
V1 = deprecated(since=SINCE, sunset=SUNSET, link=MIGRATION)


def _links(result: falcon.testing.Result) -> list[str]:
    return [link.strip() for link in result.headers.get("Link", "").split(",") if link.strip()]


class TestHeaders:
    def test_deprecation_is_a_structured_field_date_of_unix_seconds(self) -> None:
        """RFC 9745: ``Deprecation: @<seconds since the epoch>``, a date meaning midnight UTC."""
        notice = deprecated(since=SINCE, link="/docs")
        assert dict(notice.headers)["Deprecation"] == "@1796083200"
        moment = datetime(2026, 12, 1, 13, 30, tzinfo=timezone(timedelta(hours=2)))
        assert dict(deprecated(since=moment, link="/docs").headers)["Deprecation"] == (
            f"@{int(moment.timestamp())}"
        )

    def test_sunset_is_an_http_date_in_gmt(self) -> None:
        """RFC 8594: ``Sunset`` is an IMF-fixdate, which parses back to the same moment."""
        value = dict(V1.headers)["Sunset"]
        assert value == "Wed, 30 Jun 2027 00:00:00 GMT"
        assert email.utils.parsedate_to_datetime(value) == datetime(
            2027, 6, 30, tzinfo=timezone.utc
        )

    def test_without_a_sunset_there_is_no_sunset_header(self) -> None:
        """The removal date is optional (RFC 9745 deprecates without removing)."""
        notice = deprecated(since=SINCE, link="/docs/migrate")
        assert notice.sunset is None
        assert [name for name, _ in notice.headers] == ["Deprecation", "Link"]

    def test_links_carry_the_deprecation_and_sunset_relations(self) -> None:
        """``rel="deprecation"`` to the migration notes, ``rel="sunset"`` to the policy."""
        notice = deprecated(since=SINCE, sunset=SUNSET, link=MIGRATION, sunset_link=POLICY)
        assert [value for name, value in notice.headers if name == "Link"] == [
            f'<{MIGRATION}>; rel="deprecation"',
            f'<{POLICY}>; rel="sunset"',
        ]


class TestValidation:
    @pytest.mark.parametrize(
        ("kwargs", "error", "message"),
        [
            ({"since": "2026-12-01"}, TypeError, "since: expected a date or an aware datetime"),
            ({"sunset": 1814313600}, TypeError, "sunset: expected a date"),
            ({"since": datetime(2026, 12, 1)}, ValueError, "since: a datetime must be timezone"),
            ({"sunset": date(2026, 11, 30)}, ValueError, "sunset 2026-11-30T00:00:00Z is earlier"),
            ({"link": None}, TypeError, "link: expected a URL string"),
            ({"link": ""}, ValueError, "link: '' is not a URL"),
            ({"link": "https://x.example/a b"}, ValueError, "is not a URL"),
            ({"link": "https://x.example/>; rel=x"}, ValueError, "is not a URL"),
            ({"link": "docs/migrate"}, ValueError, "must be an http(s) URL or a path"),
            ({"link": "//evil.example/x"}, ValueError, "must be an http(s) URL or a path"),
            ({"link": "javascript:alert(1)"}, ValueError, "must be an http(s) URL or a path"),
            ({"link": "https:///no-host"}, ValueError, "must be an http(s) URL or a path"),
            ({"sunset_link": "ftp://x.example/p"}, ValueError, "sunset_link: 'ftp://"),
        ],
    )
    def test_bad_arguments_fail_when_the_decorator_is_created(
        self, kwargs: dict[str, Any], error: type[Exception], message: str
    ) -> None:
        """A bad date or URL stops start-up with a message naming the argument."""
        arguments: dict[str, Any] = {"since": SINCE, "sunset": SUNSET, "link": MIGRATION}
        arguments.update(kwargs)
        with pytest.raises(error) as caught:
            deprecated(**arguments)
        assert message in str(caught.value)

    def test_sunset_may_equal_since(self) -> None:
        """Deprecated and removed at once is allowed: RFC 9745 forbids only an earlier sunset."""
        assert deprecated(since=SINCE, sunset=SINCE, link="/docs").sunset == V1.since

    def test_a_class_without_responders_is_refused(self) -> None:
        """Decorating a class that serves nothing is a mistake, not a no-op."""

        class Nothing:
            def on_nothing(self) -> None: ...

        with pytest.raises(TypeError, match="Nothing has no on_<method> responder"):
            V1(Nothing)

    def test_something_else_is_refused(self) -> None:
        """Only responders and resource classes can be deprecated."""
        with pytest.raises(TypeError, match="expected a responder or a resource class"):
            V1(42)


class OrdersV1:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = []

    def on_get_item(self, req: falcon.Request, resp: falcon.Response, order_id: str) -> None:
        resp.media = {"id": order_id}

    @validate(body={"sku": {"type": "string", "required": True}})
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = req.context.body

    def helper(self) -> str:
        return "not a responder"


class OrdersV2(OrdersV1):
    pass


@V1
class DeprecatedOrdersV1(OrdersV1):
    pass


class AsyncOrders:
    @V1
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.media = []


class TestResponses:
    def _client(self) -> falcon.testing.TestClient:
        app = falcon.App()
        app.set_error_serializer(problem_error_serializer)
        app.add_route("/v1/orders", DeprecatedOrdersV1())
        app.add_route("/v1/orders/{order_id}", DeprecatedOrdersV1(), suffix="item")
        app.add_route("/v2/orders", OrdersV2())
        return falcon.testing.TestClient(app)

    @pytest.mark.parametrize(
        ("method", "path", "body"),
        [
            ("GET", "/v1/orders", None),
            ("GET", "/v1/orders/7", None),
            ("POST", "/v1/orders", {"sku": "A-1"}),
        ],
        ids=["on_get", "on_get_item", "on_post"],
    )
    def test_every_responder_of_a_decorated_class_sends_the_headers(
        self, method: str, path: str, body: dict[str, str] | None
    ) -> None:
        """Suffixed responders too."""
        result = self._client().simulate_request(method, path, json=body)
        assert result.status_code == 200
        assert result.headers["Deprecation"] == "@1796083200"
        assert result.headers["Sunset"] == "Wed, 30 Jun 2027 00:00:00 GMT"
        assert _links(result) == [f'<{MIGRATION}>; rel="deprecation"']

    def test_the_decorated_class_answers_and_keeps_its_own_helpers(self) -> None:
        assert self._client().simulate_get("/v1/orders/7").json == {"id": "7"}
        assert DeprecatedOrdersV1().helper() == "not a responder"

    def test_the_successor_sharing_the_base_class_is_not_deprecated(self) -> None:
        """Decorating a subclass wraps its responders only, never the base class's."""
        result = self._client().simulate_get("/v2/orders")
        assert "Deprecation" not in result.headers
        assert deprecation_of(OrdersV1.on_get) is None
        assert deprecation_of(OrdersV2.on_get) is None
        assert deprecation_of(DeprecatedOrdersV1().on_get) is V1

    def test_errors_raised_by_the_responder_carry_the_headers(self) -> None:
        """A 422 from @validate still tells the client the version is deprecated."""
        result = self._client().simulate_post("/v1/orders", json={})
        assert result.status_code == 422
        assert result.headers["Deprecation"] == "@1796083200"

    def test_existing_link_headers_are_kept(self) -> None:
        """``Link`` is appended to, so pagination links survive."""

        class Paged:
            @V1
            def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
                resp.append_link("/v1/orders?page=2", "next")

        app = falcon.App()
        app.add_route("/", Paged())
        result = falcon.testing.TestClient(app).simulate_get("/")
        assert sorted(_links(result)) == [
            "</v1/orders?page=2>; rel=next",
            f'<{MIGRATION}>; rel="deprecation"',
        ]

    def test_async_responders_send_the_headers(self) -> None:
        """ASGI apps: a coroutine responder stays a coroutine and gets the headers."""
        app = falcon.asgi.App()
        app.add_route("/v1/orders", AsyncOrders())
        result = falcon.testing.TestClient(app).simulate_get("/v1/orders")
        assert result.status_code == 200
        assert result.json == []
        assert result.headers["Deprecation"] == "@1796083200"

    def test_the_notice_is_a_value(self) -> None:
        """Two notices with the same arguments are equal; the headers are not part of repr."""
        again = deprecated(since=SINCE, sunset=SUNSET, link=MIGRATION)
        assert again == V1
        assert isinstance(again, Deprecation)
        assert "headers" not in repr(again)


class TestOpenAPI:
    def test_deprecated_operations_are_marked_in_the_document(self) -> None:
        """``deprecated: true`` for the old version's operations, not for the successor's."""
        auth = JWTAuthMiddleware(
            keys=Secret("s" * 32), issuer="i", audience="a", algorithms=["HS256"]
        )

        class Filter:
            @V1
            @falcon.before(require_scopes("example.filter"))
            @validate(body={}, allow_unknown=True)
            def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
                """Filter the keys."""
                resp.media = req.context.body

        app = falcon.App(middleware=[auth])
        app.add_route("/v1/orders", DeprecatedOrdersV1())
        app.add_route("/v2/orders", OrdersV2())
        app.add_route("/v1/filter", Filter())
        paths = OpenAPI(app, title="orders", version="2.0.0", auth=auth).document()["paths"]
        assert paths["/v1/orders"]["get"]["deprecated"] is True
        assert paths["/v1/orders"]["post"]["deprecated"] is True
        assert "deprecated" not in paths["/v2/orders"]["get"]
        # Stacked under @deprecated, the body schema and the scopes are still found.
        post = paths["/v1/filter"]["post"]
        assert post["deprecated"] is True
        assert post["summary"] == "Filter the keys."
        assert post["security"] == [{"bearerAuth": ["example.filter"]}]
        assert "requestBody" in post

    def test_the_operation_decorator_still_marks_deprecated(self) -> None:
        """``@operation(deprecated=True)`` keeps working without headers."""

        class Old:
            @operation(deprecated=True)
            def on_get(self, req: falcon.Request, resp: falcon.Response) -> None: ...

        app = falcon.App()
        app.add_route("/old", Old())
        assert OpenAPI(app, title="t", version="1").document()["paths"]["/old"]["get"]["deprecated"]
