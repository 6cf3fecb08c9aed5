"""Structured, secret-safe service URLs (private module; public names re-exported)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import NamedTuple
from urllib.parse import parse_qs, unquote

from common_utils.cfenv._errors import CFEnvError

__all__ = ["HostPort", "ServiceURL", "parse_url"]

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")
_PORT = re.compile(r"[0-9]{1,5}")
_MASK = "***"


class HostPort(NamedTuple):
    """One ``host[:port]`` of a (possibly multi-host) service URL.

    Examples:
        >>> from common_utils.cfenv import HostPort
        >>> HostPort("db.example.com", 5432).port
        5432
    """

    host: str
    port: int | None


@dataclass(frozen=True, repr=False)
class ServiceURL:
    """A parsed service URL: scheme, credentials, hosts, path; password never shown.

    Username, password and path are percent-decoded. A multi-host URL
    (``mongodb://u:p@h1:27017,h2:27017/db``) keeps every host in ``hosts``;
    ``hostname`` and ``port`` are those of the first one. ``repr()`` and
    ``str()`` show the password as ``***`` and hide query values; ``geturl()``
    returns the original text for handing to a driver.

    Examples:
        >>> from common_utils.cfenv import ServiceURL
        >>> url = ServiceURL.parse("postgres://app:p%40ss@db.example.com:5432/orders")
        >>> url.hostname, url.port, url.password, url.path
        ('db.example.com', 5432, 'p@ss', '/orders')
        >>> str(url)
        'postgres://app:***@db.example.com:5432/orders'
    """

    scheme: str
    username: str | None
    password: str | None
    hosts: tuple[HostPort, ...]
    path: str
    query: str = ""
    fragment: str = ""
    _raw: str = field(default="", compare=False)

    @classmethod
    def parse(cls, text: str) -> ServiceURL:
        """Parse ``text`` into a ServiceURL or raise CFEnvError (never showing the text).

        Examples:
            >>> from common_utils.cfenv import ServiceURL
            >>> ServiceURL.parse("mongodb://h1:27017,h2/db").hosts[1]
            HostPort(host='h2', port=None)
        """
        return parse_url(text, what="URL")

    @property
    def hostname(self) -> str | None:
        """Return the first host, or None for a URL without one.

        Examples:
            >>> from common_utils.cfenv import ServiceURL
            >>> ServiceURL.parse("redis://:pw@cache:6379").hostname
            'cache'
        """
        return self.hosts[0].host if self.hosts else None

    @property
    def port(self) -> int | None:
        """Return the first host's port, or None when the URL gives none.

        Examples:
            >>> from common_utils.cfenv import ServiceURL
            >>> ServiceURL.parse("redis://:pw@cache:6379").port
            6379
        """
        return self.hosts[0].port if self.hosts else None

    @property
    def params(self) -> dict[str, list[str]]:
        """Return the decoded query parameters.

        Examples:
            >>> from common_utils.cfenv import ServiceURL
            >>> ServiceURL.parse("postgres://h/db?sslmode=require").params
            {'sslmode': ['require']}
        """
        return parse_qs(self.query, keep_blank_values=True)

    def geturl(self) -> str:
        """Return the original URL text, secrets included (for drivers only).

        Examples:
            >>> from common_utils.cfenv import ServiceURL
            >>> ServiceURL.parse("redis://:pw@cache:6379").geturl()
            'redis://:pw@cache:6379'
        """
        return self._raw

    def __str__(self) -> str:
        userinfo = ""
        if self.username is not None or self.password is not None:
            userinfo = self.username or ""
            if self.password is not None:
                userinfo += ":" + _MASK
            userinfo += "@"
        hosts = ",".join(_format_host(hp) for hp in self.hosts)
        query = ""
        if self.query:
            query = "?" + "&".join(f"{key}={_MASK}" for key in self.params)
        return f"{self.scheme}://{userinfo}{hosts}{self.path}{query}"

    def __repr__(self) -> str:
        password = None if self.password is None else _MASK
        return (
            f"ServiceURL(scheme={self.scheme!r}, username={self.username!r}, "
            f"password={password!r}, hosts={self.hosts!r}, path={self.path!r})"
        )


def _format_host(hp: HostPort) -> str:
    host = f"[{hp.host}]" if ":" in hp.host else hp.host
    return host if hp.port is None else f"{host}:{hp.port}"


def _parse_host(text: str, what: str) -> HostPort:
    if text.startswith("["):
        end = text.find("]")
        if end == -1:
            raise CFEnvError(f"{what} has an unterminated IPv6 host")
        host, rest = text[1:end], text[end + 1 :]
        if rest and not rest.startswith(":"):
            raise CFEnvError(f"{what} has an invalid host")
        port_text = rest[1:]
    else:
        host, _, port_text = text.partition(":")
    if not port_text:
        return HostPort(host.lower(), None)
    if not _PORT.fullmatch(port_text) or not 0 < int(port_text) <= 65535:
        raise CFEnvError(f"{what} has an invalid port")
    return HostPort(host.lower(), int(port_text))


def parse_url(text: str, *, what: str) -> ServiceURL:
    """Parse ``text``; errors name ``what`` (e.g. "credential 'uri' of service 'db'")."""
    scheme, sep, rest = text.partition("://")
    if not sep or not _SCHEME.fullmatch(scheme):
        raise CFEnvError(f"{what} is not a URL (expected scheme://...)")
    cut = min((i for i in (rest.find(c) for c in "/?#") if i != -1), default=len(rest))
    netloc, tail = rest[:cut], rest[cut:]
    tail, _, fragment = tail.partition("#")
    path, _, query = tail.partition("?")
    userinfo, at, hostlist = netloc.rpartition("@")
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username = unquote(user)
        password = unquote(secret) if colon else None
    hosts = tuple(_parse_host(h, what) for h in hostlist.split(",")) if hostlist else ()
    return ServiceURL(
        scheme=scheme.lower(),
        username=username,
        password=password,
        hosts=hosts,
        path=unquote(path),
        query=query,
        fragment=fragment,
        _raw=text,
    )
