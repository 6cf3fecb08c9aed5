"""Questions the release pipeline asks another interpreter (the verify virtualenv's).

Run as a script by that interpreter, never imported there (it has only the
standard library and what the release installed)::

    VENV/bin/python -I .../common_utils_platform/probes.py environment
    VENV/bin/python -I .../common_utils_platform/probes.py purelib
    VENV/bin/python -I .../common_utils_platform/probes.py library common_utils

Each prints one JSON document on stdout: `environment` gives ``sys.path`` (where
the installed distributions are), the platform and the PEP 508 marker
environment; `purelib` the site-packages directory; `library` the version and
file of the module it imports. Standard library only, Python 3.10+.

Example:
    >>> sorted(environment()["env"])[:3]
    ['implementation_name', 'implementation_version', 'os_name']
    >>> library("json")["file"].endswith("__init__.py")
    True
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import sys
import sysconfig
from collections.abc import Callable
from typing import Any

__all__ = ["environment", "library", "main", "purelib"]


def environment() -> dict[str, Any]:
    """Return this interpreter's ``sys.path``, platform and PEP 508 marker environment."""
    impl = sys.implementation
    version = impl.version
    full = f"{version.major}.{version.minor}.{version.micro}"
    if version.releaselevel != "final":
        full += f"{version.releaselevel[0]}{version.serial}"
    libc = " ".join(platform.libc_ver()).strip()
    return {
        "path": sys.path,
        "platform": f"{sys.platform} {platform.machine()}" + (f" ({libc})" if libc else ""),
        "env": {
            "implementation_name": impl.name,
            "implementation_version": full,
            "os_name": os.name,
            "platform_machine": platform.machine(),
            "platform_release": platform.release(),
            "platform_system": platform.system(),
            "platform_version": platform.version(),
            "python_full_version": platform.python_version(),
            "platform_python_implementation": platform.python_implementation(),
            "python_version": ".".join(platform.python_version_tuple()[:2]),
            "sys_platform": sys.platform,
        },
    }


def purelib() -> dict[str, Any]:
    """Return the directory pure-Python distributions are installed into."""
    return {"purelib": sysconfig.get_path("purelib")}


def library(name: str) -> dict[str, Any]:
    """Import ``name``; return its ``__version__`` (or ``None``) and its file."""
    module = importlib.import_module(name)
    return {"version": getattr(module, "__version__", None), "file": module.__file__}


def main(argv: list[str]) -> int:
    """Answer the question ``argv[0]`` (with ``argv[1:]``) as one JSON line on stdout."""
    questions: dict[str, Callable[..., dict[str, Any]]] = {
        "environment": environment,
        "purelib": purelib,
        "library": library,
    }
    if not argv or argv[0] not in questions:
        print(f"usage: probes.py {{{','.join(questions)}}} [ARG]", file=sys.stderr)
        return 2
    print(json.dumps(questions[argv[0]](*argv[1:])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
