"""Engine.snapshot() / Engine.restore(): a restored engine is the same engine.

At many points of seeded workloads (every command kind, stops, OCO/OTO, icebergs; and the
exchange-core mix): the restored engine has the same state() and state_hash(), passes
check_invariants(), snapshots to the same bytes, and -- the real test, since state() does not show
book priority, links, ClOrdIDs or 128-bit sums -- emits exactly the same events as the original
for the whole rest of the stream.  Then everything a restore must refuse: damaged or truncated
bytes, other reference data, a pool too small, and well-framed but impossible contents.
"""
import dataclasses
import os
import struct
import subprocess
import sys
from pathlib import Path

import crc32c
import numpy as np
import pytest

from ordex.core.commands import ADMIN_SESSION, CommandKind, Limit, command, target
from ordex.core.events import EventKind
from ordex.core.lifecycle import OrderState
from ordex.core.reasons import Reason
from ordex.ext.engine import (SNAPSHOT_MAGIC, SNAPSHOT_VERSION, Engine, SnapshotError,
                              SnapshotMismatch, refdata_digest, snapshot_header)
from snapshot_workloads import exchange_core_commands, mixed_commands, refdata

MAX_ORDERS = 2048
HEADER = 64


def run_recording(engine, rows, step):
    """Apply rows in slices of `step`; returns the events of each slice."""
    out = []
    for start in range(0, len(rows), step):
        engine.apply(rows[start:start + step])
        out.append(engine.events_array())
        engine.clear_events()
    return out


def same_events(a: list, b: list) -> bool:
    """Field by field: np.concatenate leaves the padding bytes of aligned structs undefined."""
    a, b = np.concatenate(a), np.concatenate(b)
    return len(a) == len(b) and bool((a == b).all())


def coverage(engine):
    """What of the interesting state a snapshot at this point carries."""
    orders = [engine.order(o[0]) for o in engine.state()[2]]
    book = engine.book.resting_orders()
    return {"pending_stops": sum(o["state"] == OrderState.PENDING_TRIGGER for o in orders),
            "oco_or_oto_links": sum(bool(o["link"] or o["oto_child"]) for o in orders),
            "iceberg_reserve": int((book["hidden"] > 0).sum()),
            "partial_fills": sum(o["state"] == OrderState.PARTIALLY_FILLED for o in orders)}


def workloads():
    return {"mixed-1": (refdata(), mixed_commands(3000, seed=1)),
            "mixed-2": (refdata(), mixed_commands(3000, seed=2)),
            "exchange-core": exchange_core_commands(3000)}


@pytest.mark.parametrize("name", ["mixed-1", "mixed-2", "exchange-core"])
def test_restored_engine_has_the_same_state_and_future(name):
    rd, rows = workloads()[name]
    step = 150
    reference = Engine(rd, max_orders=MAX_ORDERS)
    events = run_recording(reference, rows, step)
    original = Engine(rd, max_orders=MAX_ORDERS)
    seen = {}
    for k, start in enumerate(range(0, len(rows), step)):
        snap = original.snapshot(start)
        restored = Engine.restore(rd, snap)
        assert restored.state() == original.state()
        assert restored.state_hash() == original.state_hash()
        restored.check_invariants()
        assert restored.snapshot(start) == snap
        assert snapshot_header(snap).seq == start
        for key, n in coverage(original).items():
            seen[key] = seen.get(key, 0) + n
        # The rest of the stream, on the restored engine, in other slices than the original's.
        later = run_recording(restored, rows[start:], 97)
        assert same_events(later, events[k:])
        assert restored.state_hash() == reference.state_hash()
        original.apply(rows[start:start + step])
        original.clear_events()
    assert original.state_hash() == reference.state_hash()
    if name.startswith("mixed"):
        assert all(seen.values()), f"snapshots never carried some state: {seen}"


def test_restore_twice_in_a_row_and_with_a_larger_pool():
    rd, rows = refdata(), mixed_commands(2000, seed=3)
    eng = Engine(rd, max_orders=MAX_ORDERS)
    eng.apply(rows[:1200])
    eng.clear_events()
    snap = eng.snapshot(1200)
    twice = Engine.restore(rd, Engine.restore(rd, snap).snapshot(1200))
    bigger = Engine.restore(rd, snap, max_orders=4 * MAX_ORDERS)
    for e in (twice, bigger):
        assert e.state_hash() == eng.state_hash()
    tails = []
    for e in (eng, twice, bigger):
        e.apply(rows[1200:])
        tails.append(e.events_array())
    assert same_events([tails[0]], [tails[1]]) and same_events([tails[0]], [tails[2]])


def test_pending_events_are_not_part_of_the_state():
    rd, rows = refdata(), mixed_commands(300, seed=4)
    eng = Engine(rd, max_orders=MAX_ORDERS)
    eng.apply(rows)
    assert eng.event_count > 0
    with_events = eng.snapshot(300)
    eng.clear_events()
    assert eng.snapshot(300) == with_events
    assert Engine.restore(rd, with_events).event_count == 0


