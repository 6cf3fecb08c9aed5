"""Read-only, secret-safe service credentials (private module; public name re-exported)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from common_utils.cfenv._errors import CFEnvError
from common_utils.cfenv._url import ServiceURL, parse_url

__all__ = ["Credentials"]

_INT = re.compile(r"[+-]?[0-9]{1,18}")
_INDEX = re.compile(r"[0-9]{1,9}")


def _freeze(value: Any, owner: str) -> Any:
    if isinstance(value, Mapping):
        return Credentials(value, owner=owner)
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(item, owner) for item in value)
    return value


class Credentials(Mapping[str, Any]):
    """A service's credentials: a read-only mapping whose repr shows keys only.

    Nested objects are Credentials too and arrays become tuples, so nothing
    inside can be changed. ``creds[key]`` and ``get(key)`` read one key, as
    on any mapping; `lookup` follows a dotted path into nested objects
    and arrays (``lookup("protocols.amqp.uri")``, ``lookup("uris.0")``), as
    do `get_int` and `get_url`. Values never appear in
    ``repr()``, ``str()`` or error messages.

    Args:
        data: The decoded ``credentials`` object (None means empty).

    Keyword Args:
        owner: The service name, used in error messages.

    Examples:
        >>> from common_utils.cfenv import Credentials
        >>> creds = Credentials({"port": "30773", "protocols": {"amqp": {"uri": "amqp://h"}}})
        >>> creds.lookup("protocols.amqp.uri"), creds.get_int("port")
        ('amqp://h', 30773)
        >>> creds.get("protocols.amqp.uri") is None  # get reads one key, like dict.get
        True
        >>> creds
        Credentials(keys=['port', 'protocols'])
    """

    __slots__ = ("_data", "_owner")

    def __init__(self, data: Mapping[str, Any] | None = None, *, owner: str = "") -> None:
        self._owner = owner
        self._data: dict[str, Any] = {
            key: _freeze(value, owner) for key, value in (data or {}).items()
        }

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"Credentials(keys={list(self._data)!r})"

    def _what(self, key: str) -> str:
        return f"credential {key!r} of service {self._owner!r}" if self._owner else repr(key)

    def lookup(self, path: str, default: Any = None) -> Any:
        """Return the value at the dotted ``path``, else ``default``.

        Each part names a key of an object or an index into an array; a key
        that itself contains dots is found first.

        Args:
            path: A path such as ``"protocols.amqp.uri"`` or ``"uris.0"``.
            default: Returned when nothing is found.

        Examples:
            >>> from common_utils.cfenv import Credentials
            >>> Credentials({"a": {"b": [{"c": 1}]}}).lookup("a.b.0.c")
            1
        """
        if path in self._data:
            return self._data[path]
        node: Any = self
        for part in path.split("."):
            if isinstance(node, Credentials) and part in node._data:
                node = node._data[part]
            elif isinstance(node, tuple) and _INDEX.fullmatch(part) and int(part) < len(node):
                node = node[int(part)]
            else:
                return default
        return node

    def get_int(self, key: str, default: int | None = None) -> int | None:
        """Return the integer at ``key`` or path (``30773`` or ``"30773"``), else ``default``.

        Raises:
            CFEnvError: The value is present but not an integer (the value is not shown).

        Examples:
            >>> from common_utils.cfenv import Credentials
            >>> Credentials({"ports": {"6379/tcp": "30773"}}).get_int("ports.6379/tcp")
            30773
        """
        value = self.lookup(key)
        if value is None:
            return default
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and _INT.fullmatch(value.strip()):
            return int(value.strip())
        raise CFEnvError(f"{self._what(key)} is not an integer")

    def get_url(self, key: str) -> ServiceURL | None:
        """Return the value at ``key`` or path parsed as a ServiceURL, None when absent.

        Raises:
            CFEnvError: The value is not a string or not a URL (the value is not shown).

        Examples:
            >>> from common_utils.cfenv import Credentials
            >>> Credentials({"jdbcUrl": "jdbc://h:1/x"}).get_url("jdbcUrl").port
            1
        """
        value = self.lookup(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise CFEnvError(f"{self._what(key)} must be a URL string")
        return parse_url(value, what=self._what(key))
