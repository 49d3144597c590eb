"""FIX market data: MarketDataRequest(V) -> MarketDataSnapshotFullRefresh(W) and
MarketDataIncrementalRefresh(X), or MarketDataRequestReject(Y).

Market data may only show what is durable (DESIGN invariant 2), and the engine's book can be ahead
of the journal, so this module keeps its own aggregated view of the book (ordex.ext.bookview,
compiled: every order passes through it), built only from the server's durable book events
(`Server.subscribe_book`).  Snapshots and incremental updates both come
from that view, so a subscriber's snapshot plus its increments always add up.

Supported: SubscriptionRequestType 0 (snapshot), 1 (snapshot + updates), 2 (unsubscribe);
MarketDepth 0 (full) or N levels; MDUpdateType 1 (incremental; with depth N the updates are fresh
top-N snapshots); entry types 0 bid, 1 offer, 2 trade.
"""
from __future__ import annotations

import logging

import numpy as np

from ordex.ext.bookview import BookView

log = logging.getLogger("ordex.fix.md")

BID, OFFER, TRADE = b"0", b"1", b"2"
NEW, CHANGE, DELETE = b"0", b"1", b"2"


class MarketData:
    """Subscriptions of FIX sessions and the messages they get."""

    def __init__(self, app):
        self.app = app
        self.view = BookView(len(app.symbols))
        self.subs: dict[tuple[int, bytes], tuple] = {}   # (sid, MDReqID) -> (session, insts, depth, types)
        app.server.subscribe_book(self.on_book_events)

    def request(self, session, sid: int, msg) -> None:
        req_id = msg.get_bytes(262)
        kind = msg.get_bytes(263)
        if kind == b"2":
            self.subs.pop((sid, req_id), None)
            return
        if kind not in (b"0", b"1"):
            return self.reject(session, req_id, b"4", "unsupported SubscriptionRequestType")
        depth = msg.get_int(264)
        if depth < 0:
            return self.reject(session, req_id, b"5", "unsupported MarketDepth")
        if kind == b"1" and msg.get_bytes(265, b"1") != b"1":
            return self.reject(session, req_id, b"6", "only incremental refresh (265=1) is supported")
        types = {e.get_bytes(269) for e in msg.group(267)}
        if not types or not types <= {BID, OFFER, TRADE}:
            return self.reject(session, req_id, b"8", "MDEntryType must be 0, 1 or 2")
        insts = []
        for e in msg.group(146):
            inst = self.app.instruments.get(e.get_bytes(55, b""))
            if inst is None:
                return self.reject(session, req_id, b"0", "unknown symbol")
            insts.append(inst.id)
        if not insts:
            return self.reject(session, req_id, b"0", "no symbol requested")
        if kind == b"1":
            if (sid, req_id) in self.subs:
                return self.reject(session, req_id, b"1", "duplicate MDReqID")
            self.subs[(sid, req_id)] = (session, insts, depth, types)
        for inst in insts:
            self.snapshot(session, req_id, inst, depth, types)

    def reject(self, session, req_id: bytes, reason: bytes, text: str) -> None:
        self.app.send(session, b"Y", [(262, req_id), (281, reason), (58, text.encode())])

    def snapshot(self, session, req_id, inst, depth, types) -> None:
        pg, qg = self.app.price_grid[inst], self.app.qty_grid[inst]
        entries = []
        for side, etype in ((1, BID), (2, OFFER)):
            if etype in types:
                for price, qty, count in self.view.depth(inst, side, depth):
                    entries += [(269, etype), (270, pg.text(price)), (271, qg.text(qty)),
                                (346, str(count).encode())]
        self.app.send(session, b"W", [(262, req_id), (55, self.app.symbols[inst]),
                                      (268, str(len(entries) // 4).encode())] + entries)

    def on_book_events(self, events: np.ndarray) -> None:
        changed, trades = self.view.apply(events, bool(self.subs))
        if not self.subs:
            return
        for (sid, req_id), (session, insts, depth, types) in list(self.subs.items()):
            if self.app.live.get(sid) is not session:
                del self.subs[(sid, req_id)]      # logged off: the subscription ends
                continue
            entries = []
            for inst in insts:
                if inst not in changed and not any(t[0] == inst for t in trades):
                    continue
                if depth and (BID in types or OFFER in types) and inst in changed:
                    self.snapshot(session, req_id, inst, depth, types)
                elif inst in changed:
                    entries += self._level_updates(inst, changed[inst], types)
                if TRADE in types:
                    pg, qg = self.app.price_grid[inst], self.app.qty_grid[inst]
                    for t_inst, price, qty in trades:
                        if t_inst == inst:
                            entries += [(279, NEW), (269, TRADE), (55, self.app.symbols[inst]),
                                        (270, pg.text(price)), (271, qg.text(qty))]
            if entries:
                n = sum(1 for tag, _ in entries if tag == 279)
                self.app.send(session, b"X", [(262, req_id), (268, str(n).encode())] + entries)

    def _level_updates(self, inst, levels, types):
        pg, qg = self.app.price_grid[inst], self.app.qty_grid[inst]
        out = []
        for side, price in sorted(levels):
            etype = BID if side == 1 else OFFER
            if etype not in types:
                continue
            lvl = self.view.level(inst, side, price)
            action = DELETE if lvl is None else CHANGE
            out += [(279, action), (269, etype), (55, self.app.symbols[inst]),
                    (270, pg.text(price))]
            if lvl is not None:
                out += [(271, qg.text(lvl[0])), (346, str(lvl[1]).encode())]
        return out
