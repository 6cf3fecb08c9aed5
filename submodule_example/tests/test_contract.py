"""Contract test: the service against its own OpenAPI document, with schemathesis.

schemathesis reads ``/openapi.json`` in-process (WSGI, no server), generates
valid and invalid requests for every operation, and checks that the service
never answers 5xx, that status codes, content types and bodies match the
document, and that invalid data is rejected. The app is built at import time
(schemathesis' ``from_fixture`` does not work with pytest 9), with an HS256
``jwt`` service from ``common_utils.testing``'s token issuer.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from example_app.app import create_app
from falcon import testing
from hypothesis import HealthCheck, settings
from unit_support import AUDIENCE, ISSUER

from common_utils.testing import TokenIssuer, vcap_services

ISSUER_HS256 = TokenIssuer(
    issuer=ISSUER, audience=AUDIENCE, algorithm="HS256", scopes=["example.filter"], lifetime=3600
)
VCAP_SERVICES = vcap_services(ISSUER_HS256.service("example-jwt"))
SERVICE = create_app({"VCAP_SERVICES": VCAP_SERVICES, "LOG_LEVEL": "WARNING"})
schema = schemathesis.openapi.from_wsgi("/openapi.json", SERVICE)
schema.config.generation.update(
    modes=[schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
)


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_service_conforms_to_its_document(case: Any) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {ISSUER_HS256.token()}"})


def test_document_lists_every_route_of_the_contract() -> None:
    document = testing.TestClient(SERVICE).simulate_get("/openapi.json").json
    assert set(document["paths"]) == {"/", "/health", "/version", "/v1/filter"}
    assert document["paths"]["/"]["get"]["security"] == []
    assert document["paths"]["/"]["post"]["security"] == [{"bearerAuth": ["example.filter"]}]
    assert "deprecated" not in document["paths"]["/"]["post"]
    v1 = document["paths"]["/v1/filter"]["post"]
    assert v1["deprecated"] is True
    assert v1["security"] == [{"bearerAuth": ["example.filter"]}]
    assert document["paths"]["/health"]["get"]["security"] == []
