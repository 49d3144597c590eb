"""Fixtures of the feeds tests: the real recordings in ../shared/data/marketdata.

They live outside the repository.  Without them the tests that need them skip with the reason,
except in CI (the CI environment variable is set), where their absence is a failure.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from feeds_helpers import BINANCE_SNAPSHOTS, BINANCE_WS, COINBASE_FILE, ITCH_FILE, require


@pytest.fixture(scope="session")
def itch_file() -> Path:
    return require(ITCH_FILE)


@pytest.fixture(scope="session")
def itch_bytes(itch_file) -> bytes:
    return itch_file.read_bytes()


@pytest.fixture(scope="session")
def coinbase_file() -> Path:
    return require(COINBASE_FILE)


@pytest.fixture(scope="session")
def binance_files() -> tuple[Path, Path]:
    return require(BINANCE_WS), require(BINANCE_SNAPSHOTS)
