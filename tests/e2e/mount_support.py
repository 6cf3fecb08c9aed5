"""A filesystem of its own for a test: a tmpfs mounted on a directory (root only).

The disk-full test fills one to the last byte; the runbook gives each scratch host's
``/srv`` one, so the free space its check reports is that volume's and not the CI
machine's (which other tenants share and fill).
"""

from __future__ import annotations

import subprocess
from pathlib import Path


def mount_tmpfs(path: Path, size: str, *, mode: str = "0700") -> bool:
    """Mount a tmpfs of ``size`` on ``path`` (made if missing); False where not allowed.

    Example:
        ``mounted = mount_tmpfs(tmp_path / "disk", "96m")``, then ``unmount(tmp_path / "disk")``.
    """
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode={mode}", "tmpfs", str(path)],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def unmount(path: Path) -> None:
    """Unmount what ``mount_tmpfs`` mounted on ``path``; lazily if a process still holds it."""
    if subprocess.run(["umount", str(path)], capture_output=True, check=False).returncode:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)
