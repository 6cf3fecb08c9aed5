"""CFEnv() + one lookup vs py-cfenv's ``cfenv.AppEnv()`` on the fixture documents.

Both parse the same VCAP_APPLICATION / VCAP_SERVICES (the shared fixtures) and then
find the Postgres binding. py-cfenv reads ``os.environ`` only, so the documents are put
there for the whole run; CFEnv reads the same ``os.environ``. The value is the ratio
``CFEnv / AppEnv`` (lower is better); the absolute per-parse time is in the details and
is checked against the issue's target of 1 ms.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from _harness import Metric, Result, interleaved, measure, profile_misses
from _profile import Workload

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
_VARS = {
    "VCAP_APPLICATION": (FIXTURES / "vcap_application.json").read_text(encoding="utf-8"),
    "VCAP_SERVICES": (FIXTURES / "vcap_services.json").read_text(encoding="utf-8"),
    "PORT": "8080",
    "CF_INSTANCE_INDEX": "0",
}
PARSE_US = Metric("cfenv", "us", below=1000)  # CFEnv() + lookup, per parse
_ABSOLUTE = "CFEnv() + lookup per parse (absolute)"
RATIO = Metric("cfenv", "ratio")  # reported, no target: the absolute figure is the target


@contextmanager
def _environ() -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in _VARS}
    os.environ.update(_VARS)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run(quick: bool) -> list[Result]:
    """Time parse + lookup for CFEnv and cfenv.AppEnv; return ratio and absolute results."""
    from common_utils.cfenv import CFEnv

    def ours() -> object:
        env = CFEnv()
        return env.service(tag="postgres").uri.hostname, env.port, env.app.name

    try:
        import cfenv  # type: ignore[import-untyped]  # a peer without hints or stubs
    except ImportError:
        cfenv = None

    # NOTE: misses are profiled here, not in run.py: CFEnv reads the documents from os.environ.
    workload = Workload(ours, "CFEnv() on the fixture documents, then the Postgres lookup")
    results: list[Result] = []
    with _environ():
        if cfenv is None:
            timing = measure(ours, quick=quick)
            note = "cfenv==0.5.3 not installed: no peer ratio"
            results = [
                RATIO.row("CFEnv() + lookup vs cfenv.AppEnv()", None, note=note),
                PARSE_US.row(_ABSOLUTE, round(timing.median_us, 1), workload=workload),
            ]
            profile_misses(results, quick=quick)
            return results

        def peer() -> object:
            env = cfenv.AppEnv()
            db = env.get_service(label="elephantsql")  # its tag lookup is broken
            return db.credentials["uri"], env.port, env.name

        timings = interleaved({"CFEnv": ours, "AppEnv": peer}, quick=quick)
        mine, theirs = timings["CFEnv"], timings["AppEnv"]
        results.append(
            RATIO.row(
                "CFEnv() + lookup vs cfenv.AppEnv() + get_service",
                round(mine.median / theirs.median, 2),
                details={
                    "CFEnv_us": round(mine.median_us, 1),
                    "AppEnv_us": round(theirs.median_us, 1),
                },
                note="CFEnv validates everything and freezes credentials; AppEnv only json.loads; "
                "the target is the absolute time per parse (next line)",
            )
        )
        results.append(PARSE_US.row(_ABSOLUTE, round(mine.median_us, 1), workload=workload))
        lookup_env = CFEnv()
        lookup = measure(lambda: lookup_env.service(tag="postgres"), quick=quick)
        results.append(
            RATIO.row(
                "lookup on a parsed CFEnv vs a full parse",
                round(lookup.median / mine.median, 3),
                details={"lookup_us": round(lookup.median_us, 2)},
                note="lookups do not re-parse",
            )
        )
        profile_misses(results, quick=quick)
    return results


if __name__ == "__main__":
    import sys

    for result in run(quick="--quick" in sys.argv):
        print(result.as_dict())
