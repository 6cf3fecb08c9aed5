"""Shared test configuration: markers and common helpers."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = REPO_ROOT / "tests" / "fixtures"


def _import_installed_copy() -> None:
    """Under tox, import the installed wheel, never the source tree beside the tests.

    pytest puts the repository root on sys.path (tests/ is a package), where the
    flat layout's common_utils/ would win. Importing the package once without that
    entry makes every later ``import common_utils...`` use the installed copy.
    """
    root = str(REPO_ROOT)
    saved = list(sys.path)
    sys.path[:] = [p for p in sys.path if p not in ("", ".", root)]
    try:
        import common_utils
    finally:
        sys.path[:] = saved
    location = Path(common_utils.__file__).resolve()
    if location.is_relative_to(REPO_ROOT / "common_utils"):
        raise pytest.UsageError(f"COMMON_UTILS_TEST_INSTALLED is set but {location} is the source")


if os.environ.get("COMMON_UTILS_TEST_INSTALLED") == "1":
    _import_installed_copy()


def _needs_platform_tools(path: Path) -> bool:
    text = path.read_text(encoding="utf-8")
    return "from common_utils_platform" in text or "import common_utils_platform" in text


# The platform tools' package (``pip install ./devpi``) is installed by every tox env (its
# commands_pre fail otherwise); the release's verify step runs these tests in a virtualenv
# holding only the released wheel and its verify lock, where the test modules that use the
# tools are not collected, and the header says which.
_PLATFORM_MISSING = importlib.util.find_spec("common_utils_platform") is None
collect_ignore = (
    sorted(p.name for p in Path(__file__).parent.glob("test_*.py") if _needs_platform_tools(p))
    if _PLATFORM_MISSING
    else []
)


def pytest_report_header(config: pytest.Config) -> str | None:
    """Say which test modules were left out because the platform tools are not installed."""
    if not collect_ignore:
        return None
    return f"common_utils_platform not installed: not collected: {', '.join(collect_ignore)}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark everything under tests/e2e/ as ``e2e`` (run by ``tox -e e2e``)."""
    e2e_dir = REPO_ROOT / "tests" / "e2e"
    for item in items:
        if e2e_dir in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(autouse=True)
def _an_event_loop_for_falcons_test_client() -> Iterator[None]:
    """Give Python 3.10 an event loop again after a test or doc snippet ran asyncio.run().

    On 3.10 Falcon's TestClient runs ASGI apps on the thread's current loop, and
    asyncio.run() leaves the thread with none: every later ASGI test would fail with
    "There is no current event loop". 3.11+ Falcon uses asyncio.Runner instead.
    """
    yield
    if sys.version_info < (3, 11):
        try:
            asyncio.get_event_loop_policy().get_event_loop()
        except RuntimeError:
            asyncio.set_event_loop(asyncio.new_event_loop())
