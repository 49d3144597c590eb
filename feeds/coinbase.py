"""Coinbase (Exchange / "Pro") websocket: level2 snapshot + l2update, matches, ticker.

Protocol facts this relies on:
* `snapshot` carries the full book of a product; `l2update` changes carry the new absolute size
  of a level ("0" removes it) and have no sequence number, so a gap cannot be seen in them: an
  update before the product's snapshot is dropped (update_before_snapshot).
* `match` / `last_match` carry a per-product `trade_id` that grows by one per trade: a jump is a
  trade gap (counted, not a reason to drop the book), a repeat is a duplicate, a step back is out
  of order (both dropped).  `side` is the maker's side; the aggressor is the other one.
* `ticker` carries the venue's best bid/ask after a trade.  On subscription the venue sends the
  latest ticker, which may describe a book older than our snapshot: a ticker is compared with our
  book only when its trade is newer than the product's `last_match` at subscription.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import orjson

from ordex.ext.itch_l2 import L2Books
from ordex.ext.itch_levels import Flag, parse_iso8601
from ordex.feeds.model import Counters, Instruments

_SNAPSHOT = ord("S")
_UPDATE = ord("U")
_MATCH = ord("M")


@dataclass
class BboCheck:
    """How the venue's published best bid/offer compared with the book we built."""
    checked: int = 0
    mismatched: int = 0
    skipped: int = 0     # not comparable (see the module docstring)
    last: tuple | None = None   # (venue seq, venue bid, venue ask, our bid, our ask)
    last_equal: bool | None = None


@dataclass
class _Product:
    id: int
    synced: bool = False
    last_trade_id: int = -1
    subscribed_trade_id: int = -1   # last_match: trades up to it predate our subscription
    last_seq: int = -1
    bbo: BboCheck = field(default_factory=BboCheck)


class L2Output:
    """What a JSON level-2 normaliser hands downstream: its books' events and its filter counts
    (both normalisers keep `self.books`, an L2Books, and `self.counters`)."""

    def take(self) -> np.ndarray:
        return self.books.events.take()

    def pending(self) -> int:
        return len(self.books.events)

    def reasons(self) -> dict[str, int]:
        out = dict(self.counters.as_dict())
        for k, v in self.books.reasons().items():
            out[k] = out.get(k, 0) + v
        return dict(sorted(out.items()))


