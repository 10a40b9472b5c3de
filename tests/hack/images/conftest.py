"""Make hack/images' modules importable: they are a stdlib-only script directory (run as
`python3 hack/images/build.py`), not a package, so the tests put it on sys.path."""

from __future__ import annotations

import sys
from pathlib import Path

IMAGES_DIR = Path(__file__).resolve().parents[3] / "hack" / "images"
if str(IMAGES_DIR) not in sys.path:
    sys.path.insert(0, str(IMAGES_DIR))
