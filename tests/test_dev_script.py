"""dev.py, the one command the README and .ci/run call: what `test` hands to tox."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dev() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dev_script", ROOT / "dev.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_e2e_is_started_first_and_the_rest_keep_their_label_order(dev: ModuleType) -> None:
    label = ["py310", "py311", "lint", "e2e", "docs", "bench-quick"]
    assert dev._longest_first(label) == ["e2e", "py310", "py311", "lint", "docs", "bench-quick"]


def test_the_ci_label_in_tox_ini_names_e2e_and_every_python(dev: ModuleType) -> None:
    ini = (ROOT / "tox.ini").read_text()
    ci = next(line for line in ini.splitlines() if line.strip().startswith("ci ="))
    assert "e2e" in ci
    assert "py3{10,11,12,13}" in ci
    assert set(dev.LONGEST) <= {"e2e"}
