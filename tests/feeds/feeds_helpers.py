"""Helpers of the feeds tests: where the recordings are, ITCH framing in plain Python, and an
obviously-correct reference book built from what an independent parser (itchfeed) decodes."""
from __future__ import annotations

import io
import os
from collections import defaultdict
from pathlib import Path

import pytest
from itch.parser import MessageParser

ROOT = Path(__file__).resolve().parents[2]
MARKETDATA = ROOT / ".." / "shared" / "data" / "marketdata"   # the project's sibling data folder
ITCH_FILE = MARKETDATA / "itch" / "simulated-20101224.itch50"
COINBASE_FILE = MARKETDATA / "coinbase" / "level2-2021-04-17.ws.log"
BINANCE_WS = MARKETDATA / "binance" / "depth-2021-10-12.ws.log"
BINANCE_SNAPSHOTS = MARKETDATA / "binance" / "depth-snapshots-2021-10-12.http.log"


def require(path: Path) -> Path:
    """path if the recording is there; else skip with the reason, or fail under CI."""
    if path.is_file():
        return path
    why = f"market data recording {path} is missing (see ../shared/data/README.md)"
    if os.environ.get("CI"):
        pytest.fail(f"{why}; CI must provide it", pytrace=False)
    pytest.skip(why)


def frames(data: bytes) -> list[bytes]:
    """Each length-prefixed frame (prefix included) of a well-formed ITCH byte string."""
    out, pos = [], 0
    while pos + 2 <= len(data):
        n = int.from_bytes(data[pos:pos + 2], "big")
        out.append(data[pos:pos + 2 + n])
        pos += 2 + n
    return out


def itchfeed_messages(data: bytes) -> list:
    return list(MessageParser().parse_file(io.BytesIO(data)))


class ReferenceBook:
    """Order-level book per stock locate from itchfeed's decoded messages: dicts, nothing clever."""

    def __init__(self):
        self.orders: dict[int, list] = {}    # ref -> [locate, side, price, shares]
        self.levels = defaultdict(lambda: defaultdict(int))   # (locate, side) -> price -> shares
        self.unknown = 0

    def _remove(self, ref: int, shares: int) -> None:
        o = self.orders[ref]
        shares = min(shares, o[3])
        key = (o[0], o[1])
        self.levels[key][o[2]] -= shares
        if self.levels[key][o[2]] == 0:
            del self.levels[key][o[2]]
        o[3] -= shares
        if o[3] == 0:
            del self.orders[ref]

    def apply(self, m) -> None:
        t = m.message_type
        if t in (b"A", b"F"):
            side = 1 if m.buy_sell_indicator == b"B" else -1
            self.orders[m.order_reference_number] = [m.stock_locate, side, m.price, m.shares]
            self.levels[(m.stock_locate, side)][m.price] += m.shares
        elif t in (b"E", b"C", b"X", b"D", b"U"):
            ref = m.order_reference_number
            if ref not in self.orders:
                self.unknown += 1
                return
            if t == b"E" or t == b"C":
                self._remove(ref, m.executed_shares)
            elif t == b"X":
                self._remove(ref, m.cancelled_shares)
            else:
                locate, side = self.orders[ref][0], self.orders[ref][1]
                self._remove(ref, self.orders[ref][3])
                if t == b"U":
                    self.orders[m.new_order_reference_number] = [locate, side, m.price, m.shares]
                    self.levels[(locate, side)][m.price] += m.shares

    def depth(self, locate: int, side: int) -> list[tuple[int, int]]:
        lv = self.levels[(locate, side)]
        return sorted(((p, q) for p, q in lv.items() if q), reverse=side > 0)
