"""The pytest plugin of the release's test step: prove the tests used the installed package.

The pipeline copies this file into the verify virtualenv's site-packages as
``_release_verify.py`` and runs ``pytest -p _release_verify`` there; it is never
imported by the tools themselves. It needs only pytest's hook names.

Environment (set by the pipeline): ``_RELEASE_VERIFY_LOG``, a file that gets the
node id of every test as it starts (the last line names the test a timeout hit);
``_RELEASE_VERIFY_PREFIX``, the virtualenv's directory; ``_RELEASE_VERIFY_IMPORT``,
the import name of the released package. When the tests imported that package
from anywhere else (the source tree), the session fails with exit status 99.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import pytest

EXIT_NOT_INSTALLED = 99


def pytest_runtest_logstart(nodeid: str, location: tuple[str, int | None, str]) -> None:
    """Record the node id of the test that starts now."""
    with open(os.environ["_RELEASE_VERIFY_LOG"], "a", encoding="utf-8") as log:
        log.write(nodeid + "\n")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Say where the package came from; fail the session unless from the virtualenv."""
    name = os.environ["_RELEASE_VERIFY_IMPORT"]
    module = sys.modules.get(name)
    where = getattr(module, "__file__", None) or "not imported"
    print(f"\nverify: tests used {name} from {where}", file=sys.stderr)
    if module is not None and not where.startswith(os.environ["_RELEASE_VERIFY_PREFIX"]):
        print("verify: that is not the installed package", file=sys.stderr)
        session.exitstatus = EXIT_NOT_INSTALLED
