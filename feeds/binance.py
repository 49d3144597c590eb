"""Binance spot: REST depth snapshot + websocket depth diffs, bookTicker, aggTrade / trade.

The venue's rule for a local book ("How to manage a local order book correctly"):
  1. buffer the stream's diffs (each covers update ids U..u) and fetch a REST snapshot
     (lastUpdateId);
  2. drop every diff with u <= lastUpdateId;
  3. the first diff applied must straddle the snapshot: U <= lastUpdateId + 1 <= u;
  4. from then on each diff's U must be the previous diff's u + 1; otherwise the book is lost:
     clear it and start again from a new snapshot.
The rule runs as a table-driven state machine per symbol (_TABLE below).  A live driver asks
needs_snapshot() which symbols to fetch; a replay feeds the recorded snapshots in receive order.

bookTicker messages carry the update id u of the book state they describe.  Diffs are batched
(depth@100ms), so our book passes through that exact state only when some diff ends at u: only
then is the venue's best bid/offer compared with ours; otherwise the check is skipped.
"""
from __future__ import annotations

import enum
from collections import Counter, deque
from urllib.parse import parse_qs, urlsplit

import numpy as np
import orjson

from ordex.ext.itch_l2 import L2Books
from ordex.ext.itch_levels import Flag
from ordex.feeds.coinbase import BboCheck, L2Output
from ordex.feeds.model import Counters, Instruments

_SNAPSHOT = ord("S")
_DIFF = ord("U")
_TRADE = ord("T")
MAX_BUFFERED_DIFFS = 1000


class Sync(enum.Enum):
    WAIT_SNAPSHOT = "wait_snapshot"   # no usable book: diffs are buffered
    WAIT_FIRST = "wait_first"         # snapshot applied: waiting for the diff that straddles it
    LIVE = "live"                     # every diff continues the previous one


# (state, input) -> (handler, states the handler may move to).  Any other pair is a bug.
_TABLE: dict[tuple[Sync, str], tuple[str, frozenset]] = {
    # Diffs that arrive before a snapshot may still be needed after it: keep them.
    (Sync.WAIT_SNAPSHOT, "diff"): ("_buffer", frozenset({Sync.WAIT_SNAPSHOT})),
    # The snapshot starts a book; buffered diffs then go through the WAIT_FIRST rule.
    (Sync.WAIT_SNAPSHOT, "snapshot"): ("_apply_snapshot", frozenset(Sync)),
    # Drop diffs the snapshot already contains; apply the straddling one; anything later is a gap.
    (Sync.WAIT_FIRST, "diff"): ("_first_diff", frozenset(Sync)),
    # A newer snapshot replaces the book (an older one is ignored).
    (Sync.WAIT_FIRST, "snapshot"): ("_apply_snapshot", frozenset(Sync)),
    # Continue the chain, drop what is already applied, resync on a gap.
    (Sync.LIVE, "diff"): ("_next_diff", frozenset({Sync.LIVE, Sync.WAIT_SNAPSHOT})),
    (Sync.LIVE, "snapshot"): ("_apply_snapshot", frozenset(Sync)),
}


class _Symbol:
    __slots__ = ("id", "name", "state", "last_u", "snapshot_id", "buffer", "pending_bbo", "bbo",
                 "last_trade_id", "stats")

    def __init__(self, id: int, name: str):
        self.id = id
        self.name = name
        self.state = Sync.WAIT_SNAPSHOT
        self.last_u = -1
        self.snapshot_id = -1
        self.buffer: deque = deque()
        self.pending_bbo: tuple | None = None     # (u, bid, ask) waiting for the book to reach u
        self.bbo = BboCheck()
        self.last_trade_id = -1
        self.stats: Counter[str] = Counter()   # this symbol's share of the counters


