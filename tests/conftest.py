"""Test set-up: Qt offscreen, shared fixtures (a tiny hand-made store, preset recordings)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).parent))

import pytest  # noqa: E402

from tiny_store import write_tiny_store  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CHECKER = REPO.parent / "shared" / "tools" / "check_recording.py"


@pytest.fixture(scope="session")
def tiny_store_dir(tmp_path_factory) -> Path:
    return write_tiny_store(tmp_path_factory.mktemp("tiny-store"))
