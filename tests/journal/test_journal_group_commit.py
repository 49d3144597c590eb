"""Group commit: one fdatasync per group, durable reports only after the sync that covers them,
groups handed over during a sync wait for the next one; batch and none modes; the event loop."""
from __future__ import annotations

import asyncio
import threading
from dataclasses import replace

import pytest

from journal_helpers import SMALL, FaultOps, RecordingOps
from ordex.core.journal import Journal, JournalBackpressure, JournalFailed, read_journal

FSYNC = replace(SMALL, durability="fsync")


class Recorder:
    """on_durable that logs into the same list as the ops, so the order of events is visible."""

    def __init__(self, ops: RecordingOps):
        self.ops = ops
        self.seqs: list[int] = []
        self.event = threading.Event()

    def __call__(self, seq: int) -> None:
        with self.ops.lock:
            self.ops.log.append(("durable", seq))
        self.seqs.append(seq)
        self.event.set()


def wait_for(predicate, timeout=10.0) -> None:
    done = threading.Event()
    for _ in range(int(timeout / 0.005)):
        if predicate():
            return
        done.wait(0.005)
    raise AssertionError("condition not reached")


def test_durable_only_after_sync_and_later_groups_wait_for_the_next(jdir):
    ops = RecordingOps(gate_syncs=True)
    rec = Recorder(ops)
    ops.sync_release.release()                           # segment creation syncs at open
    journal = Journal.open(jdir, FSYNC, on_durable=rec, file_ops=ops)
    try:
        for i in range(10):
            journal.append(1, i, b"a%d" % i)
        journal.flush()
        assert ops.sync_entered.acquire(timeout=10)      # (the open's)
        assert ops.sync_entered.acquire(timeout=10)      # the sync of group A has begun
        for i in range(10):
            journal.append(1, i, b"b%d" % i)             # group B, appended during that sync
        journal.flush()
        threading.Event().wait(0.05)
        assert rec.seqs == [] and journal.durable_seq == 0
        assert not journal.wait_durable(1, timeout=0.01)
        ops.sync_release.release()                       # A's sync completes
        wait_for(lambda: rec.seqs == [10])
        assert journal.durable_seq == 10
        assert ops.sync_entered.acquire(timeout=10)      # B gets its own sync
        assert rec.seqs == [10]
        ops.sync_release.release()
        wait_for(lambda: rec.seqs == [10, 20])
    finally:
        ops.gate_syncs = False
        ops.sync_release.release()
        journal.close()
    events = [e for e in ops.log if e[0] != "write" or e[1] >= 64]
    # Each durable report follows the sync that covers it; B is written only after A's sync.
    writes = [i for i, e in enumerate(events) if e[0] == "write"]
    syncs = [i for i, e in enumerate(events) if e[0] == "sync"]
    durables = [i for i, e in enumerate(events) if e[0] == "durable"]
    assert len(writes) == 2 and durables == [writes[0] + 2, writes[1] + 2]
    assert events[writes[0] + 1] == ("sync",) and events[writes[1] + 1] == ("sync",)
    assert syncs[-2:] == [writes[0] + 1, writes[1] + 1]


def test_one_sync_per_flushed_group(jdir):
    ops = RecordingOps()
    rec = Recorder(ops)
    config = replace(FSYNC, segment_bytes=1 << 20)    # no rotation, whose syncs would add up
    with Journal.open(jdir, config, on_durable=rec, file_ops=ops) as journal:
        base = ops.syncs()
        for group in range(5):
            for i in range(100):
                journal.append(2, i, b"x" * 20)
            journal.flush()
            assert journal.wait_durable(journal.next_seq - 1, 10)
        assert ops.syncs() - base == 5
        assert rec.seqs == [100, 200, 300, 400, 500]


def test_batch_mode_syncs_on_an_interval(jdir):
    ops = RecordingOps()
    rec = Recorder(ops)
    config = replace(FSYNC, durability="batch", batch_interval_ms=200)
    with Journal.open(jdir, config, on_durable=rec, file_ops=ops) as journal:
        base = ops.syncs()
        for group in range(20):
            journal.append(1, group, b"g")
            journal.flush()
        assert journal.wait_durable(20, 10)
        # 20 groups flushed back to back share a sync or two, not one each.
        assert ops.syncs() - base <= 3
    sync_count = 0
    for e in ops.log:                            # never reported beyond what a sync covered
        if e[0] == "sync":
            sync_count += 1
        elif e[0] == "durable":
            assert sync_count > 0


def test_none_mode_reports_writes_without_syncing_and_syncs_on_close(jdir):
    ops = RecordingOps()
    rec = Recorder(ops)
    journal = Journal.open(jdir, SMALL, on_durable=rec, file_ops=ops)
    for i in range(50):
        journal.append(1, i, b"n")
    journal.flush()
    assert journal.wait_durable(50, 10)
    assert ops.syncs() == 0
    journal.close()
    assert ops.syncs() == 0 or ops.log[-1] == ("sync",)


