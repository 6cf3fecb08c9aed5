"""The one base class of the library's configuration errors.

Every setting the library validates at start-up (environment variables,
service bindings, constructor arguments) is refused with a subclass of
`ConfigurationError`, so a service stops on one ``except`` clause with
one clear line: `CFEnvError`,
`AuthConfigError`,
`LoggingConfigError` and the configuration errors of
``common_utils.openapi`` and ``common_utils.validation``.

Examples:
    >>> from common_utils.cfenv import CFEnv
    >>> from common_utils.errors import ConfigurationError
    >>> try:
    ...     CFEnv(environ={"PORT": "abc"})
    ... except ConfigurationError as ex:
    ...     print(f"configuration error: {ex}")
    configuration error: PORT must be an integer in 1..65535
"""

from __future__ import annotations

__all__ = ["ConfigurationError"]


class ConfigurationError(ValueError):
    """Refuse a setting the service cannot start with.

    The message names the setting (a variable, a credential, an argument) and
    never shows a secret value, so it is safe to print and log as it is.
    A ``ValueError``, so code that caught ``ValueError`` keeps working.
    """
