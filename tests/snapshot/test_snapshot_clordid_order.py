"""The snapshot's CLID section lists the ClOrdID entries in the order the engine recorded them
(its arena: a sequential copy, where the table's slot order read it at random), across table
growth and PURGE_CLORDIDS; restoring puts them back so that the restored engine snapshots to the
same bytes and behaves the same from then on, and a snapshot whose entries come in another order
(the slot order older builds wrote) still restores to the same ClOrdIDs."""
import struct

import numpy as np

from ordex.core.commands import ADMIN_SESSION, CLORDID_LEN, CommandKind, command
from ordex.ext.engine import Engine
from snapshot_workloads import refdata

SECOND = 1_000_000_000
_HEADER = struct.Struct("<8sHHIqQ16s16x")
_SECTION = struct.Struct("<4sIQ")
_ROW = struct.Struct(f"<qi{CLORDID_LEN}s")


def rows(commands, first_seq=1):
    out = np.concatenate(commands)
    out["seq"] = np.arange(first_seq, first_seq + len(out))
    out["ts_ns"] = SECOND + out["seq"]
    return out


def order(clordid, price, side=1):
    return command(CommandKind.NEW_ORDER, session=0, account=0, instrument=0, side=side,
                   ord_type=2, tif=1, price=price, qty=1, clordid=clordid)


def clid_section(snap: bytes) -> tuple[int, int, list[tuple[int, int, bytes]]]:
    """(offset of the first row, row size, rows) of the CLID section."""
    at = _HEADER.size
    while True:
        tag, size, count = _SECTION.unpack_from(snap, at)
        at += _SECTION.size
        if tag == b"CLID":
            assert size == _ROW.size
            return at, size, [(oid, sess, cl.rstrip(b"\0"))
                              for oid, sess, cl in _ROW.iter_unpack(snap[at:at + size * count])]
        at += size * count


def day():
    # 5000 orders (the table grows from 1024 slots several times), then half of them cancelled
    cmds = [order(f"o{k}", 9_000 + k % 50) for k in range(5000)]
    cmds += [command(CommandKind.CANCEL, session=0, clordid=f"x{k}", orig_clordid=f"o{k}")
             for k in range(0, 5000, 2)]
    return cmds


def test_clid_rows_in_recording_order_and_round_trip():
    first = rows(day())
    eng = Engine(refdata(), max_orders=16384)
    eng.apply(first)
    eng.clear_events()
    snap = eng.snapshot(len(first))
    _, _, clid = clid_section(snap)
    expected = [f"o{k}".encode() for k in range(5000)] + [f"x{k}".encode() for k in range(0, 5000, 2)]
    assert [cl for _, _, cl in clid] == expected
    restored = Engine.restore(refdata(), snap)
    assert restored.snapshot(len(first)) == snap
    assert restored.clordid_stats() == eng.clordid_stats()
    # the same further commands (a duplicate, a cancel by an old ClOrdID, new orders) give the
    # same events and the same snapshot on both
    more = rows([order("o7", 9_100), command(CommandKind.CANCEL, session=0, clordid="y1",
                                            orig_clordid="o9")]
                + [order(f"n{k}", 9_000 + k % 40) for k in range(3000)], len(first) + 1)
    eng.apply(more)
    restored.apply(more)
    assert restored.take_events() == eng.take_events()
    last = len(first) + len(more)
    assert restored.snapshot(last) == eng.snapshot(last)


def test_after_a_purge_the_kept_entries_in_their_order():
    cmds = day() + [command(CommandKind.PURGE_CLORDIDS, session=ADMIN_SESSION, clordid="adm:eod")]
    first = rows(cmds)
    eng = Engine(refdata(), max_orders=16384)
    eng.apply(first)
    eng.clear_events()
    snap = eng.snapshot(len(first))
    kept = [cl for _, _, cl in clid_section(snap)[2]]
    assert kept == [f"o{k}".encode() for k in range(1, 5000, 2)]     # the live orders' ClOrdIDs
    assert Engine.restore(refdata(), snap).snapshot(len(first)) == snap


def test_rows_in_another_order_restore_the_same_clordids():
    first = rows(day())
    eng = Engine(refdata(), max_orders=16384)
    eng.apply(first)
    eng.clear_events()
    snap = bytearray(eng.snapshot(len(first)))
    at, size, clid = clid_section(bytes(snap))
    order_ = np.random.default_rng(7).permutation(len(clid))
    for k, j in enumerate(order_.tolist()):
        _ROW.pack_into(snap, at + k * size, clid[j][0], clid[j][1], clid[j][2])
    crc_at = len(snap) - 4
    import crc32c
    struct.pack_into("<I", snap, crc_at, crc32c.crc32c(bytes(snap[:crc_at])))
    restored = Engine.restore(refdata(), bytes(snap))
    assert restored.clordids() == eng.clordids()
    more = rows([order("o11", 9_100), order("fresh", 9_100),
                 command(CommandKind.CANCEL, session=0, clordid="y2", orig_clordid="o13")],
                len(first) + 1)
    eng.apply(more)
    restored.apply(more)
    assert restored.take_events() == eng.take_events()
