"""Imported first by every bench script (they run as `python bench/NAME.py`, so bench/ is on
sys.path): puts the repository on sys.path and keeps every model hub offline, as the tests do,
before anything imports transformers or ultralytics."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.update(
    HF_HUB_OFFLINE="1",
    TRANSFORMERS_OFFLINE="1",
    YOLO_OFFLINE="1",
    YOLO_AUTOINSTALL="0",
    YOLO_CONFIG_DIR=os.environ.get("YOLO_CONFIG_DIR") or tempfile.mkdtemp(prefix="rapbot-yolo-"),
)
