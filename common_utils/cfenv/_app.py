"""The running application: VCAP_APPLICATION and the CF_INSTANCE_* variables (private)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeAlias

from common_utils.cfenv._errors import CFEnvError
from common_utils.cfenv._json import Reader, load_object

__all__ = ["Application", "Limits", "env_value", "parse_application"]

_UINT = re.compile(r"[0-9]{1,9}")
_MEMORY = re.compile(r"([0-9]{1,9})\s*([MG])B?", re.IGNORECASE)

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address


def env_value(environ: Mapping[str, str], name: str) -> str | None:
    """Return the variable's value, None when unset or blank (12-factor 'unset')."""
    value = environ.get(name)
    return value if value is not None and value.strip() else None


@dataclass(frozen=True)
class Limits:
    """The app's resource limits from VCAP_APPLICATION ``limits`` (MB, MB, count).

    Examples:
        >>> from common_utils.cfenv import CFEnv
        >>> CFEnv(environ={"VCAP_APPLICATION": '{"limits": {"mem": 256}}'}).app.limits.mem
        256
    """

    mem: int | None = None
    disk: int | None = None
    fds: int | None = None


@dataclass(frozen=True)
class Application:
    """What Cloud Foundry says about the running app; every attribute is optional.

    Attributes come from VCAP_APPLICATION, except the instance figures:
    ``instance_index`` from CF_INSTANCE_INDEX, then INSTANCE_INDEX, then
    VCAP_APPLICATION ``instance_index`` (None when none is set, never a fake
    0); ``instance_guid`` from CF_INSTANCE_GUID, then INSTANCE_GUID, then
    ``instance_id``; ``instance_ip`` / ``instance_internal_ip`` from
    CF_INSTANCE_IP / CF_INSTANCE_INTERNAL_IP; ``memory_limit_mb`` from
    MEMORY_LIMIT (``512M``, ``1G``), else ``limits.mem``.

    Examples:
        >>> from common_utils.cfenv import CFEnv
        >>> app = CFEnv(environ={"VCAP_APPLICATION": '{"name": "orders", "space_name": "dev"}',
        ...     "CF_INSTANCE_INDEX": "2", "MEMORY_LIMIT": "1G"}).app
        >>> app.name, app.space_name, app.instance_index, app.memory_limit_mb
        ('orders', 'dev', 2, 1024)
    """

    name: str | None = None
    application_id: str | None = None
    application_name: str | None = None
    application_uris: tuple[str, ...] = ()
    application_version: str | None = None
    cf_api: str | None = None
    limits: Limits = field(default_factory=Limits)
    organization_id: str | None = None
    organization_name: str | None = None
    process_id: str | None = None
    process_type: str | None = None
    space_id: str | None = None
    space_name: str | None = None
    uris: tuple[str, ...] = ()
    version: str | None = None
    instance_index: int | None = None
    instance_guid: str | None = None
    instance_ip: IPAddress | None = None
    instance_internal_ip: IPAddress | None = None
    memory_limit_mb: int | None = None


def _instance_index(environ: Mapping[str, str], read: Reader) -> int | None:
    for var in ("CF_INSTANCE_INDEX", "INSTANCE_INDEX"):
        value = env_value(environ, var)
        if value is not None:
            if not _UINT.fullmatch(value.strip()):
                raise CFEnvError(f"{var} must be a non-negative integer")
            return int(value)
    index = read.opt_int("instance_index")
    if index is not None and index < 0:
        raise CFEnvError('VCAP_APPLICATION["instance_index"] must be a non-negative integer')
    return index


def _ip(environ: Mapping[str, str], var: str) -> IPAddress | None:
    value = env_value(environ, var)
    if value is None:
        return None
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        raise CFEnvError(f"{var} must be an IP address") from None


def _memory_limit_mb(environ: Mapping[str, str], limits: Limits) -> int | None:
    value = env_value(environ, "MEMORY_LIMIT")
    if value is None:
        return limits.mem
    match = _MEMORY.fullmatch(value.strip())
    if match is None:
        raise CFEnvError("MEMORY_LIMIT must be a size such as 512M or 1G")
    amount = int(match.group(1))
    return amount * 1024 if match.group(2).upper() == "G" else amount


def parse_application(environ: Mapping[str, str]) -> Application:
    """Build the Application from VCAP_APPLICATION and the instance variables."""
    text = env_value(environ, "VCAP_APPLICATION")
    read = Reader(load_object(text, "VCAP_APPLICATION") if text else {}, ("VCAP_APPLICATION",))
    limits_read = read.opt_object("limits")
    limits = (
        Limits(
            mem=limits_read.opt_int("mem"),
            disk=limits_read.opt_int("disk"),
            fds=limits_read.opt_int("fds"),
        )
        if limits_read
        else Limits()
    )
    guid = env_value(environ, "CF_INSTANCE_GUID") or env_value(environ, "INSTANCE_GUID")
    return Application(
        name=read.opt_str("name"),
        application_id=read.opt_str("application_id"),
        application_name=read.opt_str("application_name"),
        application_uris=read.str_tuple("application_uris"),
        application_version=read.opt_str("application_version"),
        cf_api=read.opt_str("cf_api"),
        limits=limits,
        organization_id=read.opt_str("organization_id"),
        organization_name=read.opt_str("organization_name"),
        process_id=read.opt_str("process_id"),
        process_type=read.opt_str("process_type"),
        space_id=read.opt_str("space_id"),
        space_name=read.opt_str("space_name"),
        uris=read.str_tuple("uris"),
        version=read.opt_str("version"),
        instance_index=_instance_index(environ, read),
        instance_guid=guid or read.opt_str("instance_id"),
        instance_ip=_ip(environ, "CF_INSTANCE_IP"),
        instance_internal_ip=_ip(environ, "CF_INSTANCE_INTERNAL_IP"),
        memory_limit_mb=_memory_limit_mb(environ, limits),
    )
