"""RFC 6750 challenges and the errors the middleware and hooks raise."""

from __future__ import annotations

from collections.abc import Iterable

from common_utils.errors import ConfigurationError
from common_utils.problems import ProblemError

__all__ = ["AuthConfigError"]


class AuthConfigError(ConfigurationError):
    """Refuse a JWT auth configuration that cannot be made safe.

    The message names the offending setting and never contains its value
    (secrets, keys and URLs with credentials stay out of logs).

    Examples:
        >>> from common_utils.auth import Secret
        >>> try:
        ...     Secret("short")
        ... except AuthConfigError as ex:
        ...     print(ex)
        Secret: an HMAC secret must be at least 32 bytes long
    """


def _quoted(value: str) -> str:
    # Values are checked at configuration time to hold no quote or backslash.
    return f'"{value}"'


def challenge(
    realm: str, *, error: str | None = None, description: str | None = None, scope: str = ""
) -> str:
    """Build a ``WWW-Authenticate: Bearer ...`` value (RFC 6750 section 3)."""
    parts = [f"realm={_quoted(realm)}"]
    if error is not None:
        parts.append(f"error={_quoted(error)}")
    if description is not None:
        parts.append(f"error_description={_quoted(description)}")
    if scope:
        parts.append(f"scope={_quoted(scope)}")
    return "Bearer " + ", ".join(parts)


def unauthorized(
    realm: str, detail: str = "bearer token required", scope: str = ""
) -> ProblemError:
    """No credentials, or another scheme: 401 with a bare challenge (no error code)."""
    return ProblemError(
        401, detail=detail, headers={"WWW-Authenticate": challenge(realm, scope=scope)}
    )


def invalid_request(realm: str, reason: str) -> ProblemError:
    """Malformed Authorization header: 400 ``invalid_request``."""
    header = challenge(realm, error="invalid_request", description=reason)
    return ProblemError(400, detail=reason, headers={"WWW-Authenticate": header})


def invalid_token(realm: str, reason: str) -> ProblemError:
    """Token that does not verify: 401 ``invalid_token`` with a fixed reason."""
    header = challenge(realm, error="invalid_token", description=reason)
    return ProblemError(401, detail=reason, headers={"WWW-Authenticate": header})


def insufficient_scope(realm: str, scopes: Iterable[str]) -> ProblemError:
    """Verified token without the scopes a responder needs: 403.

    The detail names the required scopes, so an app on Falcon's default error
    serializer (title and description only) shows them too.
    """
    scope = " ".join(scopes)
    header = challenge(realm, error="insufficient_scope", scope=scope)
    return ProblemError(
        403,
        detail=f"the token lacks a required scope (required: {scope})",
        headers={"WWW-Authenticate": header},
        extensions={"required_scopes": scope.split()},
    )


def keys_unavailable(retry_after: int) -> ProblemError:
    """Cold key cache and the key server cannot be reached: 503 with ``Retry-After``."""
    return ProblemError(
        503,
        detail="token signing keys are unavailable, retry later",
        headers={"Retry-After": str(retry_after)},
    )
