"""Cost of common_utils.logs: a JSON log line, and the request-id + access-log middleware.

1. Formatting one record as a JSON line (python-json-logger with our field names,
   orjson when installed, as in the bench env) against the stdlib
   ``logging.Formatter`` on the same record, with the same fields as text
   (timestamp, level, logger, message). Target: <= 1.5x. The bare default
   ``logging.Formatter()`` (message only) is shown beside it.
2. One GET through ``falcon.App`` with ``RequestIdMiddleware`` and
   ``AccessLogMiddleware`` (writing its line to /dev/null through the real
   handler) against the same app without middleware. Target: the added cost at
   most one bare call (a third of the 3.0x measured before the lean access log).
   ``logger.info`` of a plain message through the same handler is shown as the
   floor that any line through ``logging`` pays.

Run: ``python -m benchmarks.run`` or ``python benchmarks/bench_logs.py [--quick]``.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import IO

import falcon
import falcon.testing
from _harness import Metric, Result, Timing, interleaved, profile_misses
from _profile import Workload

from common_utils.logs import AccessLogMiddleware, RequestIdMiddleware, setup_logging

GROUP = "logs"
LINE_COST = Metric(GROUP, "x", at_most=1.5)  # a JSON line / the stdlib Formatter's
MIDDLEWARE_COST = Metric(GROUP, "x", at_most=1.0)  # added / a bare Falcon call


def _has_orjson() -> bool:
    try:
        import orjson  # noqa: F401
    except ImportError:
        return False
    return True


def _record() -> logging.LogRecord:
    record = logging.LogRecord(
        "orders.api", logging.INFO, __file__, 42, "order %s created", ("o-1234",), None
    )
    record.order_id = "o-1234"
    record.amount_cents = 4200
    return record


def _formatters(null: IO[str]) -> dict[str, Callable[[], object]]:
    handler = setup_logging("INFO", "json", null, environ={})
    json_formatter = handler.formatter
    assert json_formatter is not None
    text = logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    bare = logging.Formatter()
    record = _record()
    return {
        "json_line": lambda: json_formatter.format(record),
        "stdlib_same_fields": lambda: text.format(record),
        "stdlib_default": lambda: bare.format(record),
        "logger_info_floor": lambda: logging.getLogger("floor").info("GET /items/42 200"),
    }


class _Hello:
    def on_get(self, req: falcon.Request, resp: falcon.Response, item: str) -> None:
        resp.media = {"item": item}


def _wsgi_call(app: falcon.App[falcon.Request, falcon.Response]) -> Callable[[], None]:
    environ = falcon.testing.create_environ(
        "/items/42", headers={"X-Vcap-Request-Id": "5a1e0c3c-6f5e-4c1c-9c0e-2a1b3c4d5e6f"}
    )

    def write(data: bytes) -> None:
        return None

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: object = None
    ) -> Callable[[bytes], None]:
        return write

    def call() -> None:
        for _ in app(dict(environ), start_response):
            pass

    return call


def run(quick: bool) -> list[Result]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    with open(os.devnull, "w") as null:
        try:
            fns = _formatters(null)
            t = interleaved(fns, quick=quick)

            bare_app = falcon.App()
            bare_app.add_route("/items/{item}", _Hello())
            mw_app = falcon.App(middleware=[RequestIdMiddleware(), AccessLogMiddleware()])
            mw_app.add_route("/items/{item}", _Hello())
            calls: dict[str, Callable[[], object]] = {
                "bare": _wsgi_call(bare_app),
                "with_middleware": _wsgi_call(mw_app),
            }
            r = interleaved(calls, quick=quick)
            workloads = {
                "json_line": Workload(fns["json_line"], "One JSON line formatted from a record"),
                "with_middleware": Workload(
                    calls["with_middleware"],
                    "One WSGI GET through the app with RequestId and AccessLog middleware "
                    "(access line to /dev/null)",
                ),
            }
            results = _results(t, r, workloads)
            # NOTE: here, not in run.py: the workloads log to /dev/null, closed on the way out.
            profile_misses(results, quick=quick)
        finally:
            for handler in list(root.handlers):
                if handler not in saved[0]:
                    root.removeHandler(handler)
            root.setLevel(saved[1])
    return results


def _results(
    t: dict[str, Timing], r: dict[str, Timing], workloads: dict[str, Workload]
) -> list[Result]:
    """The report rows from the formatter timings ``t`` and the request timings ``r``."""
    ratio = t["json_line"].median / t["stdlib_same_fields"].median
    mw_ratio = r["with_middleware"].median / r["bare"].median
    added = (r["with_middleware"].median - r["bare"].median) / r["bare"].median
    return [
        LINE_COST.row(
            "JSON line vs stdlib Formatter (same fields)",
            round(ratio, 2),
            details={
                "json_line_us": round(t["json_line"].median_us, 2),
                "stdlib_same_fields_us": round(t["stdlib_same_fields"].median_us, 2),
                "stdlib_default_us": round(t["stdlib_default"].median_us, 2),
                "vs_stdlib_default_x": round(t["json_line"].median / t["stdlib_default"].median, 2),
                "orjson": _has_orjson(),
            },
            note="stdlib_default is logging.Formatter() (message only), shown for reference",
            workload=workloads["json_line"],
        ),
        MIDDLEWARE_COST.row(
            "RequestId + AccessLog middleware: added cost / bare Falcon call",
            round(added, 2),
            details={
                "with_middleware_vs_bare_x": round(mw_ratio, 2),
                "logger_info_floor_us": round(t["logger_info_floor"].median_us, 2),
                "bare_us": round(r["bare"].median_us, 2),
                "with_middleware_us": round(r["with_middleware"].median_us, 2),
                "overhead_us": round(r["with_middleware"].median_us - r["bare"].median_us, 2),
            },
            note="WSGI call with a prebuilt environ; access line written to /dev/null",
            workload=workloads["with_middleware"],
        ),
    ]


if __name__ == "__main__":
    import time

    started = time.perf_counter()
    for result in run(quick="--quick" in sys.argv):
        print(result.as_dict())
    print(f"took {time.perf_counter() - started:.1f} s")
