"""Exceptions raised by `common_utils.cfenv`."""

from __future__ import annotations

from common_utils.errors import ConfigurationError

__all__ = ["AmbiguousServiceError", "CFEnvError", "ServiceNotFoundError"]


class CFEnvError(ConfigurationError):
    """Signal a Cloud Foundry environment value that cannot be used.

    The message names the variable (and the JSON path inside it) but never the
    value, so it is safe to log.

    Examples:
        >>> from common_utils.cfenv import CFEnv, CFEnvError
        >>> try:
        ...     CFEnv(environ={"PORT": "abc"})
        ... except CFEnvError as ex:
        ...     print(ex)
        PORT must be an integer in 1..65535
    """


class ServiceNotFoundError(CFEnvError, LookupError):
    """Signal that no bound service matches a lookup.

    Attributes:
        criteria: The lookup as text, for example ``"tag='postgres'"``.
        available: The names of all bound services.

    Examples:
        >>> from common_utils.cfenv import CFEnv, ServiceNotFoundError
        >>> try:
        ...     CFEnv(environ={}).service(tag="postgres")
        ... except ServiceNotFoundError as ex:
        ...     print(ex.criteria)
        tag='postgres'
    """

    def __init__(self, criteria: str, available: tuple[str, ...]) -> None:
        self.criteria = criteria
        self.available = available
        bound = ", ".join(repr(n) for n in available) if available else "none"
        super().__init__(f"no bound service matches {criteria}; bound services: {bound}")


class AmbiguousServiceError(CFEnvError, LookupError):
    """Signal that a lookup meant to find one service found several.

    Attributes:
        criteria: The lookup as text, for example ``"label='user-provided'"``.
        candidates: The names of the matching services, in document order.

    Examples:
        >>> from common_utils.cfenv import AmbiguousServiceError, CFEnv
        >>> env = CFEnv(environ={"VCAP_SERVICES": '{"x": [{"name": "a"}, {"name": "b"}]}'})
        >>> try:
        ...     env.service(label="x")
        ... except AmbiguousServiceError as ex:
        ...     print(ex.candidates)
        ('a', 'b')
    """

    def __init__(self, criteria: str, candidates: tuple[str, ...]) -> None:
        self.criteria = criteria
        self.candidates = candidates
        names = ", ".join(repr(n) for n in candidates)
        super().__init__(
            f"{len(candidates)} bound services match {criteria}: {names}; "
            "narrow the lookup (for example with name=)"
        )
