"""Shared building blocks for Falcon microservices on Cloud Foundry.

Importing this package is cheap on purpose: it only works out ``__version__``.
Each feature lives in its own module (``cfenv``, ``auth``, ``validation``,
``logs``, ``openapi``, ``resources``) and pulls in its dependencies only when
that module is imported.
"""

from __future__ import annotations

__all__ = ["__version__"]


def _find_version() -> str:
    # NOTE: the generated file belongs to this very copy of the package, so an
    # installed wheel or an editable install reports its own version; raw source
    # (a git submodule on sys.path) has no such file and asks git instead.
    try:
        from common_utils._version import version
    except ImportError:
        from common_utils._scm import version_from_git

        return version_from_git()
    return str(version)


__version__: str = _find_version()
