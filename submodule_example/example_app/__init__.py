"""The sample service: the talk's Falcon app, grown up on common_utils.

Importing this package does two things and nothing else:

1. When ``<service root>/submodules/common_utils`` exists (the git submodule
   approach), it is inserted at the FRONT of ``sys.path``. The pinned
   submodule therefore always wins over a copy of common-utils that happens to
   be installed in the same environment: which code runs is decided by the
   commit the service pins, not by what some earlier ``pip install`` left
   behind. ``/version`` and a start-up warning report such a shadowed copy.
2. It exposes the WSGI callable ``app`` and the ASGI callable ``asgi_app``
   lazily (PEP 562): the application is built from ``os.environ`` on first
   access of ``example_app.app`` (what uWSGI's ``--module example_app:app`` and
   gunicorn's ``example_app:app`` do) or ``example_app.asgi_app`` (uvicorn's
   ``example_app:asgi_app``), so tests can import
   :func:`example_app.app.create_app` and build apps from their own environment.

uWSGI looks the callable up in the module's ``__dict__`` (not with
``getattr``), so it cannot see a PEP 562 attribute: ``uwsgi.ini`` names
``example_app.wsgi:app``, a one-line module that imports this same object.
gunicorn, waitress and ``wsgiref`` use ``getattr`` and take ``example_app:app``.

A configuration error (no service tagged ``jwt`` bound, a bad ``PORT`` or
``LOG_LEVEL``, an empty submodule directory) ends start-up with one line on
stderr and exit status 3, never a traceback. Status 3 is gunicorn's "worker
failed to boot": a gunicorn started without ``--preload`` then stops instead
of respawning workers that fail the same way forever; uWSGI passes it through.

Example:
    >>> import example_app
    >>> example_app.APP_NAME
    'example-app'
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

__all__ = [
    "APP_NAME",
    "CONFIGURATION_ERROR_EXIT_STATUS",
    "SERVICE_ROOT",
    "SUBMODULE_DIR",
    "__version__",
    "app",
    "asgi_app",
]

APP_NAME = "example-app"
"""Name of the service (reported by ``/version`` and in the OpenAPI document)."""

SERVICE_ROOT = Path(__file__).resolve().parent.parent
"""Directory holding ``example_app/``, ``manifest.yml`` and ``submodules/``."""

SUBMODULE_DIR = SERVICE_ROOT / "submodules" / "common_utils"
"""Where ``git submodule add`` puts the library (the submodule approach)."""

CONFIGURATION_ERROR_EXIT_STATUS = 3
"""Exit status of a start-up stopped by a configuration error."""


def _put_submodule_first() -> None:
    if not SUBMODULE_DIR.is_dir():
        return
    entry = str(SUBMODULE_DIR)
    # NOTE: first, not appended as in the talk: an installed copy must never
    # shadow the pinned submodule (see docs/coupling.md).
    while entry in sys.path:
        sys.path.remove(entry)
    sys.path.insert(0, entry)


_put_submodule_first()


def _service_version() -> str:
    """The service's own version, by the library's rules (``common_utils.version``).

    From the service's git tags when it runs from a checkout; in a droplet (no
    ``.git``) from ``example_app/_version.py``, stamped at push time by
    ``python -m example_app.stamp``; ``0+unknown`` when neither tells.
    """
    from common_utils.version import version_of

    return version_of(SERVICE_ROOT, Path(__file__).resolve().parent)


def _check_stamps() -> None:
    """Refuse a push-time stamp that disagrees with the git checkout beside it."""
    from common_utils.version import StampError, verify_stamp

    checked = [(SERVICE_ROOT, Path(__file__).resolve().parent)]
    if SUBMODULE_DIR.is_dir():  # the library first: a moved submodule is the usual cause
        checked.insert(0, (SUBMODULE_DIR, SUBMODULE_DIR / "common_utils"))
    for checkout, package_dir in checked:
        try:
            verify_stamp(checkout, package_dir)
        except StampError as ex:
            raise _configuration_error(f"{ex}; run: python -m example_app.stamp") from None


def _configuration_error(message: str) -> SystemExit:
    print(f"{APP_NAME}: configuration error: {message}", file=sys.stderr, flush=True)
    return SystemExit(CONFIGURATION_ERROR_EXIT_STATUS)


def _load_app(*, asgi: bool = False) -> Any:
    if SUBMODULE_DIR.is_dir() and not (SUBMODULE_DIR / "common_utils").is_dir():
        raise _configuration_error(
            f"{SUBMODULE_DIR} is empty (cloned without --recurse-submodules?); "
            "run: git submodule update --init"
        )
    try:
        import common_utils  # noqa: F401 - fail here with a clear line, not deep inside
    except ImportError:
        raise _configuration_error(
            "common_utils is not importable: pip install -r requirements.txt "
            "(pip approach) or git submodule update --init (submodule approach)"
        ) from None
    _check_stamps()
    from common_utils.service import build_or_exit
    from example_app.app import create_app

    # the library's own one-line exit, now that it is importable
    return build_or_exit(lambda: create_app(asgi=asgi), name=APP_NAME)


def __getattr__(name: str) -> Any:
    """Build the WSGI callable ``app`` from ``os.environ`` on first access; ``__version__`` too.

    ``__version__`` (the service's own version, reported by ``/version``) is
    worked out on first access as well, once ``common_utils`` is importable.

    Args:
        name: The attribute looked up on the package.

    Returns:
        The :class:`falcon.App` for ``name == "app"``, the
        :class:`falcon.asgi.App` for ``name == "asgi_app"``, the service's version for
        ``name == "__version__"`` (each computed once, then cached).

    Raises:
        AttributeError: For any other name.
        SystemExit: With status 3 after printing one line to stderr, when the
            configuration is invalid.

    Example:
        >>> import example_app
        >>> example_app.no_such_name
        Traceback (most recent call last):
        ...
        AttributeError: module 'example_app' has no attribute 'no_such_name'
    """
    if name in ("app", "asgi_app"):
        application = _load_app(asgi=name == "asgi_app")
        globals()[name] = application
        return application
    if name == "__version__":
        version = _service_version()
        globals()["__version__"] = version
        return version
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