def test_a_full_order_pool_is_restored_full():
    rd, rows = refdata(), mixed_commands(1500, seed=5)
    small = Engine(rd, max_orders=24)
    small.apply(rows)
    small.clear_events()
    restored = Engine.restore(rd, small.snapshot(1500))
    more = mixed_commands(2500, seed=5)[1500:]
    small.apply(more)
    restored.apply(more)
    assert same_events([small.events_array()], [restored.events_array()])


# ---------------------------------------------------------------------- refusals

@pytest.fixture(scope="module")
def snap():
    rd, rows = refdata(), mixed_commands(1500, seed=7)
    eng = Engine(rd, max_orders=MAX_ORDERS)
    eng.apply(rows)
    eng.clear_events()
    assert eng.order_count > 5
    return eng.snapshot(1500)


def test_other_reference_data_is_refused_by_name(snap):
    other = refdata(balance_override="123")
    assert refdata_digest(other) != refdata_digest(refdata())
    with pytest.raises(SnapshotMismatch, match="different reference data"):
        Engine.restore(other, snap)


def test_reference_data_digest_is_the_same_in_every_process():
    """Restart means a new process with a new string-hash seed: sets of names iterate in another
    order there, and the digest must not notice."""
    script = ("import sys; sys.path.insert(0, %r); from snapshot_workloads import refdata; "
              "from ordex.ext.engine import refdata_digest; print(refdata_digest(refdata()).hex())"
              % str(Path(__file__).parent))
    digests = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              check=True, env={**os.environ, "PYTHONHASHSEED": str(seed)}
                              ).stdout.strip() for seed in (1, 2, 3)}
    assert digests == {refdata_digest(refdata()).hex()}


def test_reference_data_digest_sees_every_value():
    a, b = refdata(), refdata()
    assert refdata_digest(a) == refdata_digest(b)
    b.instruments[0] = dataclasses.replace(b.instruments[0], band_bps=1)
    assert refdata_digest(a) != refdata_digest(b)
    c = refdata()
    c.sessions[1] = dataclasses.replace(c.sessions[1], accounts=frozenset({"bob"}))
    assert refdata_digest(a) != refdata_digest(c)


@pytest.mark.parametrize("where", [0, 9, 17, 40, HEADER + 3, HEADER + 200, "middle", -20, -1])
def test_a_flipped_byte_anywhere_is_refused(snap, where):
    data = bytearray(snap)
    i = len(data) // 2 if where == "middle" else where
    data[i] ^= 0x40
    with pytest.raises(SnapshotError):
        Engine.restore(refdata(), bytes(data))


@pytest.mark.parametrize("keep", [0, 10, HEADER, HEADER + 4, HEADER + 100, "half", -4, -1])
def test_truncated_data_is_refused(snap, keep):
    n = len(snap) // 2 if keep == "half" else keep % len(snap)
    with pytest.raises(SnapshotError, match="truncated|not even a header"):
        Engine.restore(refdata(), snap[:n])


def test_other_formats_are_refused(snap):
    with pytest.raises(SnapshotError, match="not a snapshot"):
        Engine.restore(refdata(), b"JUNKJUNK" + snap[8:])
    newer = bytearray(snap)
    newer[8:10] = struct.pack("<H", SNAPSHOT_VERSION + 1)
    with pytest.raises(SnapshotError, match=f"format version {SNAPSHOT_VERSION + 1}"):
        Engine.restore(refdata(), resealed(newer))


def set_limit(eng, seq, limit, value, account=0, instrument=0, session=0):
    row = command(CommandKind.SET_LIMIT, seq=seq, ts_ns=seq, session=ADMIN_SESSION, status=limit,
                  account=account, instrument=instrument, target_session=target(session),
                  qty=value, clordid="adm:t")
    eng.apply(row)
    events = eng.events_array()
    eng.clear_events()
    assert events["kind"].tolist() == [EventKind.LIMIT_SET], events
    return events[0]


def test_changed_limits_survive_a_snapshot_and_are_enforced_after_it():
    rd = refdata()
    eng = Engine(rd, max_orders=64)
    before = eng.limits()
    set_limit(eng, 1, Limit.MAX_POSITION, 7_000, account=1, instrument=1)
    set_limit(eng, 2, Limit.MAX_ORDER_QTY, 30, instrument=1)
    set_limit(eng, 3, Limit.MAX_NOTIONAL, 123_456, instrument=2)
    set_limit(eng, 4, Limit.COLLAR_BPS, 75, instrument=0)
    set_limit(eng, 5, Limit.REF_MAX_AGE, 999, instrument=2)
    set_limit(eng, 6, Limit.THROTTLE, 3, session=0)
    after = eng.limits()
    assert after != before
    assert after[0][1][0] == 30 and after[0][2][1] == 123_456 and after[0][0][2] == 75
    assert after[0][2][3] == 999 and after[1][1][1] == 7_000 and after[2][0] == 3
    data = eng.snapshot(6)
    restored = Engine.restore(rd, data)
    assert restored.limits() == after and restored.state() == eng.state()
    assert restored.snapshot(6) == data
    # enforced at the new value: 40 BBB is above the new max order quantity of 30 (4 lots)
    big = command(CommandKind.NEW_ORDER, seq=7, ts_ns=7, session=0, account=0, instrument=1,
                  side=1, ord_type=2, tif=1, price=5_000, qty=40, clordid="big")
    for e in (eng, restored):
        e.apply(big.copy())
        assert [(int(x["kind"]), int(x["reason"])) for x in e.events_array()] == \
            [(EventKind.REJECTED, Reason.QTY_ABOVE_MAX)]
        e.clear_events()


