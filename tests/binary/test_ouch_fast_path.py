"""The one-user reply path (OuchGateway._one_user_events: one order's events written, stored and
sent in one call into C, ext/ouch_out.encode_one_user) against the general path it short-cuts.

One scenario -- resting orders, fills within one user and across two, a partial fill, an IOC
remainder, cancels, a cancel of an unknown order, engine and gateway rejects -- runs three ways on
a server whose clock stands still (so that every run stamps the same ts_ns):
    each message its own read (the fast path answers what it can),
    each message its own read with the fast path switched off (the general path answers all),
    each run of one user's consecutive messages as one read (batches of several orders).
Every run must write the same Sequenced Data to each client, store the same messages, and
journal the same commands; in `none` durability (each read's replies within the read) and in
`fsync` (the reads of one loop iteration released together by one sync, several batches per user
pending at once)."""
from __future__ import annotations

import asyncio

import pytest

from ordex.core.events import EventKind
from binary_helpers import LOOPS, MSFT, PX, binary_config, ouch, record_writes, run, settle
from ordex.gateway.binary.gateway import BinaryGateway
from ordex.gateway.server import Server

T0 = 1_765_000_000_123_456_789        # a fixed ts_ns: the runs must stamp the same times


def scenario(c1, c2) -> list[tuple[str, bytes]]:
    """(user, packet) steps; c1/c2 only encode (MM1 and MM2)."""
    s = []
    # replies the gateway gives itself go out before those of the read's batch: at the start of
    # a run of one user's messages, batching does not reorder them
    s += [("MM1", c1.cancel_bytes(99)),                               # not live: Cancel Reject
          ("MM1", c1.enter_bytes(5, "B", 10, "NOPE", PX)),            # gateway reject (symbol)
          ("MM1", c1.enter_bytes(1, "S", 100, MSFT, PX + 100)),       # rests
          ("MM1", c1.enter_bytes(2, "S", 100, MSFT, PX + 200)),       # rests
          ("MM1", c1.enter_bytes(3, "B", 40, MSFT, PX + 100)),        # fills within MM1
          ("MM1", c1.enter_bytes(4, "B", 10, MSFT, PX - 5000)),       # rests far away
          ("MM1", c1.cancel_bytes(4)),                                # cancelled
          ("MM1", c1.enter_bytes(6, "B", 1_000_000, MSFT, PX)),       # engine reject (max qty)
          ("MM2", c2.enter_bytes(1, "B", 30, MSFT, PX + 100)),        # fills against MM1
          ("MM2", c2.enter_bytes(2, "B", 500, MSFT, PX + 200, tif="3")),   # IOC: fills, rest off
          ("MM2", c2.enter_bytes(3, "S", 10, MSFT, PX + 300)),
          ("MM2", c2.enter_bytes(4, "B", 5, MSFT, PX + 300)),         # fills within MM2
          ("MM2", c2.enter_bytes(5, "B", 7, MSFT, PX + 300)),         # rest of 3, rests
          ("MM2", c2.cancel_bytes(5)),
          ("MM1", c1.enter_bytes(7, "B", 20, MSFT, PX + 100)),
          ("MM1", c1.enter_bytes(8, "S", 20, MSFT, PX + 100)),        # fills within MM1
          ("MM1", c1.enter_bytes(9, "B", 20, MSFT, PX + 100, tif="3"))]   # IOC: nothing to fill
    return s


def sequenced(data: bytes) -> list[bytes]:
    """The Sequenced Data packets in data (heartbeats and other packets left out)."""
    out, i = [], 0
    while i + 2 <= len(data):
        end = i + 2 + int.from_bytes(data[i:i + 2], "big")
        if data[i + 2:i + 3] == b"S":
            out.append(data[i:end])
        i = end
    return out


