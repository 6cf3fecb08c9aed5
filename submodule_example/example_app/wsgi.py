"""The WSGI entry point for uWSGI: ``module = example_app.wsgi:app``.

uWSGI reads the callable from the module's ``__dict__``, which never calls a
module ``__getattr__`` (PEP 562). Importing ``example_app.app`` here builds the
app from ``os.environ`` at import time, in uWSGI's master before the workers
fork, exactly once; a configuration error stops uWSGI with one line.

Example:
    >>> import example_app.wsgi  # doctest: +SKIP
"""

from __future__ import annotations

from example_app import app

__all__ = ["app"]
