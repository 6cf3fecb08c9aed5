"""Cloud Foundry environment: VCAP_APPLICATION, VCAP_SERVICES, file bindings and PORT.

Examples:
    >>> from common_utils.cfenv import CFEnv
    >>> env = CFEnv(environ={"VCAP_APPLICATION": '{"name": "orders"}', "PORT": "8080"})
    >>> env.app.name, env.port
    ('orders', 8080)
"""

from __future__ import annotations

from common_utils.cfenv._app import Application, Limits
from common_utils.cfenv._credentials import Credentials
from common_utils.cfenv._env import BindingSource, CFEnv
from common_utils.cfenv._errors import AmbiguousServiceError, CFEnvError, ServiceNotFoundError
from common_utils.cfenv._service import Service
from common_utils.cfenv._url import HostPort, ServiceURL

__all__ = [
    "AmbiguousServiceError",
    "Application",
    "BindingSource",
    "CFEnv",
    "CFEnvError",
    "Credentials",
    "HostPort",
    "Limits",
    "Service",
    "ServiceNotFoundError",
    "ServiceURL",
]