def quote_scenario(c1, c2) -> list[tuple[str, bytes]]:
    """A market maker's Mass Quotes (MM1) and an order flow that hits them (MM2): new sides,
    requotes of live sides (replaced), of sides filled in between (new orders), reductions,
    zero-quantity withdrawals, gateway rejects, requotes that cross and trade, a quote
    side's reduction through Cancel Order (Canceled U) and a full cancel."""
    q = c1.mass_quote_bytes
    s = []
    s += [("MM1", q(1, [(MSFT, 1, PX - 100, 10, 2, PX + 100, 10),
                        ("AAPL", 3, 1_490_000, 5, 4, 1_510_000, 5)])),
          ("MM1", q(2, [(MSFT, 5, PX - 200, 8, 6, PX + 200, 8),           # both replaced
                        ("AAPL", 7, 1_490_000, 6, 8, 1_510_000, 6)])),
          ("MM2", c2.enter_bytes(1, "B", 8, MSFT, PX + 200)),             # takes ask 6 whole
          ("MM2", c2.enter_bytes(2, "S", 2, "AAPL", 1_490_000)),          # part of bid 7
          ("MM1", q(3, [(MSFT, 9, PX - 200, 6, 10, PX + 300, 9),          # 9 reduces, 10 new
                        ("AAPL", 11, 1_490_000, 9, 12, 1_510_000, 0)])),  # ask 8 withdrawn
          ("MM1", q(4, [(MSFT, 13, PX - 250 + 1, 6, 14, PX + 300, 9),     # 13 off the grid
                        ("AAPL", 15, 0, 0, 16, 0, 0)])),                  # both withdrawn
          ("MM1", q(5, [(MSFT, 17, PX - 100, 10, 18, PX + 200, 10)])),    # bid new (9 gone)
          ("MM2", c2.enter_bytes(3, "S", 4, MSFT, PX - 100)),             # part of bid 17
          ("MM2", c2.enter_bytes(4, "S", 10, MSFT, PX + 100)),            # rests inside
          ("MM1", q(6, [(MSFT, 19, PX + 100, 4, 20, PX + 300, 10)])),     # bid crosses: trades
          ("MM1", q(7, [(MSFT, 21, PX + 100, 10, 22, PX + 300, 10)])),    # trades again, rests
          ("MM1", c1.cancel_bytes(21, 3)),            # below the filled 6: refused, cancelled
          ("MM1", c1.cancel_bytes(22, 4)),                                # reduced: Canceled U
          ("MM1", c1.cancel_bytes(22)),                                   # and cancelled
          ("MM2", c2.enter_bytes(5, "S", 30, MSFT, PX + 200)),
          ("MM1", q(8, [(MSFT, 23, PX - 100, 5, 24, PX + 100, 5),
                        ("AAPL", 25, 1_490_000, 5, 26, 1_510_000, 5)])),
          ("MM2", c2.enter_bytes(6, "B", 5, MSFT, PX + 100)),             # fills ask 24
          ("MM2", c2.enter_bytes(7, "S", 2, "AAPL", 1_490_000)),          # part of bid 25
          ("MM1", q(9, [(MSFT, 27, PX - 100, 0, 28, PX + 100, 0)]))]      # withdrawn
    return s


