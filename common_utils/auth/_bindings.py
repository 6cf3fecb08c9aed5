"""Cloud Foundry bindings read as middleware settings: UAA, XSUAA and user-provided."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

from common_utils.auth._errors import AuthConfigError
from common_utils.auth._exemptions import strings
from common_utils.auth._sources import JWKS, KeySource, PublicKey, Secret

__all__ = ["ServiceLike", "settings_from_service"]

_UAA_LABELS = frozenset({"xsuaa", "uaa"})
# The credentials of a user-provided binding that name its key source, and what each builds.
_KEY_CREDENTIALS: dict[str, Callable[[Any], KeySource]] = {
    "jwks_uri": JWKS,
    "public_key": PublicKey,
    "secret": Secret,
}


class ServiceLike(Protocol):
    """What ``from_service`` reads of a ``common_utils.cfenv.Service``."""

    @property
    def name(self) -> str: ...  # pragma: no cover

    @property
    def label(self) -> str: ...  # pragma: no cover

    @property
    def credentials(self) -> Mapping[str, Any]: ...  # pragma: no cover


def settings_from_service(service: ServiceLike, overrides: dict[str, Any]) -> dict[str, Any]:
    """Return the middleware's keyword arguments for a binding; ``overrides`` win.

    A ``uaa``/``xsuaa`` label is read as a UAA (see `_uaa`); any other
    binding as a user-provided service (see `_user_provided`).

    Raises:
        AuthConfigError: A credential is missing or unusable; the message
            names the service and the credential, never the value.
    """
    name = getattr(service, "name", "?")
    label = str(getattr(service, "label", "") or "").lower()
    creds = service.credentials
    overrides = dict(overrides)
    if label in _UAA_LABELS:
        settings = _uaa(name, label, creds, overrides)
    else:
        settings = _user_provided(name, creds, "keys" not in overrides)
    settings.update(overrides)
    return settings


def _need(name: str, creds: Mapping[str, Any], key: str) -> Any:
    value = creds.get(key)
    if value is None or value == "":
        raise AuthConfigError(f"service {name!r}: credential {key!r} is missing")
    return value


def _uaa(
    name: str, label: str, creds: Mapping[str, Any], overrides: dict[str, Any]
) -> dict[str, Any]:
    """UAA and XSUAA: keys, issuer and audience derived from ``url`` and the client."""
    url = str(_need(name, creds, "url")).rstrip("/")
    domain = creds.get("uaadomain")
    host = urlsplit(url).hostname or ""
    if domain and not (host == domain or host.endswith("." + str(domain))):
        raise AuthConfigError(
            f"service {name!r}: credential 'url' is not under credential 'uaadomain'"
        )
    if label == "xsuaa":
        audience = creds.get("xsappname") or _need(name, creds, "clientid")
    else:
        audience = creds.get("audience") or _need(name, creds, "clientid")
    settings: dict[str, Any] = {
        "issuer": f"{url}/oauth/token",
        "audience": audience,
        "algorithms": ["RS256"],
        # NOTE: UAA access tokens always carry scope; its JWT refresh tokens carry
        # granted_scopes instead, so this keeps them out. Kept under overrides.
        "required_claims": [
            "scope",
            *strings("required_claims", overrides.pop("required_claims", ())),
        ],
    }
    if "keys" not in overrides:
        settings["keys"] = _credential(name, "url", JWKS, f"{url}/token_keys")
    return settings


def _user_provided(name: str, creds: Mapping[str, Any], need_keys: bool) -> dict[str, Any]:
    """A user-provided service: issuer, audience, one key source and optional algorithms."""
    settings: dict[str, Any] = {
        "issuer": _need(name, creds, "issuer"),
        "audience": _need(name, creds, "audience"),
    }
    sources = [k for k in _KEY_CREDENTIALS if creds.get(k)]
    if len(sources) != 1:
        raise AuthConfigError(
            f"service {name!r}: give exactly one of the credentials "
            "'jwks_uri', 'public_key', 'secret'"
        )
    (source,) = sources
    if need_keys:
        settings["keys"] = _credential(name, source, _KEY_CREDENTIALS[source], creds[source])
    algorithms = creds.get("algorithms")
    if isinstance(algorithms, str):
        algorithms = algorithms.replace(",", " ").split()
    elif algorithms is None:
        algorithms = ["HS256"] if source == "secret" else ["RS256"]
    settings["algorithms"] = algorithms
    return settings


def _credential(name: str, key: str, build: Callable[[Any], KeySource], value: Any) -> KeySource:
    try:
        return build(value)
    except AuthConfigError as ex:
        # NOTE: the source's message names its own setting, never the value.
        raise AuthConfigError(f"service {name!r}: credential {key!r}: {ex}") from None
