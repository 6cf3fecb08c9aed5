"""gunicorn's settings for the sample: gunicorn's own lines as JSON on stdout, like the app's.

gunicorn reads ``./gunicorn.conf.py`` by itself when started from the service root
(``gunicorn example_app:app``). Without this file its lines (worker boot, timeouts,
crashes) are plain text on stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path

_SERVICE_ROOT = str(Path(__file__).resolve().parent)
if _SERVICE_ROOT not in sys.path:
    sys.path.insert(0, _SERVICE_ROOT)

# First: puts submodules/common_utils (the submodule approach) at the front of sys.path.
import example_app  # noqa: E402, F401

from common_utils.logs import server_logging_config  # noqa: E402

logconfig_dict = server_logging_config()
