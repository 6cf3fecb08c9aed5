"""No public package registry's host name is written into the repository.

pip, devpi-server, twine, npm and Renovate find their public registries by default; the
project names only the team's own index, and only as a local or example URL.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Spelled in parts, so that this file does not hold what it looks for.
REGISTRY_HOSTS = tuple(
    ".".join(parts)
    for parts in (
        ("pypi", "org"),
        ("files", "pythonhosted", "org"),
        ("pypi", "python", "org"),
        ("registry", "npmjs", "org"),
        ("registry", "yarnpkg", "com"),
    )
)


def _tracked_files() -> list[Path]:
    done = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip("not a git checkout (an sdist or the release's verify venv)")
    return [ROOT / name for name in done.stdout.decode().split("\0") if name]


def test_no_tracked_file_names_a_public_registry_host() -> None:
    found = []
    for path in _tracked_files():
        try:
            text = path.read_text(encoding="utf-8").lower()
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue  # binary files, submodules, and files deleted in the work tree
        found += [f"{path.relative_to(ROOT)}: {host}" for host in REGISTRY_HOSTS if host in text]
    assert not found, "\n".join(found)