class CoinbaseNormaliser(L2Output):
    """Messages (decoded JSON dicts) in, normalised events out via take()."""

    name = "coinbase"

    def __init__(self, instruments: Instruments | None = None, *, quotes: bool = True,
                 counters: Counters | None = None):
        self.instruments = instruments if instruments is not None else Instruments(8, 8)
        self.books = L2Books(4096, quotes=quotes)
        self.counters = counters if counters is not None else Counters(self.name)
        self._types: dict[str, int] = {}
        self._updates = 0   # l2update messages taken by the fast path
        self.products: dict[str, _Product] = {}
        self._handlers = {
            "l2update": self._l2update, "snapshot": self._snapshot, "match": self._match,
            "last_match": self._match, "ticker": self._ticker,
            "subscriptions": None, "heartbeat": None, "status": None, "error": self._error,
        }

    def product(self, symbol: str) -> _Product:
        p = self.products.get(symbol)
        if p is None:
            inst = self.instruments.add(symbol)
            self.books.set_scale(inst.id, inst.price_decimals, inst.qty_decimals)
            p = self.products[symbol] = _Product(inst.id)
        return p

    def feed_line(self, payload: bytes, recv_ns: int = 0, url: bytes = b"") -> None:
        if url:
            self.counters.hit("unexpected_http", url.decode("ascii", "replace")[:80])
            return
        try:
            msg = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            self.counters.hit("bad_json", f"{exc}: {payload[:60]!r}")
            return
        # Fast path for the bulk of the feed: an update of a product whose book is live.
        if type(msg) is dict and msg.get("type") == "l2update":
            p = self.products.get(msg.get("product_id"))
            if p is not None and p.synced and self.books.coinbase_update(p.id, msg, recv_ns,
                                                                         _UPDATE) >= 0:
                self._updates += 1
                return
        self.on_message(msg, recv_ns)

    def on_message(self, msg, recv_ns: int = 0) -> None:
        if type(msg) is not dict:
            self.counters.hit("not_an_object", repr(msg)[:60])
            return
        kind = msg.get("type")
        if type(kind) is not str:
            self.counters.hit("unknown_type", repr(msg)[:60])
            return
        self._types[kind] = self._types.get(kind, 0) + 1
        try:
            handler = self._handlers[kind]
        except KeyError:
            self.counters.hit("unknown_type", kind)
            return
        if handler is None:
            return
        try:
            handler(msg, recv_ns)
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            self.counters.hit("malformed", f"{kind}: {type(exc).__name__}: {exc}")

    def _time(self, msg, recv_ns: int) -> int:
        t = msg.get("time")
        return parse_iso8601(t) if t is not None else recv_ns

    def _snapshot(self, msg, recv_ns: int) -> None:
        p = self.product(msg["product_id"])
        b = self.books
        i = p.id
        b.reset(i, recv_ns, recv_ns, 0)
        first = b.mark()
        b.set_levels(i, 1, msg["bids"], recv_ns, recv_ns, 0, _SNAPSHOT, Flag.F_SNAPSHOT)
        b.set_levels(i, -1, msg["asks"], recv_ns, recv_ns, 0, _SNAPSHOT, Flag.F_SNAPSHOT)
        b.snapshot_end(i, recv_ns, recv_ns, 0)
        b.end_update(i, first, recv_ns, recv_ns, 0)
        p.synced = True

    def _l2update(self, msg, recv_ns: int) -> None:
        p = self.product(msg["product_id"])
        if not p.synced:
            self.counters.hit("update_before_snapshot", msg["product_id"])
            return
        if self.books.coinbase_update(p.id, msg, recv_ns, _UPDATE) < 0:
            raise ValueError("l2update without a list of changes and a valid time")

    def _match(self, msg, recv_ns: int) -> None:
        symbol = msg["product_id"]
        p = self.product(symbol)
        tid = msg["trade_id"]
        seq = msg.get("sequence", 0)
        if type(tid) is not int:
            raise TypeError(f"trade_id {tid!r}")
        if p.last_trade_id >= 0:
            if tid == p.last_trade_id:
                self.counters.hit("duplicate_trade", f"{symbol} trade {tid}")
                return
            if tid < p.last_trade_id:
                self.counters.hit("out_of_order_trade",
                                  f"{symbol} trade {tid} after {p.last_trade_id}")
                return
            if tid > p.last_trade_id + 1:
                self.counters.hit("trade_gap", f"{symbol} trades {p.last_trade_id + 1}..{tid - 1}",
                                  tid - p.last_trade_id - 1)
        if msg["type"] == "last_match":
            p.subscribed_trade_id = tid
        p.last_trade_id = tid
        p.last_seq = max(p.last_seq, seq)
        ts = self._time(msg, recv_ns)
        maker = msg["side"]
        side = -1 if maker == "buy" else 1 if maker == "sell" else 0
        self.books.trade(p.id, msg["price"], msg["size"], side, ts, recv_ns or ts, seq, tid, _MATCH)

    def _ticker(self, msg, recv_ns: int) -> None:
        symbol = msg["product_id"]
        p = self.product(symbol)
        seq = msg.get("sequence", 0)
        ts = self._time(msg, recv_ns)
        bbo = self.books.venue_quote(p.id, msg["best_bid"], None, msg["best_ask"], None, ts,
                                     recv_ns or ts, seq)
        if bbo is None:
            return
        tid = msg.get("trade_id", -1)
        if not p.synced or p.subscribed_trade_id < 0 or tid <= p.subscribed_trade_id:
            p.bbo.skipped += 1
            return
        ours = self.books.top(p.id)
        equal = (ours[0], ours[2]) == (bbo[0], bbo[2])
        p.bbo.checked += 1
        p.bbo.last = (seq, bbo[0], bbo[2], ours[0], ours[2])
        p.bbo.last_equal = equal
        if not equal:
            p.bbo.mismatched += 1
            self.counters.hit("bbo_mismatch", f"{symbol} seq {seq}: venue {bbo[0]}/{bbo[2]}, "
                              f"book {ours[0]}/{ours[2]}")

    def _error(self, msg, recv_ns: int) -> None:
        self.counters.hit("venue_error", str(msg.get("message", msg))[:120])

    @property
    def types(self) -> dict[str, int]:
        """Messages seen per venue message type."""
        out = dict(self._types)
        if self._updates:
            out["l2update"] = out.get("l2update", 0) + self._updates
        return out

    def bbo_checks(self) -> dict[str, BboCheck]:
        return {s: p.bbo for s, p in self.products.items()}
