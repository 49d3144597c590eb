"""Fixtures of the feeds tests: the real recordings in ../shared/data/marketdata.

They live outside the repository.  Without them the tests that need them skip with the reason,
except in CI (the CI environment variable is set), where their absence is a failure.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MARKETDATA = ROOT / ".." / "shared" / "data" / "marketdata"

ITCH_FILE = MARKETDATA / "itch" / "simulated-20101224.itch50"
COINBASE_FILE = MARKETDATA / "coinbase" / "level2-2021-04-17.ws.log"
BINANCE_WS = MARKETDATA / "binance" / "depth-2021-10-12.ws.log"
BINANCE_SNAPSHOTS = MARKETDATA / "binance" / "depth-snapshots-2021-10-12.http.log"


def _require(path: Path) -> Path:
    if path.is_file():
        return path
    why = f"market data recording {path} is missing (see ../shared/data/README.md)"
    if os.environ.get("CI"):
        pytest.fail(f"{why}; CI must provide it", pytrace=False)
    pytest.skip(why)


@pytest.fixture(scope="session")
def itch_file() -> Path:
    return _require(ITCH_FILE)


@pytest.fixture(scope="session")
def itch_bytes(itch_file) -> bytes:
    return itch_file.read_bytes()


@pytest.fixture(scope="session")
def coinbase_file() -> Path:
    return _require(COINBASE_FILE)


@pytest.fixture(scope="session")
def binance_files() -> tuple[Path, Path]:
    return _require(BINANCE_WS), _require(BINANCE_SNAPSHOTS)
