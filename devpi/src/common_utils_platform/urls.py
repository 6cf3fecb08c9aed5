"""The one URL policy of the platform tools, and how a URL is shown in a message.

Every URL the tools send a credential to, or read the index's state from (the
release pipeline's ``DEVPI_URL``, ``DevpiAPI``, ``common-utils-ops --url``,
``--replica`` and ``--source``), passes `check_url`:

- ``https://HOST[:PORT][/PATH]``; plain ``http://`` only on a loopback host
  (``localhost``, ``127.0.0.0/8``, ``::1``), where nobody else is on the path;
- no userinfo (``user:password@``): a password goes in its own setting;
- no query and no fragment.

A refusal is a `URLPolicyError` whose message starts with the setting's name and
shows the URL as `shown_url` does: without userinfo, query values or fragment,
so no secret is ever echoed.

Example:
    >>> check_url("https://devpi.example.internal/", name="DEVPI_URL")
    'https://devpi.example.internal'
    >>> check_url("http://127.0.0.1:3141", name="DEVPI_URL")
    'http://127.0.0.1:3141'
    >>> check_url("https://bot:pw@devpi.example.internal", name="--url")
    Traceback (most recent call last):
    ...
    common_utils_platform.urls.URLPolicyError: --url must not carry credentials ...
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit, urlunsplit

__all__ = ["URLPolicyError", "check_url", "is_loopback", "shown_url"]

_LOOPBACK_NAMES = frozenset({"localhost"})
_URL_SHAPE = re.compile(r"^https?://[^/\s]+(/\S*)?$", re.IGNORECASE)


class URLPolicyError(ValueError):
    """A URL the policy refuses; the message names the setting and hides secrets.

    Example:
        >>> isinstance(URLPolicyError("DEVPI_URL must ..."), ValueError)
        True
    """


def shown_url(url: str) -> str:
    """Return ``url`` as messages show it: no userinfo, no query values, no fragment.

    The names of query parameters stay (for debugging), their values become
    ``<hidden>``; text that does not parse as a URL but holds an ``@`` is not
    shown at all.

    Example:
        >>> shown_url("https://bot:pw@devpi.example/team/?token=abc&x#frag")
        'https://devpi.example/team/?token=<hidden>&<hidden>'
        >>> shown_url("bot:pw@devpi.example")
        '<not a URL>'
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<not a URL>"
    if not parts.netloc and "@" in url:
        return "<not a URL>"
    host = parts.netloc.rpartition("@")[2]
    query = "&".join(
        f"{item.partition('=')[0]}=<hidden>" if "=" in item else "<hidden>"
        for item in parts.query.split("&")
        if item
    )
    return urlunsplit((parts.scheme, host, parts.path, query, ""))


def is_loopback(host: str) -> bool:
    """Tell whether ``host`` (a name or an address) is this machine's loopback.

    Example:
        >>> [is_loopback(h) for h in ("localhost", "127.0.0.2", "::1", "10.0.0.1", "h")]
        [True, True, True, False, False]
    """
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, *, name: str) -> str:
    """Return ``url`` without a trailing slash if the policy accepts it.

    Args:
        url: The URL as configured.

    Keyword Args:
        name: The setting it came from (``DEVPI_URL``, ``--url``), which starts
            every refusal's message.

    Raises:
        URLPolicyError: The URL is malformed, not http(s), carries userinfo, a
            query or a fragment, or uses plain http on a host that is not loopback.

    Example:
        >>> check_url("http://devpi.example.internal", name="DEVPI_URL")
        Traceback (most recent call last):
        ...
        common_utils_platform.urls.URLPolicyError: DEVPI_URL must use https:// (plain http ...
    """
    shown = shown_url(url)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise URLPolicyError(f"{name} is not a valid URL: {shown!r}") from None
    if not _URL_SHAPE.match(url) or not parts.hostname:
        raise URLPolicyError(
            f"{name} must be an https URL such as https://devpi.example.internal, got {shown!r}"
        )
    if "@" in parts.netloc:
        raise URLPolicyError(
            f"{name} must not carry credentials (the password is a setting of its own), "
            f"got {shown!r}"
        )
    if parts.query or parts.fragment:
        raise URLPolicyError(f"{name} must not carry a query or fragment, got {shown!r}")
    if parts.scheme.lower() == "http" and not is_loopback(parts.hostname):
        raise URLPolicyError(
            f"{name} must use https:// (plain http only on loopback), got {shown!r}"
        )
    return url.rstrip("/")
