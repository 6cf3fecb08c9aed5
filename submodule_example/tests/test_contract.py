"""Contract test: the service against its own OpenAPI document, with schemathesis.

schemathesis reads ``/openapi.json`` in-process (WSGI, no server), generates
valid and invalid requests for every operation, and checks that the service
never answers 5xx, that status codes, content types and bodies match the
document, and that invalid data is rejected. The app is built at import time
(schemathesis' ``from_fixture`` does not work with pytest 9), with an HS256
``jwt`` service whose secret is generated here.
"""

from __future__ import annotations

import secrets
import time
import uuid
from typing import Any

import jwt
import schemathesis
from example_app.app import create_app
from falcon import testing
from hypothesis import HealthCheck, settings
from unit_support import AUDIENCE, ISSUER, jwt_service_vcap

SECRET = secrets.token_urlsafe(48)
VCAP_SERVICES = jwt_service_vcap(secret=SECRET, algorithms=["HS256"])
SERVICE = create_app({"VCAP_SERVICES": VCAP_SERVICES, "LOG_LEVEL": "WARNING"})
schema = schemathesis.openapi.from_wsgi("/openapi.json", SERVICE)
schema.config.generation.update(
    modes=[schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
)


def _token() -> str:
    now = int(time.time())
    payload: dict[str, Any] = {
        "iss": ISSUER,
        "aud": [AUDIENCE],
        "sub": "contract-tests",
        "iat": now,
        "exp": now + 3600,
        "jti": uuid.uuid4().hex,
        "scope": ["example.filter"],
    }
    return jwt.encode(payload, SECRET, algorithm="HS256")


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_service_conforms_to_its_document(case: Any) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {_token()}"})


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
