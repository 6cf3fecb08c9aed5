"""CFEnv: the whole Cloud Foundry environment, parsed once (private module)."""

from __future__ import annotations

import enum
import logging
import os
import re
from collections.abc import Mapping

from common_utils.cfenv._app import Application, env_value, parse_application
from common_utils.cfenv._errors import AmbiguousServiceError, CFEnvError, ServiceNotFoundError
from common_utils.cfenv._service import (
    Service,
    load_binding_root,
    load_vcap_file,
    load_vcap_text,
)

__all__ = ["BindingSource", "CFEnv"]

_LOG = logging.getLogger("common_utils.cfenv")
_PORT = re.compile(r"[0-9]{1,5}")
_warned_vcap_app_port = False  # the deprecation is logged once per process


class BindingSource(str, enum.Enum):
    """How the platform delivered the service bindings (first one set wins).

    Examples:
        >>> from common_utils.cfenv import BindingSource, CFEnv
        >>> CFEnv(environ={}).binding_source is BindingSource.NONE
        True
    """

    VCAP_SERVICES = "VCAP_SERVICES"
    VCAP_SERVICES_FILE_PATH = "VCAP_SERVICES_FILE_PATH"
    SERVICE_BINDING_ROOT = "SERVICE_BINDING_ROOT"
    NONE = "none"

    def __str__(self) -> str:
        return self.value


def _parse_port(environ: Mapping[str, str], default: int) -> int:
    global _warned_vcap_app_port  # one process-wide "warned" flag
    for var in ("PORT", "VCAP_APP_PORT"):
        value = env_value(environ, var)
        if value is None:
            continue
        if var == "VCAP_APP_PORT" and not _warned_vcap_app_port:
            _warned_vcap_app_port = True
            _LOG.warning("VCAP_APP_PORT is deprecated; the platform should set PORT")
        value = value.strip()
        if not _PORT.fullmatch(value) or not 0 < int(value) <= 65535:
            raise CFEnvError(f"{var} must be an integer in 1..65535")
        return int(value)
    return default


def _load_services(environ: Mapping[str, str]) -> tuple[BindingSource, tuple[Service, ...]]:
    text = env_value(environ, "VCAP_SERVICES")
    if text is not None:
        return BindingSource.VCAP_SERVICES, load_vcap_text(text, "VCAP_SERVICES")
    path = env_value(environ, "VCAP_SERVICES_FILE_PATH")
    if path is not None:
        return BindingSource.VCAP_SERVICES_FILE_PATH, load_vcap_file(path)
    root = env_value(environ, "SERVICE_BINDING_ROOT")
    if root is not None:
        return BindingSource.SERVICE_BINDING_ROOT, load_binding_root(root)
    return BindingSource.NONE, ()


def _describe(name: object, label: object, tag: object) -> str:
    parts = []
    for key, value in (("name", name), ("label", label), ("tag", tag)):
        if isinstance(value, re.Pattern):
            parts.append(f"{key}=re.compile({value.pattern!r})")
        elif value is not None:
            parts.append(f"{key}={value!r}")
    return ", ".join(parts) or "no criteria"


def _matches(value: str | None, criterion: str | re.Pattern[str]) -> bool:
    if value is None:
        return False
    if isinstance(criterion, str):
        return value == criterion
    return criterion.fullmatch(value) is not None


def _tag_matches(tags: tuple[str, ...], criterion: str | re.Pattern[str]) -> bool:
    if isinstance(criterion, str):
        wanted = criterion.casefold()
        return any(tag.casefold() == wanted for tag in tags)
    return any(criterion.fullmatch(tag) is not None for tag in tags)


def _check_criterion(key: str, value: object) -> None:
    if value is not None and not isinstance(value, (str, re.Pattern)):
        raise TypeError(f"{key}= must be a str or a compiled re.Pattern")


