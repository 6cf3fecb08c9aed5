"""Stamp the versions from git before ``cf push``: ``python -m example_app.stamp``.

``cf push`` uploads the working tree but never ``.git``, so in a droplet neither
the service nor a submodule of common_utils can ask git for its version. Run
this from the service root right before pushing; it writes

- ``example_app/_version.py``: the service's version from its own git tags;
- ``submodules/common_utils/common_utils/_version.py`` (submodule approach):
  the library's version from the submodule's git metadata.

Both files are git-ignored. Run it again after moving the submodule (or
committing): a stamp that disagrees with the checkout stops the service at
start-up with one line, wherever git metadata is present.

Exit status 0 when stamped, 1 with one line on stderr when a checkout cannot
be described (not a git checkout, or no ``vX.Y.Z`` tag: fetch the tags).
"""

from __future__ import annotations

import sys
from pathlib import Path

from example_app import APP_NAME, SERVICE_ROOT, SUBMODULE_DIR


def main() -> int:
    """Write the stamps; print what was stamped."""
    from common_utils.version import StampError, write_stamp

    targets = [(APP_NAME, SERVICE_ROOT, Path(__file__).resolve().parent)]
    if SUBMODULE_DIR.is_dir():
        targets.append(("common_utils", SUBMODULE_DIR, SUBMODULE_DIR / "common_utils"))
    try:
        for name, checkout, package_dir in targets:
            stamp = write_stamp(checkout, package_dir)
            print(f"{name} {stamp.version} -> {stamp.path.relative_to(SERVICE_ROOT)}")
    except StampError as ex:
        print(f"{APP_NAME}: cannot stamp: {ex}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