class BinanceNormaliser(L2Output):
    """Snapshots and stream messages (decoded JSON) in, normalised events out via take()."""

    name = "binance"

    def __init__(self, instruments: Instruments | None = None, *, quotes: bool = True,
                 counters: Counters | None = None):
        self.instruments = instruments if instruments is not None else Instruments(8, 8)
        self.books = L2Books(4096, quotes=quotes)
        self.counters = counters if counters is not None else Counters(self.name)
        self._types: dict[str, int] = {}
        self._diffs = 0   # depthUpdate messages taken by the fast path
        self.symbols: dict[str, _Symbol] = {}
        self.resyncs = 0

    def symbol(self, name: str) -> _Symbol:
        s = self.symbols.get(name)
        if s is None:
            inst = self.instruments.add(name)
            self.books.set_scale(inst.id, inst.price_decimals, inst.qty_decimals)
            s = self.symbols[name] = _Symbol(inst.id, name)
        return s

    def needs_snapshot(self) -> list[str]:
        return [s.name for s in self.symbols.values() if s.state is Sync.WAIT_SNAPSHOT]

    # -- input -------------------------------------------------------------------------------

    def feed_line(self, payload: bytes, recv_ns: int = 0, url: bytes = b"") -> None:
        try:
            msg = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            self.counters.hit("bad_json", f"{exc}: {payload[:60]!r}")
            return
        if url:
            query = parse_qs(urlsplit(url.decode("ascii", "replace")).query)
            symbol = query.get("symbol", [""])[0].upper()
            if not symbol:
                self.counters.hit("snapshot_without_symbol", url.decode("ascii", "replace"))
                return
            self.on_snapshot(symbol, msg, recv_ns)
            return
        # Fast path for the bulk of the stream: the (LIVE, diff) -> LIVE edge of _TABLE for a
        # diff that continues the chain.  Anything else takes the table's way in on_message.
        d = msg.get("data") if type(msg) is dict and "stream" in msg else msg
        if type(d) is dict and d.get("e") == "depthUpdate":
            s = self.symbols.get(d.get("s"))
            U, u = d.get("U"), d.get("u")
            if (s is not None and s.state is Sync.LIVE and type(U) is int and type(u) is int
                    and U <= s.last_u + 1 < u + 1 and U <= u
                    and self.books.binance_diff(s.id, d, recv_ns, _DIFF) >= 0):
                self._diffs += 1
                self._after_diff(s, u)
                return
        self.on_message(msg, recv_ns)

    def on_snapshot(self, symbol: str, msg, recv_ns: int) -> None:
        self._types["snapshot"] = self._types.get("snapshot", 0) + 1
        try:
            if type(msg) is not dict or type(msg.get("lastUpdateId")) is not int:
                raise TypeError("not a depth snapshot (lastUpdateId missing)")
            self._run(self.symbol(symbol), "snapshot", (msg, recv_ns))
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            self.counters.hit("malformed", f"snapshot {symbol}: {type(exc).__name__}: {exc}")

    def on_message(self, msg, recv_ns: int = 0) -> None:
        if type(msg) is dict and "stream" in msg and type(msg.get("data")) is dict:
            msg = msg["data"]
        if type(msg) is not dict:
            self.counters.hit("not_an_object", repr(msg)[:60])
            return
        kind = msg.get("e")
        if kind is None and "u" in msg and "b" in msg and "a" in msg and "s" in msg:
            kind = "bookTicker"   # the bookTicker stream has no event type field
        if type(kind) is not str:
            self.counters.hit("unknown_type", repr(msg)[:60])
            return
        self._types[kind] = self._types.get(kind, 0) + 1
        try:
            if kind == "depthUpdate":
                if not (type(msg["U"]) is int and type(msg["u"]) is int and msg["U"] <= msg["u"]):
                    raise ValueError(f"update ids U={msg['U']!r} u={msg['u']!r}")
                self._run(self.symbol(msg["s"]), "diff", (msg, recv_ns))
            elif kind == "bookTicker":
                self._book_ticker(msg, recv_ns)
            elif kind in ("aggTrade", "trade"):
                self._trade(msg, recv_ns)
            elif kind not in ("kline", "24hrTicker", "24hrMiniTicker"):
                self.counters.hit("unknown_type", kind)
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            self.counters.hit("malformed", f"{kind}: {type(exc).__name__}: {exc}")

    def _hit(self, s: _Symbol, reason: str, detail: str, n: int = 1) -> None:
        s.stats[reason] += n
        self.counters.hit(reason, detail, n)

    # -- the synchronisation state machine ---------------------------------------------------

    def _run(self, s: _Symbol, what: str, arg) -> None:
        handler, allowed = _TABLE[(s.state, what)]
        new = getattr(self, handler)(s, *arg)
        if new not in allowed:
            raise AssertionError(f"{s.name}: {s.state.value} -> {new.value} on {what}")
        s.state = new

    def _buffer(self, s: _Symbol, msg, recv_ns: int) -> Sync:
        if len(s.buffer) == MAX_BUFFERED_DIFFS:
            s.buffer.popleft()
            self._hit(s, "buffer_overflow", f"{s.name}: oldest buffered diff dropped")
        s.buffer.append((msg, recv_ns))
        return Sync.WAIT_SNAPSHOT

    def _apply_snapshot(self, s: _Symbol, msg, recv_ns: int) -> Sync:
        lid = msg["lastUpdateId"]
        if s.state is not Sync.WAIT_SNAPSHOT and lid <= s.last_u:
            self._hit(s, "old_snapshot", f"{s.name}: lastUpdateId {lid} <= applied {s.last_u}")
            return s.state
        b = self.books
        b.reset(s.id, recv_ns, recv_ns, lid)
        first = b.mark()
        b.set_levels(s.id, 1, msg["bids"], recv_ns, recv_ns, lid, _SNAPSHOT, Flag.F_SNAPSHOT)
        b.set_levels(s.id, -1, msg["asks"], recv_ns, recv_ns, lid, _SNAPSHOT, Flag.F_SNAPSHOT)
        b.snapshot_end(s.id, recv_ns, recv_ns, lid)
        b.end_update(s.id, first, recv_ns, recv_ns, lid)
        s.snapshot_id = lid
        s.last_u = lid
        state = Sync.WAIT_FIRST
        buffered, s.buffer = s.buffer, deque()
        while buffered:
            diff, diff_recv = buffered.popleft()
            handler, allowed = _TABLE[(state, "diff")]
            new = getattr(self, handler)(s, diff, diff_recv)
            if new not in allowed:
                raise AssertionError(f"{s.name}: {state.value} -> {new.value} on diff")
            state = new
            if state is Sync.WAIT_SNAPSHOT:   # lost again: the rest waits for the next snapshot
                s.buffer.extend(buffered)
                break
        return state

    def _first_diff(self, s: _Symbol, msg, recv_ns: int) -> Sync:
        U, u = msg["U"], msg["u"]
        if u <= s.snapshot_id:
            self._hit(s, "diff_before_snapshot",
                              f"{s.name}: {U}..{u} <= lastUpdateId {s.snapshot_id}")
            return Sync.WAIT_FIRST
        if U > s.snapshot_id + 1:
            self._lose(s, f"first diff {U}..{u} does not straddle lastUpdateId {s.snapshot_id}",
                       msg, recv_ns)
            return Sync.WAIT_SNAPSHOT
        self._apply_diff(s, msg, recv_ns)
        return Sync.LIVE

    def _next_diff(self, s: _Symbol, msg, recv_ns: int) -> Sync:
        U, u = msg["U"], msg["u"]
        if u <= s.last_u:
            self._hit(s, "stale_diff", f"{s.name}: {U}..{u} already applied (last {s.last_u})")
            return Sync.LIVE
        if U > s.last_u + 1:
            self._lose(s, f"gap: expected {s.last_u + 1}, got {U}..{u}", msg, recv_ns)
            return Sync.WAIT_SNAPSHOT
        self._apply_diff(s, msg, recv_ns)
        return Sync.LIVE

    def _lose(self, s: _Symbol, why: str, msg, recv_ns: int) -> None:
        """The book can no longer be trusted: clear it; keep the diff for after the next
        snapshot."""
        self._hit(s, "gap", f"{s.name}: {why}; resync from a new snapshot")
        self.resyncs += 1
        self.books.reset(s.id, recv_ns, recv_ns, s.last_u)
        s.pending_bbo = None
        s.buffer.append((msg, recv_ns))

    def _apply_diff(self, s: _Symbol, msg, recv_ns: int) -> None:
        if self.books.binance_diff(s.id, msg, recv_ns, _DIFF) < 0:
            raise ValueError("depthUpdate without lists of bids and asks")
        self._after_diff(s, msg["u"])

    def _after_diff(self, s: _Symbol, u: int) -> None:
        s.last_u = u
        if s.pending_bbo is not None:
            if s.pending_bbo[0] == u:
                self._compare_bbo(s, s.pending_bbo)
                s.pending_bbo = None
            elif s.pending_bbo[0] < u:
                s.bbo.skipped += 1
                s.pending_bbo = None

    # -- other streams -----------------------------------------------------------------------

    def _book_ticker(self, msg, recv_ns: int) -> None:
        s = self.symbol(msg["s"])
        u = msg["u"]
        if type(u) is not int:
            raise TypeError(f"bookTicker u {u!r}")
        ts = recv_ns
        bbo = self.books.venue_quote(s.id, msg["b"], msg.get("B"), msg["a"], msg.get("A"),
                                     ts, ts, u)
        if bbo is None:
            return
        if s.pending_bbo is not None:   # superseded before the book reached it
            s.bbo.skipped += 1
            s.pending_bbo = None
        if s.state is not Sync.LIVE or u < s.last_u:
            s.bbo.skipped += 1
        elif u == s.last_u:
            self._compare_bbo(s, (u, bbo[0], bbo[2]))
        else:
            s.pending_bbo = (u, bbo[0], bbo[2])

    def _compare_bbo(self, s: _Symbol, venue: tuple) -> None:
        u, bid, ask = venue
        ours = self.books.top(s.id)
        equal = (ours[0], ours[2]) == (bid, ask)
        s.bbo.checked += 1
        s.bbo.last = (u, bid, ask, ours[0], ours[2])
        s.bbo.last_equal = equal
        if not equal:
            s.bbo.mismatched += 1
            self._hit(s, "bbo_mismatch",
                              f"{s.name} u={u}: venue {bid}/{ask}, book {ours[0]}/{ours[2]}")

    def _trade(self, msg, recv_ns: int) -> None:
        s = self.symbol(msg["s"])
        tid = msg["a"] if msg["e"] == "aggTrade" else msg["t"]
        if type(tid) is not int:
            raise TypeError(f"trade id {tid!r}")
        if s.last_trade_id >= 0:
            if tid == s.last_trade_id:
                self._hit(s, "duplicate_trade", f"{s.name} trade {tid}")
                return
            if tid < s.last_trade_id:
                self._hit(s, "out_of_order_trade", f"{s.name} {tid} after {s.last_trade_id}")
                return
            if tid > s.last_trade_id + 1:
                self._hit(s, "trade_gap", f"{s.name} trades {s.last_trade_id + 1}..{tid - 1}",
                                  tid - s.last_trade_id - 1)
        s.last_trade_id = tid
        ts = msg["T"] * 1_000_000
        # m: the buyer is the maker, so the seller was the aggressor.
        side = -1 if msg["m"] else 1
        self.books.trade(s.id, msg["p"], msg["q"], side, ts, recv_ns or ts, tid, tid, _TRADE)

    # -- output ------------------------------------------------------------------------------

    @property
    def types(self) -> dict[str, int]:
        """Messages seen per venue message type (snapshots as "snapshot")."""
        out = dict(self._types)
        if self._diffs:
            out["depthUpdate"] = out.get("depthUpdate", 0) + self._diffs
        return out

    def bbo_checks(self) -> dict[str, BboCheck]:
        return {name: s.bbo for name, s in self.symbols.items()}
