"""STATUS_CHANGED events and PURGE_CLORDIDS (a trading day for ClOrdID uniqueness), on both engines.

Expected events were derived by hand from ext/engine.pyi (SET_STATUS, PURGE_CLORDIDS, Identity).
"""
import numpy as np
import pytest

from engine_helpers import (AAA, BOB, S0, S1, accepted, briefs, cancel_rejected, only,
                            refdata, rejected, unchanged, ENGINES)
from ordex.core.commands import ADMIN_SESSION, CommandKind, command
from ordex.core.events import EventKind as K
from ordex.core.lifecycle import OrderState as St
from ordex.core.reasons import Reason as R


def purge(eng, session=ADMIN_SESSION, clordid="adm:eod"):
    return eng.send(CommandKind.PURGE_CLORDIDS, session=session, clordid=clordid)


def set_status(eng, instrument, status, session=ADMIN_SESSION, clordid="adm:olivia"):
    return eng.send(CommandKind.SET_STATUS, instrument=instrument, status=status,
                    session=session, clordid=clordid)


# ---- STATUS_CHANGED ------------------------------------------------------------------------

def test_status_change_is_an_event_with_actor_and_previous_status(eng):
    e = only(set_status(eng, AAA, 1), K.STATUS_CHANGED)
    assert (e.instrument, e.qty, e.last_qty, e.session, e.order_id, e.reason) == \
        (AAA, 1, 0, ADMIN_SESSION, 0, 0)
    assert e.clordid == b"adm:olivia"
    assert eng.engine.instrument_status(AAA) == 1
    e = only(set_status(eng, AAA, 0, clordid="sched"), K.STATUS_CHANGED)
    assert (e.qty, e.last_qty, e.clordid) == (0, 1, b"sched")


def test_same_status_or_bad_target_emits_nothing_and_changes_nothing(eng):
    set_status(eng, AAA, 1)
    before = eng.engine.state()
    assert set_status(eng, AAA, 1) == []                   # already halted
    assert set_status(eng, AAA, 3) == []                   # no such status
    assert set_status(eng, 9, 1) == []                     # no such instrument
    assert eng.engine.state() == before


def test_close_reports_the_change_before_the_expiries(eng):
    from ordex.core.commands import Tif
    oid = accepted(eng.buy(1, 100, tif=Tif.DAY))
    events = set_status(eng, AAA, 2)
    assert [(x[0], x[1]) for x in briefs(events)] == [("STATUS_CHANGED", 0), ("EXPIRED", oid)]
    assert (events[0].qty, events[0].last_qty) == (2, 0)
    assert set_status(eng, AAA, 2) == []                   # closed again: nothing left to expire


# ---- PURGE_CLORDIDS ------------------------------------------------------------------------

def test_only_the_admin_may_purge(eng):
    accepted(eng.buy(1, 100, clordid="a1"))
    before = eng.engine.state()
    e = only(purge(eng, session=S0, clordid="x"), K.ADMIN_REJECTED)
    assert (e.reason, e.session, e.clordid) == (R.NOT_ADMIN, S0, b"x")
    unchanged(before, eng.engine.state())
    assert eng.engine.state()[9] == before[9] == 1         # entries recorded
    rejected(eng.buy(1, 100, clordid="a1"), R.DUPLICATE_CLORDID)


def test_reuse_after_purge_but_live_orders_keep_their_clordids(eng):
    done = accepted(eng.buy(1, 100, clordid="done"))
    eng.cancel(done, clordid="done-x")                      # finished: both forgettable
    live = accepted(eng.buy(2, 90, clordid="live"))
    eng.replace(live, qty=3, price=90, clordid="live-2")    # live: old and new name it
    rejected(eng.buy(0, 100, clordid="bad"), R.INVALID_QTY)  # rejected: gets an id, forgettable
    cancel_rejected(eng.cancel(orig_clordid="nope", clordid="unresolved"), R.UNKNOWN_ORDER)
    other = accepted(eng.buy(1, 80, session=S1, account=BOB, clordid="live"))   # same text, S1
    assert eng.engine.state()[9] == 7

    e = only(purge(eng), K.CLORDIDS_PURGED)
    assert (e.qty, e.leaves, e.session, e.clordid) == (4, 3, ADMIN_SESSION, b"adm:eod")
    assert eng.engine.clordids() == ((S0, b"live", live), (S0, b"live-2", live),
                                     (S1, b"live", other))
    assert eng.engine.state()[9] == 3

    # forgotten: usable again, and a finished order is now unknown (not ORDER_DONE)
    accepted(eng.buy(1, 101, clordid="done"))
    accepted(eng.buy(1, 102, clordid="bad"))
    cancel_rejected(eng.cancel(orig_clordid="done-x", clordid="c-a"), R.UNKNOWN_ORDER)
    # still live: both names stay duplicates and still resolve
    rejected(eng.buy(1, 100, clordid="live"), R.DUPLICATE_CLORDID)
    cancel_rejected(eng.cancel(orig_clordid="live", clordid="live-2"), R.DUPLICATE_CLORDID)
    events = eng.cancel(orig_clordid="live", clordid="live-3")      # the previous name works
    assert briefs(events) == [("CANCELLED", live, St.CANCELLED, 0, 0, 0, R.USER_CANCEL)]
    assert (events[0].clordid, events[0].orig_clordid) == (b"live-3", b"live-2")


