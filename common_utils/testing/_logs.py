"""Log lines in tests: capture them as parsed records, reset logging between tests."""

from __future__ import annotations

import io
import json
import logging
from types import TracebackType
from typing import Any

from common_utils.logs import setup_logging

__all__ = ["LogCapture", "reset_logging"]

# setup_logging replaces only its own handler, by this name; the capture's is another.
_SETUP_HANDLER = "common_utils.logs"
_CAPTURE_HANDLER = "common_utils.testing.capture"


class LogCapture:
    """Collect every log line, as the service's JSON formatter writes it, parsed.

    The capture is a second root handler with the library's JSON format, so it
    sees the lines of an app built before or after it, whatever stream the
    app's own `common_utils.logs.setup_logging` call writes to (pytest's
    ``capsys`` only sees a stream swapped in before that call). The service's
    later ``setup_logging`` calls replace their own handler, never this one.
    Use it as a context manager, or through the pytest plugin's ``log_records``.

    Examples:
        >>> import logging
        >>> from common_utils.testing import LogCapture
        >>> with LogCapture() as logs:
        ...     logging.getLogger("orders").warning("stock low", extra={"sku": "a-1"})
        >>> [(r["level"], r["message"], r["sku"]) for r in logs.records]
        [('WARNING', 'stock low', 'a-1')]
    """

    def __init__(self, level: int | str = logging.DEBUG) -> None:
        self._level = level
        self._out = io.StringIO()
        self._handler: logging.Handler | None = None

    @property
    def records(self) -> list[dict[str, Any]]:
        """Every line captured so far, parsed (each line is one JSON object)."""
        return [json.loads(line) for line in self._out.getvalue().splitlines()]

    def lines(self, logger: str) -> list[dict[str, Any]]:
        """The records of one logger (``common_utils.access`` for the access lines)."""
        return [record for record in self.records if record["logger"] == logger]

    def __enter__(self) -> LogCapture:
        root = logging.getLogger()
        own = [h for h in root.handlers if h.get_name() == _SETUP_HANDLER]
        handler = setup_logging(self._level, "json", self._out, environ={})
        handler.set_name(_CAPTURE_HANDLER)
        for previous in own:  # setup_logging just removed the service's handler: put it back
            root.addHandler(previous)
        self._handler = handler
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._handler is not None:
            logging.getLogger().removeHandler(self._handler)
            self._handler.close()
            self._handler = None


def reset_logging() -> None:
    """Undo `common_utils.logs.setup_logging`: remove its handler, root level back to WARNING.

    Handlers others installed on the root logger stay; so do the logging
    module's switches, which the library never changes.

    Examples:
        >>> import io, logging
        >>> from common_utils.logs import setup_logging
        >>> from common_utils.testing import reset_logging
        >>> _ = setup_logging("DEBUG", "json", io.StringIO(), environ={})
        >>> reset_logging()
        >>> [h.get_name() for h in logging.getLogger().handlers if h.get_name()]
        []
        >>> logging.getLevelName(logging.getLogger().level)
        'WARNING'
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() in (_SETUP_HANDLER, _CAPTURE_HANDLER):
            root.removeHandler(handler)
            handler.close()
    root.setLevel(logging.WARNING)
