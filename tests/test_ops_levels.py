"""The replica levels of ``ops.py status`` (docs/operations.md, 5), one status document each.

``replica_level`` is a pure function of the replica's ``/+status``, the
primary's (None: down), the thresholds and the time of the check, so each row
below is a state and its level, with no server and no clock.
"""

from __future__ import annotations

from typing import Any

import pytest
from common_utils_platform.ops import CRITICAL, OK, UNKNOWN, WARNING, Thresholds, replica_level

NOW = 10_000.0
LIMITS = Thresholds(
    warn_lag=10, crit_lag=100, warn_behind=300, crit_behind=3600, warn_link=120, crit_link=600
)
PRIMARY = {"role": "MASTER", "serial": 50, "uuid": "p-1"}


def doc(**changes: Any) -> dict[str, Any]:
    """A healthy replica's status, in sync and heard from the primary 5 s ago."""
    base: dict[str, Any] = {
        "role": "REPLICA",
        "serial": 50,
        "primary-uuid": "p-1",
        "primary-serial": 50,
        "replica-started-at": NOW - 5000,
        "update-from-primary-at": NOW - 5,
        "replica-metadata-in-sync-at": NOW - 5,
        "replication-errors": {},
    }
    for key, value in changes.items():
        base[key.replace("_", "-")] = value
    return base


ROWS: list[tuple[str, Any, dict[str, Any] | None, int, str]] = [
    ("healthy", doc(), PRIMARY, OK, "lags 0 serials"),
    ("lag below warn", doc(serial=41), PRIMARY, OK, "lags 9 serials, behind for 5 s"),
    ("lag at warn", doc(serial=40), PRIMARY, WARNING, "lags 10 serials"),
    ("lag at crit", doc(), {**PRIMARY, "serial": 150}, CRITICAL, "lags 100 serials"),
    ("ahead of the primary's answer", doc(serial=51), PRIMARY, OK, "lags 0 serials"),
    (
        "behind for warn seconds",
        doc(serial=49, replica_metadata_in_sync_at=NOW - 300),
        PRIMARY,
        WARNING,
        "behind for 300 s",
    ),
    (
        "behind for crit seconds",
        doc(serial=49, replica_metadata_in_sync_at=NOW - 3600),
        PRIMARY,
        CRITICAL,
        "behind for 3600 s",
    ),
    (
        "never in sync: behind since the start",
        doc(serial=49, replica_metadata_in_sync_at=None),
        PRIMARY,
        CRITICAL,
        "behind for 5000 s",
    ),
    (
        "old in-sync time does not count when not behind",
        doc(replica_metadata_in_sync_at=NOW - 9000),
        PRIMARY,
        OK,
        "lags 0 serials",
    ),
    ("link quiet below warn", doc(update_from_primary_at=NOW - 119), PRIMARY, OK, "lags 0"),
    (
        "link down warn",
        doc(update_from_primary_at=NOW - 120),
        PRIMARY,
        WARNING,
        "last answer from the primary 120 s ago",
    ),
    (
        "link down crit",
        doc(update_from_primary_at=NOW - 600),
        PRIMARY,
        CRITICAL,
        "last answer from the primary 600 s ago",
    ),
    (
        "never heard, started 130 s ago",
        doc(update_from_primary_at=None, replica_started_at=NOW - 130),
        PRIMARY,
        WARNING,
        "no answer from the primary since the start 130 s ago",
    ),
    (
        "replication errors",
        doc(replication_errors={"a": {}, "b": {}}),
        PRIMARY,
        WARNING,
        "2 files not replicated yet",
    ),
    ("not a replica", doc(role="MASTER"), PRIMARY, CRITICAL, "is not a replica"),
    ("another primary", doc(primary_uuid="p-2"), PRIMARY, CRITICAL, "follows another primary"),
    (
        "primary down, link fresh: last known serial",
        doc(serial=48, primary_serial=50),
        None,
        OK,
        "lags 2 serials (last known primary serial), behind for 5 s, "
        "last answer from the primary 5 s ago",
    ),
    (
        "primary down for warn seconds",
        doc(update_from_primary_at=NOW - 200),
        None,
        WARNING,
        "last answer from the primary 200 s ago",
    ),
    (
        "primary down, never a serial",
        doc(primary_serial=None),
        None,
        WARNING,
        "primary serial unknown",
    ),
    ("uuid ignored with the primary down", doc(primary_uuid="p-2"), None, OK, "lags 0"),
    ("not a document", ["serial", 1], PRIMARY, UNKNOWN, "not a status document"),
    ("no serial", doc(serial=None), PRIMARY, UNKNOWN, "serial is None"),
    ("serial a string", doc(serial="50"), PRIMARY, UNKNOWN, "serial is '50'"),
    (
        "a time that is no number",
        doc(update_from_primary_at="yesterday"),
        PRIMARY,
        UNKNOWN,
        "update-from-primary-at is 'yesterday'",
    ),
    (
        "no time at all",
        doc(update_from_primary_at=None, replica_started_at=None),
        PRIMARY,
        UNKNOWN,
        "no update-from-primary-at",
    ),
]


@pytest.mark.parametrize(
    ("replica", "primary", "level", "text"),
    [row[1:] for row in ROWS],
    ids=[row[0] for row in ROWS],
)
def test_replica_level(replica: Any, primary: dict[str, Any] | None, level: int, text: str) -> None:
    check = replica_level("https://r", replica, primary, LIMITS, NOW)
    assert check.level == level, check.message
    assert text in check.message
    assert check.name == "replica"


def test_the_worst_fact_decides() -> None:
    state = doc(serial=45, update_from_primary_at=NOW - 700, replication_errors={"x": {}})
    check = replica_level("https://r", state, PRIMARY, LIMITS, NOW)
    assert check.level == CRITICAL
    assert check.message == (
        "replica https://r lags 5 serials, behind for 5 s, "
        "last answer from the primary 700 s ago, 1 files not replicated yet"
    )
    assert check.value == 5


def test_thresholds_are_inclusive_and_options_move_them() -> None:
    state = doc(serial=47)
    assert replica_level("r", state, PRIMARY, LIMITS, NOW).level == OK
    tight = Thresholds(warn_lag=3, crit_lag=4)
    assert replica_level("r", state, PRIMARY, tight, NOW).level == WARNING
    assert replica_level("r", doc(serial=46), PRIMARY, tight, NOW).level == CRITICAL
    quick = Thresholds(warn_behind=0, crit_behind=10)
    assert replica_level("r", state, PRIMARY, quick, NOW).level == WARNING
