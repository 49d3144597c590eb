from pathlib import Path

import pytest


@pytest.fixture
def jdir(tmp_path: Path) -> Path:
    """Where a test's journal lives (created by Journal.open)."""
    return tmp_path / "journal"