def test_pending_orders_keep_their_clordids(eng):
    from ordex.core.commands import OrdType
    stop = accepted(eng.buy(1, 0, ord_type=OrdType.STOP, stop_price=150, clordid="stop"))
    assert eng.engine.order(stop)["state"] == St.PENDING_TRIGGER
    purge(eng)
    rejected(eng.buy(1, 100, clordid="stop"), R.DUPLICATE_CLORDID)
    events = eng.cancel(orig_clordid="stop", clordid="stop-x")
    assert briefs(events)[0][:2] == ("CANCELLED", stop)


def test_purge_twice_and_on_an_empty_table(eng):
    e = only(purge(eng), K.CLORDIDS_PURGED)
    assert (e.qty, e.leaves) == (0, 0)
    accepted(eng.buy(1, 100, clordid="a"))
    assert (only(purge(eng)).qty, only(purge(eng)).qty) == (0, 0)     # a live order: kept
    assert eng.engine.clordids()[0][1] == b"a"


def test_both_engines_agree_on_a_purged_stream():
    """The same commands, purges included, on both engines: events, state (with the entry
    count), and the recorded ClOrdIDs agree; replaying gives the same hash."""
    import random
    rng = random.Random(7)
    rows = []
    for k in range(1, 1201):
        if k % 300 == 0:
            rows.append(command(CommandKind.PURGE_CLORDIDS, session=ADMIN_SESSION, clordid=f"d{k}"))
            continue
        cid = f"c{rng.randrange(250)}"                      # reuse: duplicates within a day
        r = rng.random()
        if r < 0.6:
            rows.append(command(CommandKind.NEW_ORDER, session=S0, account=0, instrument=AAA,
                                side=rng.choice((1, 2)), ord_type=2, tif=1, qty=rng.randint(1, 5),
                                price=rng.randint(95, 105), clordid=cid))
        elif r < 0.8:
            rows.append(command(CommandKind.CANCEL, session=S0, clordid=cid,
                                orig_clordid=f"c{rng.randrange(250)}"))
        else:
            rows.append(command(CommandKind.REPLACE, session=S0, clordid=cid,
                                orig_clordid=f"c{rng.randrange(250)}", qty=rng.randint(1, 6),
                                price=rng.randint(95, 105)))
    rows = np.concatenate(rows)
    rows["seq"] = np.arange(1, len(rows) + 1)
    rows["ts_ns"] = 10 ** 9 + rows["seq"] * 1000
    hashes = []
    results = {}
    for name in ("reference", "compiled", "compiled"):
        e = ENGINES[name]()(refdata(), max_orders=4096)
        events = []
        for k in range(len(rows)):
            e.apply(rows[k:k + 1].copy())
            events += e.take_events()
        e.check_invariants()
        results[name] = (events, e.state(), e.clordids())
        hashes.append(e.state_hash())
    assert results["reference"] == results["compiled"]
    assert len(set(hashes)) == 1
    purged = [ev for ev in results["compiled"][0] if ev[18] == K.CLORDIDS_PURGED]
    assert len(purged) == 4 and all(ev[7] > 0 for ev in purged)     # each forgot something
    reused = [ev for ev in results["compiled"][0] if ev[18] == K.NEW]
    dups = [ev for ev in results["compiled"][0]
            if ev[18] == K.REJECTED and ev[17] == R.DUPLICATE_CLORDID]
    assert reused and dups


def test_compiled_table_is_reused_not_grown():
    """The engine's own counters: entries drop to the live orders' names, the slot array and
    the arena keep their size, and a second day as large as the first grows neither."""
    from ordex.ext.engine import Engine
    from engine_helpers import Driver
    eng = Driver(Engine(refdata(), max_orders=1 << 14))
    def day(tag, n):
        for k in range(n):
            eng.buy(1, 50 + k % 20, clordid=f"{tag}{k}")
            eng.cancel(orig_clordid=f"{tag}{k}", clordid=f"{tag}x{k}")
    day("a", 3000)
    accepted(eng.buy(1, 10, clordid="keep"))
    first = eng.engine.clordid_stats()
    assert first["entries"] == 6001 and first["slots"] >= 2 * 6001
    purge(eng)
    after = eng.engine.clordid_stats()
    assert after["entries"] == 1
    assert (after["slots"], after["arena_capacity"], after["bytes"]) == \
        (first["slots"], first["arena_capacity"], first["bytes"])
    day("a", 3000)                                           # yesterday's names are free again
    assert eng.engine.clordid_stats() == dict(first)
