"""Bound services and the three ways Cloud Foundry delivers them (private module)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any

from common_utils.cfenv._credentials import Credentials
from common_utils.cfenv._errors import CFEnvError
from common_utils.cfenv._json import Reader, format_path, key_path, load_object, type_name
from common_utils.cfenv._url import ServiceURL

__all__ = ["Service", "load_binding_root", "load_vcap_file", "load_vcap_text"]

# servicebinding.io reserved entries: metadata, not credentials.
_RESERVED = ("type", "provider")


@dataclass(frozen=True, repr=False)
class Service:
    """One bound service instance, immutable.

    ``name`` is the binding's name in VCAP_SERVICES (or the directory name of a
    servicebinding.io binding). ``credentials`` is a read-only mapping
    (missing or null credentials are empty). ``repr()`` and ``str()`` show no
    credential value.

    Examples:
        >>> from common_utils.cfenv import CFEnv
        >>> env = CFEnv(environ={"VCAP_SERVICES": '{"redis": [{"name": "cache",'
        ...     ' "tags": ["redis"], "credentials": {"uri": "redis://:pw@h:6379"}}]}'})
        >>> cache = env.service(tag="redis")
        >>> cache.label, cache.uri.port, cache.credentials["uri"].startswith("redis")
        ('redis', 6379, True)
        >>> cache
        Service(name='cache', label='redis', tags=('redis',), plan=None, credentials=['uri'])
    """

    name: str
    label: str
    tags: tuple[str, ...] = ()
    binding_name: str | None = None
    instance_name: str | None = None
    plan: str | None = None
    provider: str | None = None
    binding_guid: str | None = None
    instance_guid: str | None = None
    syslog_drain_url: str | None = None
    volume_mounts: tuple[Mapping[str, Any], ...] = field(default=(), hash=False)
    credentials: Credentials = field(default_factory=Credentials, hash=False)

    def __repr__(self) -> str:
        return (
            f"Service(name={self.name!r}, label={self.label!r}, tags={self.tags!r}, "
            f"plan={self.plan!r}, credentials={list(self.credentials)!r})"
        )

    @cached_property
    def uri(self) -> ServiceURL:
        """Return the parsed ``uri`` credential (else ``url``, else the first of ``uris``).

        Raises:
            CFEnvError: The service has none of them, or it is not a URL.

        Examples:
            >>> from common_utils.cfenv import Credentials, Service
            >>> db = Service(name="db", label="pg",
            ...     credentials=Credentials({"uri": "postgres://u:p%40ss@h:5432/orders"}))
            >>> db.uri.hostname, db.uri.password
            ('h', 'p@ss')
        """
        for key in ("uri", "url", "uris.0"):
            url = self.credentials.get_url(key)
            if url is not None:
                return url
        raise CFEnvError(f"service {self.name!r} has no 'uri', 'url' or 'uris' credential")

    @cached_property
    def uris(self) -> tuple[ServiceURL, ...]:
        """Return every URL of the ``uris`` credential, else ``(uri,)``, else ``()``.

        Examples:
            >>> from common_utils.cfenv import Credentials, Service
            >>> bus = Service(name="bus", label="mq",
            ...     credentials=Credentials({"uris": ["amqp://a/vh", "amqp://b/vh"]}))
            >>> [u.hostname for u in bus.uris]
            ['a', 'b']
        """
        many = self.credentials.get("uris")
        if isinstance(many, tuple):
            return tuple(
                url
                for i in range(len(many))
                if (url := self.credentials.get_url(f"uris.{i}")) is not None
            )
        if many is not None:
            raise CFEnvError(f"credential 'uris' of service {self.name!r} must be an array")
        try:
            return (self.uri,)
        except CFEnvError:
            if "uri" in self.credentials or "url" in self.credentials:
                raise
            return ()


def _credentials(value: object, parts: tuple[str | int, ...], owner: str) -> Credentials:
    if value is None:
        return Credentials(owner=owner)
    path = (*parts, "credentials")
    if not isinstance(value, dict):
        raise CFEnvError(f"{format_path(path)} must be an object, got {type_name(value)}")
    try:
        return Credentials(value, owner=owner)
    except RecursionError:
        raise CFEnvError(f"{format_path(path)} is nested too deeply") from None


def _volume_mounts(value: object, parts: tuple[str | int, ...]) -> tuple[Mapping[str, Any], ...]:
    if value is None:
        return ()
    path = (*parts, "volume_mounts")
    if not isinstance(value, list):
        raise CFEnvError(f"{format_path(path)} must be an array of objects, got {type_name(value)}")
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise CFEnvError(f"{format_path((*path, i))} must be an object, got {type_name(item)}")
    return tuple(MappingProxyType(dict(item)) for item in value)


def _service_from_json(entry: dict[str, Any], label: str, parts: tuple[str | int, ...]) -> Service:
    read = Reader(entry, parts)
    binding_name = read.opt_str("binding_name")
    instance_name = read.opt_str("instance_name")
    name = read.opt_str("name") or binding_name or instance_name
    if not name:
        path = format_path(parts)
        raise CFEnvError(f'{path} has no "name", "binding_name" or "instance_name"')
    return Service(
        name=name,
        label=read.opt_str("label") or label,
        tags=read.str_tuple("tags"),
        binding_name=binding_name,
        instance_name=instance_name,
        plan=read.opt_str("plan"),
        provider=read.opt_str("provider"),
        binding_guid=read.opt_str("binding_guid"),
        instance_guid=read.opt_str("instance_guid"),
        syslog_drain_url=read.opt_str("syslog_drain_url"),
        volume_mounts=_volume_mounts(entry.get("volume_mounts"), parts),
        credentials=_credentials(entry.get("credentials"), parts, name),
    )


def load_vcap_text(text: str, where: str) -> tuple[Service, ...]:
    """Parse a VCAP_SERVICES document; errors name ``where`` and the JSON path."""
    doc = load_object(text, where)
    services: list[Service] = []
    for label, entries in doc.items():
        if not isinstance(entries, list):
            path = key_path(where, label)
            raise CFEnvError(f"{path} must be an array of services, got {type_name(entries)}")
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict):
                path = format_path((where, label, i))
                raise CFEnvError(f"{path} must be an object, got {type_name(entry)}")
            services.append(_service_from_json(entry, label, (where, label, i)))
    return tuple(services)


def _os_reason(ex: OSError) -> str:
    return ex.strerror or type(ex).__name__


def load_vcap_file(file_path: str) -> tuple[Service, ...]:
    """Read VCAP_SERVICES JSON from the file VCAP_SERVICES_FILE_PATH names."""
    where = f"VCAP_SERVICES_FILE_PATH ({file_path})"
    try:
        with open(file_path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as ex:
        raise CFEnvError(f"{where} cannot be read: {_os_reason(ex)}") from None
    except UnicodeDecodeError:
        raise CFEnvError(f"{where} is not UTF-8 text") from None
    return load_vcap_text(text, where)


def _entry_value(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw  # binary entries (keystores) stay bytes
    text = text.removesuffix("\n").removesuffix("\r")
    if text[:1] in ("{", "["):
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            return text
    return text


def _load_binding(directory: str, name: str, where: str) -> Service:
    values: dict[str, Any] = {}
    for key in sorted(os.listdir(directory)):
        path = os.path.join(directory, key)
        if key.startswith(".") or os.path.isdir(path):
            continue  # Kubernetes' ..data / ..<timestamp> bookkeeping
        try:
            with open(path, "rb") as fh:
                values[key] = _entry_value(fh.read())
        except OSError as ex:
            raise CFEnvError(f"{where}/{name}/{key} cannot be read: {_os_reason(ex)}") from None
    label, provider = (values.pop(key, None) for key in _RESERVED)
    if not isinstance(label, str) or not label:
        raise CFEnvError(f"{where}/{name} needs a non-empty 'type' entry")
    if provider is not None and not isinstance(provider, str):
        raise CFEnvError(f"{where}/{name}/provider must be text")
    try:
        credentials = Credentials(values, owner=name)
    except RecursionError:
        raise CFEnvError(f"{where}/{name} has an entry nested too deeply") from None
    return Service(
        name=name, label=label, binding_name=name, provider=provider, credentials=credentials
    )


def load_binding_root(root: str) -> tuple[Service, ...]:
    """Read servicebinding.io bindings: one directory per binding, one file per key."""
    where = f"SERVICE_BINDING_ROOT ({root})"
    try:
        names = sorted(os.listdir(root))
    except OSError as ex:
        raise CFEnvError(f"{where} cannot be read: {_os_reason(ex)}") from None
    return tuple(
        _load_binding(os.path.join(root, name), name, where)
        for name in names
        if not name.startswith(".") and os.path.isdir(os.path.join(root, name))
    )
