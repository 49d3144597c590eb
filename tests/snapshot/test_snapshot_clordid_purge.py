"""Snapshots across PURGE_CLORDIDS: a table purged to a few entries but keeping its capacity round
trips exactly (same ClOrdIDs, same table size, same bytes again), and a restored engine treats
forgotten and kept ClOrdIDs exactly as the original does from then on."""
import numpy as np

from ordex.core.commands import ADMIN_SESSION, CommandKind, command
from ordex.core.events import EventKind
from ordex.ext.engine import Engine
from snapshot_workloads import refdata

SECOND = 1_000_000_000


def rows(commands):
    out = np.concatenate(commands)
    out["seq"] = np.arange(1, len(out) + 1)
    out["ts_ns"] = SECOND + out["seq"]
    return out


def order(clordid, price, side=1):
    return command(CommandKind.NEW_ORDER, session=0, account=0, instrument=0, side=side,
                   ord_type=2, tif=1, price=price, qty=1, clordid=clordid)


def test_purged_table_round_trips_and_behaves_the_same():
    day = [order(f"o{k}", 9_000 + k % 50) for k in range(3000)]
    day += [command(CommandKind.CANCEL, session=0, clordid=f"x{k}", orig_clordid=f"o{k}")
            for k in range(0, 3000, 2)]                          # half of them finished
    day.append(command(CommandKind.PURGE_CLORDIDS, session=ADMIN_SESSION, clordid="adm:eod"))
    first = rows(day)
    eng = Engine(refdata(), max_orders=8192)
    eng.apply(first)
    purged = [e for e in eng.take_events() if e[18] == EventKind.CLORDIDS_PURGED]
    assert [(e[7], e[10]) for e in purged] == [(3000, 1500)]      # o/x of cancelled ones gone
    stats = eng.clordid_stats()
    assert stats["entries"] == 1500 and stats["slots"] >= 2 * 4500   # capacity of the busy day

    snap = eng.snapshot(len(first))
    restored = Engine.restore(refdata(), snap)
    assert restored.clordids() == eng.clordids()
    assert restored.state() == eng.state()
    assert restored.clordid_stats() == stats
    assert restored.snapshot(len(first)) == snap

    # the next day: forgotten names are accepted, kept ones are duplicates and still resolve
    nxt = [order("o0", 8_000), order("x0", 8_001), order("o1", 8_002),
           command(CommandKind.CANCEL, session=0, clordid="y1", orig_clordid="o1"),
           command(CommandKind.CANCEL, session=0, clordid="y2", orig_clordid="x0")]
    nxt = np.concatenate(nxt)
    nxt["seq"] = np.arange(len(first) + 1, len(first) + 1 + len(nxt))
    nxt["ts_ns"] = SECOND + nxt["seq"]
    eng.apply(nxt)
    restored.apply(nxt.copy())
    a, b = eng.take_events(), restored.take_events()
    assert a == b
    assert [(EventKind(e[18]).name, e[17]) for e in a][:3] == [("NEW", 0), ("NEW", 0),
                                                            ("REJECTED", 113)]
    assert EventKind(a[3][18]).name == "CANCELLED"                # o1 is live: cancel by name
    assert eng.state_hash() == restored.state_hash()