class CFEnv:
    """Read the Cloud Foundry environment once: app, port and bound services.

    Everything is parsed and validated at construction; a bad value raises one
    CFEnvError naming the variable (and JSON path), never showing the value.
    Lookups afterwards do not parse again.

    Services come from the first delivery method set: VCAP_SERVICES, then the
    JSON file named by VCAP_SERVICES_FILE_PATH, then the servicebinding.io
    directory tree under SERVICE_BINDING_ROOT. A blank variable counts as unset.

    Args:
        environ: The variables to read; ``os.environ`` when None.

    Keyword Args:
        default_port: The port when neither PORT nor VCAP_APP_PORT is set.

    Raises:
        CFEnvError: A variable is set but unusable.

    Examples:
        >>> from common_utils.cfenv import CFEnv
        >>> env = CFEnv(environ={})  # local development: nothing set
        >>> env.on_cloud_foundry, env.port, env.services()
        (False, 8080, ())
        >>> CFEnv(environ={"PORT": "61001"}, default_port=5000).port
        61001
    """

    __slots__ = ("_app", "_on_cf", "_port", "_services", "_source")

    def __init__(
        self, environ: Mapping[str, str] | None = None, *, default_port: int = 8080
    ) -> None:
        if isinstance(default_port, bool) or not isinstance(default_port, int):
            raise TypeError("default_port must be an int")
        if not 0 < default_port <= 65535:
            raise CFEnvError("default_port must be an integer in 1..65535")
        env = os.environ if environ is None else environ
        self._on_cf = env_value(env, "VCAP_APPLICATION") is not None
        self._app = parse_application(env)
        self._port = _parse_port(env, default_port)
        self._source, self._services = _load_services(env)

    @property
    def on_cloud_foundry(self) -> bool:
        """Return True when VCAP_APPLICATION is set.

        Examples:
            >>> from common_utils.cfenv import CFEnv
            >>> CFEnv(environ={"VCAP_APPLICATION": "{}"}).on_cloud_foundry
            True
        """
        return self._on_cf

    @property
    def port(self) -> int:
        """Return PORT, else VCAP_APP_PORT (deprecated, logged once), else the default.

        CF_INSTANCE_PORT is never used: it is the host-side port.

        Examples:
            >>> from common_utils.cfenv import CFEnv
            >>> CFEnv(environ={"PORT": "8081", "CF_INSTANCE_PORT": "61001"}).port
            8081
        """
        return self._port

    @property
    def app(self) -> Application:
        """Return the running application's attributes.

        Examples:
            >>> from common_utils.cfenv import CFEnv
            >>> CFEnv(environ={"VCAP_APPLICATION": '{"name": "orders"}'}).app.name
            'orders'
        """
        return self._app

    @property
    def binding_source(self) -> BindingSource:
        """Return the delivery method the services were read from.

        Examples:
            >>> from common_utils.cfenv import CFEnv
            >>> str(CFEnv(environ={"VCAP_SERVICES": "{}"}).binding_source)
            'VCAP_SERVICES'
        """
        return self._source

    def services(
        self,
        *,
        name: str | re.Pattern[str] | None = None,
        label: str | re.Pattern[str] | None = None,
        tag: str | re.Pattern[str] | None = None,
    ) -> tuple[Service, ...]:
        """Return every bound service matching all the given criteria, in document order.

        ``name`` matches the name, binding name or instance name. Strings match
        exactly, tags case-insensitively; a compiled ``re.Pattern`` must match
        the whole value (``fullmatch``). No criteria returns every service.

        Keyword Args:
            name: Service, binding or instance name.
            label: Service label (offering), e.g. ``"user-provided"``.
            tag: One of the service's tags.

        Examples:
            >>> import re
            >>> from common_utils.cfenv import CFEnv
            >>> env = CFEnv(environ={"VCAP_SERVICES": '{"user-provided": [{"name": "a"},'
            ...     ' {"name": "b"}], "redis": [{"name": "c"}]}'})
            >>> [s.name for s in env.services(label="user-provided")]
            ['a', 'b']
            >>> [s.name for s in env.services(name=re.compile("[bc]"))]
            ['b', 'c']
        """
        for key, value in (("name", name), ("label", label), ("tag", tag)):
            _check_criterion(key, value)
        return tuple(
            service
            for service in self._services
            if (
                name is None
                or any(
                    _matches(value, name)
                    for value in (service.name, service.binding_name, service.instance_name)
                )
            )
            and (label is None or _matches(service.label, label))
            and (tag is None or _tag_matches(service.tags, tag))
        )

    def service(
        self,
        *,
        name: str | re.Pattern[str] | None = None,
        label: str | re.Pattern[str] | None = None,
        tag: str | re.Pattern[str] | None = None,
    ) -> Service:
        """Return the one bound service matching all the given criteria.

        Criteria work as in `services`.

        Raises:
            ServiceNotFoundError: Nothing matches.
            AmbiguousServiceError: Several match; the error lists their names.

        Examples:
            >>> from common_utils.cfenv import CFEnv
            >>> env = CFEnv(environ={"VCAP_SERVICES":
            ...     '{"elephantsql": [{"name": "db", "tags": ["Postgres"]}]}'})
            >>> env.service(tag="postgres").name
            'db'
        """
        found = self.services(name=name, label=label, tag=tag)
        if len(found) == 1:
            return found[0]
        criteria = _describe(name, label, tag)
        if not found:
            raise ServiceNotFoundError(criteria, tuple(s.name for s in self._services))
        raise AmbiguousServiceError(criteria, tuple(s.name for s in found))

    def __repr__(self) -> str:
        return (
            f"CFEnv(on_cloud_foundry={self._on_cf}, app={self._app.name!r}, port={self._port}, "
            f"binding_source={self._source.value!r}, "
            f"services={[s.name for s in self._services]!r})"
        )