async def one_run(tmp_path, how: str, durability: str, steps_of=scenario, mm1: str = "") -> dict:
    cfg = binary_config(tmp_path, durability=durability, mm1=mm1)
    server = Server(cfg, clock_ns=lambda: T0)
    gw = BinaryGateway(cfg)
    server.gateways.append(gw)
    await server.start()
    used = []
    try:
        if how.endswith("general"):
            gw.ouch._one_user_events = lambda events: False
        else:
            real = gw.ouch._one_user_events

            def counting(events):
                took = real(events)
                used.append((took, frozenset(events["kind"].tolist())))
                return took
            gw.ouch._one_user_events = counting
        c1, c2 = await ouch(gw, "MM1"), await ouch(gw, "MM2")
        written = {"MM1": [], "MM2": []}
        conns = {u: gw.ouch.users[u].conn for u in written}
        for u, conn in conns.items():
            record_writes(conn, written[u])
        steps = steps_of(c1, c2)
        if how.startswith("batched"):
            merged: list[tuple[str, bytes]] = []
            for user, pkt in steps:
                if merged and merged[-1][0] == user:
                    merged[-1] = (user, merged[-1][1] + pkt)
                else:
                    merged.append((user, pkt))
            steps = merged
        for user, pkt in steps:       # in fsync all at once: one sync releases every batch
            conns[user].data_received(pkt)
        await settle(server)
        out = {"used": used}
        for u in written:
            out[u] = sequenced(b"".join(written[u]))
            out[u + " store"] = sequenced(b"".join(gw.ouch.users[u].store.read_from(1)))
        for u in written:
            user = gw.ouch.users[u]
            out[u + " state"] = (sorted(user.terms.items()), sorted(user.quotes.current()),
                                 sorted(user.quotes.refs()), list(user.quote_acks),
                                 user.tripped)
        out["journal"] = [(seq, rtype, ts, payload)
                          for seq, rtype, ts, payload in server.journal.read(0)]
        c1.close()
        c2.close()
        return out
    finally:
        await server.stop()


@pytest.mark.parametrize("durability", ["none", "fsync"])
@pytest.mark.parametrize("loop_kind", LOOPS)
def test_fast_path_replies_store_and_journal_match_the_general_path(tmp_path, loop_kind,
                                                                     durability):
    runs = {}
    for how in ("fast", "general", "batched"):
        runs[how] = run(loop_kind, one_run(tmp_path / how, how, durability))
    fast, general, batched = runs["fast"], runs["general"], runs["batched"]
    # the scenario exercises both paths, and every reply kind the fast path writes
    took = [t for t, _ in fast["used"]]
    assert any(took) and not all(took)
    kinds = {p[3:4] for u in ("MM1", "MM2") for p in fast[u]}
    assert {b"A", b"E", b"C", b"J", b"I"} <= kinds, kinds
    for key in ("MM1", "MM2", "MM1 store", "MM2 store", "MM1 state", "MM2 state", "journal"):
        assert fast[key] == general[key], key
        assert fast[key] == batched[key], key
    for u in ("MM1", "MM2"):
        assert fast[u] == fast[u + " store"][-len(fast[u]):]   # sent = stored (after login)


@pytest.mark.parametrize("durability", ["none", "fsync"])
@pytest.mark.parametrize("mm1", ["", "protection_fills = 4\nprotection_window_ms = 60000"],
                         ids=["plain", "protection"])
def test_fast_path_answers_mass_quotes_as_the_general_path_does(tmp_path, durability, mm1):
    """The quote scenario, fast path on and off: the same replies (Order Replaced / Accepted /
    Canceled / Executed, rejects, Mass Quote Acks in place), store, journal and order state
    (terms, quote sides); and the same with each run of one user's messages as one read.  With protection armed, the batches with fills go the general way (the
    trip and its mass cancel are the gateway's), the others still the fast one."""
    runs = {how: run("uvloop", one_run(tmp_path / how, how, durability, quote_scenario, mm1))
            for how in ("fast", "general", "batched", "batched general")}
    fast = runs["fast"]
    replaced = int(EventKind.REPLACED)
    took_quotes = [k for t, k in fast["used"] if t and replaced in k]
    assert took_quotes, fast["used"]           # Mass Quote batches with replaces went the C way
    kinds = {p[3:4] for p in fast["MM1"]}
    assert {b"A", b"U", b"C", b"E", b"J", b"q"} <= kinds, kinds
    if mm1:
        trade = int(EventKind.TRADE)
        assert fast["MM1 state"][-1]                          # protection tripped
        assert not any(t and trade in k for t, k in fast["used"][:1])
    for key in ("MM1", "MM2", "MM1 store", "MM2 store", "MM1 state", "MM2 state", "journal"):
        assert fast[key] == runs["general"][key], key
        # several Mass Quotes in one read: the gateway's own rejects go out first, so only the
        # two batched runs compare
        assert runs["batched"][key] == runs["batched general"][key], key
