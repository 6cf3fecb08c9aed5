"""Builders for the documents Cloud Foundry hands an app: VCAP_* and binding files."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["service_entry", "vcap_application", "vcap_services", "write_binding_root"]


def service_entry(
    name: str,
    *,
    label: str = "user-provided",
    tags: Iterable[str] = (),
    credentials: Mapping[str, Any] | None = None,
    plan: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Return one service binding as Cloud Foundry writes it into ``VCAP_SERVICES``.

    Args:
        name: The binding name (``cf bind-service --binding-name``, else the
            instance name).
        label: The service offering; ``user-provided`` for a CUPS.
        tags: The tags services are usually found by.
        credentials: The binding's credentials.
        plan: The plan of a managed service (user-provided services have none).
        **fields: Any other member (``instance_name``, ``binding_guid``,
            ``volume_mounts``, ...).

    Examples:
        >>> service_entry("orders-db", label="postgres", plan="small",
        ...               credentials={"uri": "postgres://db.internal/orders"})["plan"]
        'small'
    """
    entry: dict[str, Any] = {
        "name": name,
        "instance_name": name,
        "binding_name": name,
        "label": label,
        "tags": list(tags),
        "credentials": dict(credentials or {}),
    }
    if plan is not None:
        entry["plan"] = plan
    entry.update(fields)
    return entry


def vcap_services(*services: Mapping[str, Any]) -> str:
    """Return a ``VCAP_SERVICES`` value holding ``services``, grouped by label.

    Examples:
        >>> vcap_services(service_entry("cache", label="redis"))
        '{"redis": [{"name": "cache", "instance_name": "cache", "binding_name": "cache", \
"label": "redis", "tags": [], "credentials": {}}]}'
    """
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for service in services:
        grouped.setdefault(str(service["label"]), []).append(service)
    return json.dumps(grouped)


def vcap_application(
    name: str = "test-app",
    *,
    space_name: str = "test",
    organization_name: str = "test-org",
    uris: Iterable[str] = (),
    **fields: Any,
) -> str:
    """Return a ``VCAP_APPLICATION`` value with the members apps commonly read.

    Args:
        name: The application name.
        space_name: The space it runs in.
        organization_name: Its organization.
        uris: The routes mapped to it; ``<name>.apps.test`` by default.
        **fields: Other members, or overrides (``instance_index``, ``limits``,
            ``cf_api``, ...).
    """
    app_id = str(uuid.uuid4())
    routes = list(uris) or [f"{name}.apps.test"]
    document: dict[str, Any] = {
        "application_id": app_id,
        "application_name": name,
        "application_uris": routes,
        "application_version": str(uuid.uuid4()),
        "cf_api": "https://api.test",
        "instance_index": 0,
        "limits": {"disk": 1024, "fds": 16384, "mem": 256},
        "name": name,
        "organization_id": str(uuid.uuid4()),
        "organization_name": organization_name,
        "process_id": app_id,
        "process_type": "web",
        "space_id": str(uuid.uuid4()),
        "space_name": space_name,
        "uris": routes,
    }
    document.update(fields)
    return json.dumps(document)


def write_binding_root(root: str | os.PathLike[str], *services: Mapping[str, Any]) -> Path:
    """Write ``services`` as a servicebinding.io tree under ``root`` and return it.

    Each service becomes ``root/<name>/`` with a ``type`` file (its label), a
    ``provider`` file when the entry has one, and one file per credential
    (objects and arrays as JSON). Point ``SERVICE_BINDING_ROOT`` at the result.

    Examples:
        >>> import tempfile
        >>> from common_utils.cfenv import CFEnv
        >>> root = write_binding_root(tempfile.mkdtemp(), service_entry(
        ...     "cache", label="redis", credentials={"host": "10.0.0.7", "port": 6379}))
        >>> CFEnv(environ={"SERVICE_BINDING_ROOT": str(root)}).service(label="redis").credentials["host"]
        '10.0.0.7'
    """  # noqa: E501
    base = Path(root)
    for service in services:
        directory = base / str(service["name"])
        directory.mkdir(parents=True, exist_ok=False)
        (directory / "type").write_text(str(service["label"]), encoding="utf-8")
        if service.get("provider") is not None:
            (directory / "provider").write_text(str(service["provider"]), encoding="utf-8")
        for key, value in dict(service.get("credentials") or {}).items():
            text = value if isinstance(value, str) else json.dumps(value)
            (directory / key).write_text(text, encoding="utf-8")
    return base
