"""Validate Falcon request bodies and query parameters with Cerberus schemas.

`validate` decorates a responder (``def`` for WSGI apps, ``async def``
for ASGI apps) or a whole resource class. It checks the media type, reads the
body within a size limit, parses it as strict JSON, validates it and the query
parameters against Cerberus schemas, and stores the normalized documents in
``req.context.body`` and ``req.context.params``. Every failure is a
`ProblemError` (415, 413, 400 or 422) rendered as
RFC 9457 problem+json by `problem_error_serializer`.

The parsed (not normalized) body is also stored where Falcon caches media, so
``req.get_media()`` returns it without reading the consumed stream again.
Falcon 4 has no public setter for that cache; ``common_utils._compat`` writes
the ``Request._media`` slot that ``get_media()`` reads (tests pin the behaviour).

Examples:
    >>> import falcon, falcon.testing
    >>> from common_utils.problems import problem_error_serializer
    >>> class Orders:
    ...     @validate(body={"sku": {"type": "string", "required": True}})
    ...     def on_post(self, req, resp):
    ...         resp.media = req.context.body
    >>> app = falcon.App()
    >>> app.set_error_serializer(problem_error_serializer)
    >>> app.add_route("/orders", Orders())
    >>> client = falcon.testing.TestClient(app)
    >>> client.simulate_post("/orders", json={"sku": "A-1"}).json
    {'sku': 'A-1'}
    >>> client.simulate_post("/orders", json={}).json["errors"]
    [{'field': 'sku', 'message': 'required field'}]
"""

from __future__ import annotations

from common_utils.validation._body import ACCEPTED_MEDIA_TYPES
from common_utils.validation._decorator import ValidationSpec, validate, validation_spec_of
from common_utils.validation._validator import Validator

__all__ = ["ACCEPTED_MEDIA_TYPES", "ValidationSpec", "Validator", "validate", "validation_spec_of"]