def test_backpressure_while_the_disk_is_slow(jdir):
    ops = RecordingOps(gate_syncs=True)
    config = replace(FSYNC, max_payload=1000, max_pending_bytes=4200)   # 4 records
    ops.sync_release.release()                           # segment creation syncs at open
    journal = Journal.open(jdir, config, file_ops=ops)
    try:
        for _ in range(3):
            journal.append(1, 0, b"x" * 1000)
        journal.flush()
        assert ops.sync_entered.acquire(timeout=10)
        assert ops.sync_entered.acquire(timeout=10)      # stuck in the sync of those 3 records
        journal.append(1, 0, b"y" * 1000)
        with pytest.raises(JournalBackpressure):
            journal.append(1, 0, b"z" * 1000)
        assert journal.pending_bytes == 4 * 1028
        ops.gate_syncs = False
        ops.sync_release.release()
        assert journal.wait_durable(3, 10)
        wait_for(lambda: journal.pending_bytes <= 1028)
        assert journal.append(1, 0, b"z" * 1000) == 5
    finally:
        ops.gate_syncs = False
        ops.sync_release.release()
        journal.close()
    assert [r[3][:1] for r in Journal.open(jdir, SMALL).read()] == [b"x"] * 3 + [b"y", b"z"]


def test_a_failing_listener_does_not_stop_the_sync_thread(jdir, caplog):
    seen = []

    def listener(seq):
        seen.append(seq)
        raise RuntimeError("listener bug")
    with Journal.open(jdir, FSYNC, on_durable=listener) as journal:
        for n in (1, 2, 3):
            journal.append(1, 0, b"x")
            journal.flush()
            assert journal.wait_durable(n, 10)
        assert journal.failure is None
    assert seen == [1, 2, 3]
    assert any("listener bug" in (r.exc_text or "") or r.exc_info for r in caplog.records)


@pytest.mark.parametrize("loop_kind", ["uvloop", "asyncio"])
def test_event_loop_integration(jdir, loop_kind):
    """The server's wiring: flush scheduled with call_soon once per iteration, durable reports
    delivered on the loop thread through call_soon_threadsafe."""
    if loop_kind == "uvloop":
        uvloop = pytest.importorskip("uvloop")
        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    ops = RecordingOps()
    reports: list[tuple[int, int]] = []
    done = loop.create_future()

    def on_durable(seq):
        reports.append((seq, threading.get_ident()))
        if seq == 300:
            done.set_result(None)

    journal = Journal.open(jdir, FSYNC, on_durable=on_durable, file_ops=ops,
                           call_soon_threadsafe=loop.call_soon_threadsafe,
                           schedule_flush=loop.call_soon)
    base = ops.syncs()
    iterations = []

    def produce(i):
        for k in range(100):
            journal.append(1, k, b"cmd")
        iterations.append(journal.next_seq - 1)
        if i < 2:
            # the next iteration's commands come after this group's flush
            loop.call_later(0.02, produce, i + 1)

    try:
        loop.call_soon(produce, 0)
        loop.run_until_complete(asyncio.wait_for(done, 10))
    finally:
        journal.close()
        loop.close()
    assert iterations == [100, 200, 300]
    assert {tid for _, tid in reports} == {threading.get_ident()}
    assert [s for s, _ in reports][-1] == 300 and ops.syncs() - base <= 4
    assert all(s in (100, 200, 300) for s, _ in reports)


def test_none_mode_writes_and_reports_on_the_flushing_thread(jdir):
    """none mode: flush() writes the group and reports it before returning, on the caller's
    thread; no sync thread runs (its hand-off would be most of an ack's latency)."""
    seen = []
    journal = Journal.open(jdir, SMALL, on_durable=lambda seq: seen.append(
        (seq, threading.get_ident())), call_soon_threadsafe=lambda *a: pytest.fail("hand-off"))
    try:
        assert not journal._writer.is_alive()
        journal.append(1, 1, b"a")
        journal.append(1, 2, b"b")
        journal.flush()
        assert seen == [(2, threading.get_ident())]
        assert journal.durable_seq == 2
    finally:
        journal.close()
    assert [r[0] for r in read_journal(jdir)] == [1, 2]


def test_none_mode_write_failure_fails_the_journal_at_flush(jdir):
    failures = []
    ops = FaultOps()
    journal = Journal.open(jdir, SMALL, file_ops=ops, on_failure=failures.append)
    try:
        journal.append(1, 1, b"ok")
        journal.flush()
        ops.fail_write_after = ops.writes
        journal.append(1, 2, b"lost")
        with pytest.raises(JournalFailed, match="No space left on device"):
            journal.flush()
        assert len(failures) == 1 and journal.durable_seq == 1
        with pytest.raises(JournalFailed):
            journal.append(1, 3, b"refused")
    finally:
        journal.close()
    assert [r[0] for r in read_journal(jdir)] == [1]