def test_a_version_1_snapshot_restores_with_the_reference_datas_limits():
    """Version 1 (before SET_LIMIT) had no LIMT section: such a snapshot still restores, with
    the limits the reference data gives, so an upgrade does not need a replay from the start."""
    rd = refdata()
    rows = mixed_commands(800, seed=3)
    eng = Engine(rd, max_orders=MAX_ORDERS)
    eng.apply(rows[rows["kind"] != CommandKind.SET_LIMIT].copy())
    eng.clear_events()
    assert eng.order_count > 5
    snap = eng.snapshot(800)
    start, size, count = sections(snap)[b"LIMT"]
    old = bytearray(snap[:start - 16] + snap[start + size * count:])
    old[8:10] = struct.pack("<H", 1)
    struct.pack_into("<Q", old, 24, len(old) - HEADER - 4)            # body bytes
    v1 = resealed(old)
    assert snapshot_header(v1).version == 1
    restored = Engine.restore(rd, v1)
    assert restored.state() == eng.state() and restored.limits() == Engine(rd).limits()
    assert restored.snapshot(800) == snap                              # written as version 2


def test_a_negative_limit_in_a_snapshot_is_refused(snap):
    with pytest.raises(SnapshotError, match="negative risk limit"):
        Engine.restore(refdata(), patched(snap, b"LIMT", 1, 0, "<q", -5))


def test_a_pool_too_small_is_refused(snap):
    with pytest.raises(SnapshotError, match="max_orders 4 is too small"):
        Engine.restore(refdata(), snap, max_orders=4)


def resealed(data: bytearray) -> bytes:
    """Data with a recomputed CRC: framing valid, contents as given."""
    data = bytes(data[:-4])
    return data + struct.pack("<I", crc32c.crc32c(data))


def sections(data: bytes) -> dict:
    """tag -> (offset of the items, item size, count)."""
    out, at = {}, HEADER
    while at < len(data) - 4:
        tag, size, count = struct.unpack_from("<4sIQ", data, at)
        out[tag] = (at + 16, size, count)
        at += 16 + size * count
    return out


def patched(snap, tag, item, offset, fmt, value):
    data = bytearray(snap)
    start, size, count = sections(snap)[tag]
    assert item < count
    struct.pack_into(fmt, data, start + item * size + offset, value)
    return resealed(data)


@pytest.mark.parametrize("tag,item,offset,fmt,value,message", [
    (b"SCAL", 0, 0, "<q", 0, "counters out of range"),
    (b"SCAL", 0, 7 * 8, "<q", 99, "dimensions"),
    (b"INST", 0, 0, "<q", 7, "status 7 unknown"),
    (b"SESS", 0, 16, "<q", -1, "negative token count"),
    (b"ORDR", 0, 0, "<q", 10**9, "out of order or not yet issued"),
    (b"ORDR", 1, 0, "<q", 1, "out of order"),
    (b"ORDR", 0, 15 * 8 + 4, "<i", 77, "account 77"),
    (b"ORDR", 0, 15 * 8 + 12 + 3, "<B", 3, "state 3"),
    (b"CLID", 0, 8, "<i", 55, "session 55"),
    (b"BOOK", 0, 8, "<q", 3, "book|differs"),
    (b"BOOK", 0, 16, "<q", 0, "impossible quantities"),
])
def test_impossible_contents_are_refused_with_a_reason(snap, tag, item, offset, fmt, value,
                                                       message):
    with pytest.raises(SnapshotError, match=message):
        Engine.restore(refdata(), patched(snap, tag, item, offset, fmt, value))


def test_a_stop_list_naming_a_resting_order_is_refused(snap):
    rd = refdata()
    eng = Engine.restore(rd, snap)
    stops = sections(snap)[b"STOP"]
    resting = eng.book.resting_orders()
    assert stops[2] and len(resting), "the fixture must hold a pending stop and a resting order"
    data = bytearray(snap)
    struct.pack_into("<q", data, stops[0], int(resting["id"][0]))
    with pytest.raises(SnapshotError, match="cannot be a pending stop"):
        Engine.restore(rd, resealed(data))


def test_section_out_of_place_is_refused(snap):
    data = bytearray(snap)
    start = sections(snap)[b"FEES"][0] - 16
    data[start:start + 4] = b"XXXX"
    with pytest.raises(SnapshotError, match="where FEES"):
        Engine.restore(refdata(), resealed(data))


def test_snapshot_arguments(snap):
    eng = Engine(refdata(), max_orders=16)
    with pytest.raises(ValueError, match="must not be negative"):
        eng.snapshot(-1)
    with pytest.raises(TypeError):
        eng.snapshot(1.5)
    assert snap[:8] == SNAPSHOT_MAGIC
