"""Recovery = newest valid snapshot + the journal's tail, and the snapshot files behind it.

A journaled run writes snapshots at a few sequences; recovering from them (and from scratch)
gives the live run's state hash, and the replayed tail gives the live run's events -- twice in a
row, with more commands between the restarts.  Damaged snapshots are skipped with a log line and
the older one is used; pruning keeps two snapshots and the journal tail the older one needs;
journals that cannot continue a snapshot, failed writes and other reference data are refused
with a clear error.
"""
import errno
import hashlib
import logging
import os

import numpy as np
import pytest

from ordex.core import snapshot as snap
from ordex.core.journal import Journal, JournalConfig, read_journal
from ordex.core.journal_segments import FileOps, list_segments
from ordex.core.sequencer import RECORD_COMMAND, ReplayError, Sequencer, replay
from ordex.ext.engine import Engine, SnapshotMismatch
from snapshot_workloads import mixed_commands, refdata

MAX_ORDERS = 2048
BATCH = 37


class Run:
    """A journaled engine run in tmp_path: journal in <tmp>/journal, snapshots beside it."""

    def __init__(self, tmp_path, segment_bytes=64 << 20):
        self.journal_dir = tmp_path / "journal"
        self.snap_dir = snap.snapshot_dir(self.journal_dir)
        self.config = JournalConfig(durability="none", segment_bytes=segment_bytes)
        self.events = {}                         # seq -> that command's events (bytes)

    def open_journal(self, first_seq=1):
        return Journal.open(self.journal_dir, self.config, first_seq=first_seq)

    def feed(self, engine, journal, rows, snapshot_at=()):
        """Sequence, journal and apply rows (their ts_ns kept); write a snapshot after each
        sequence in snapshot_at once it is durable."""
        rows = rows.copy()
        ts = iter(rows["ts_ns"][::BATCH].tolist())
        seq = Sequencer(engine, journal, clock_ns=lambda: next(ts))
        seq._last_ts = int(rows["ts_ns"][0])
        for start in range(0, len(rows), BATCH):
            batch = rows[start:start + BATCH]
            seq.submit(batch)
            ev = engine.events_array()
            engine.clear_events()
            for s in batch["seq"].tolist():
                self.events[s] = ev[ev["seq"] == s].tolist()
            journal.flush()
            last = int(batch["seq"][-1])
            for s in snapshot_at:
                if last - len(batch) < s <= last:
                    assert s == last, "snapshot points must end a batch"
                    assert journal.wait_durable(s, 10)
                    snap.write_snapshot(self.snap_dir, s, engine.snapshot(s))
        assert journal.wait_durable(journal.next_seq - 1, 10)

    def recover(self, rd=None):
        found = snap.latest_valid(self.snap_dir)
        journal = self.open_journal(found.seq + 1 if found else 1)
        tail = []
        try:
            rec = snap.recover(rd or refdata(), MAX_ORDERS, journal, found,
                               on_events=lambda ev: tail.extend(ev.tolist()))
        except BaseException:
            journal.close()
            raise
        return rec, journal, tail

    def events_after(self, seq):
        return [e for s in sorted(self.events) if s > seq for e in self.events[s]]


def live_run(tmp_path, n=2220, snapshot_at=(740, 1480), **kw):
    run = Run(tmp_path, **kw)
    engine = Engine(refdata(), max_orders=MAX_ORDERS)
    with run.open_journal() as journal:
        run.feed(engine, journal, mixed_commands(n, seed=11), snapshot_at)
    return run, engine


def full_replay_hash(run):
    eng = Engine(refdata(), max_orders=MAX_ORDERS)
    replay(eng, read_journal(run.journal_dir))
    return eng.state_hash()


def test_snapshot_plus_tail_is_the_live_state_and_events_twice_in_a_row(tmp_path):
    run, live = live_run(tmp_path)
    assert [s for s, _ in snap.list_snapshots(run.snap_dir)] == [740, 1480]
    assert full_replay_hash(run) == live.state_hash()
    for _ in range(2):
        rec, journal, tail = run.recover()
        with journal:
            assert (rec.snapshot_seq, rec.replayed) == (1480, 2220 - 1480)
            assert rec.engine.state_hash() == live.state_hash()
            assert tail == run.events_after(1480)
            rec.engine.check_invariants()
    # Restart, keep trading, snapshot again, restart twice more.
    more = mixed_commands(4000, seed=11)[2220:2960]
    rec, journal, _ = run.recover()
    with journal:
        run.feed(rec.engine, journal, more, snapshot_at=(2220 + 20 * BATCH,))
    for _ in range(2):
        rec, journal, tail = run.recover()
        with journal:
            assert rec.snapshot_seq == 2220 + 20 * BATCH
            assert rec.engine.state_hash() == full_replay_hash(run)
            assert tail == run.events_after(rec.snapshot_seq)


def test_without_snapshots_recovery_is_a_full_replay(tmp_path):
    run, live = live_run(tmp_path, snapshot_at=())
    rec, journal, tail = run.recover()
    with journal:
        assert (rec.snapshot_seq, rec.snapshot_path, rec.replayed) == (0, None, 2220)
        assert rec.engine.state_hash() == live.state_hash()
        assert tail == run.events_after(0)


@pytest.mark.parametrize("damage", ["flip-middle", "flip-header", "truncate", "empty",
                                    "wrong-name"])
def test_a_damaged_newest_snapshot_is_skipped_with_a_log_and_the_older_used(tmp_path, caplog,
                                                                           damage):
    run, live = live_run(tmp_path)
    newest = run.snap_dir / snap.snapshot_name(1480)
    data = bytearray(newest.read_bytes())
    if damage == "flip-middle":
        data[len(data) // 2] ^= 1
    elif damage == "flip-header":
        data[20] ^= 0x80
    elif damage == "truncate":
        data = data[:len(data) - 100]
    elif damage == "empty":
        data = b""
    else:
        newest.rename(run.snap_dir / snap.snapshot_name(1500))
        newest = run.snap_dir / snap.snapshot_name(1500)
    newest.write_bytes(bytes(data))
    with caplog.at_level(logging.ERROR, logger="ordex.snapshot"):
        rec, journal, tail = run.recover()
    with journal:
        assert rec.snapshot_seq == 740
        assert rec.engine.state_hash() == live.state_hash()
        assert tail == run.events_after(740)
    assert any(str(newest) in r.getMessage() and "skipped" in r.getMessage()
               for r in caplog.records)


def test_every_snapshot_damaged_means_a_full_replay(tmp_path, caplog):
    run, live = live_run(tmp_path)
    for _, path in snap.list_snapshots(run.snap_dir):
        path.write_bytes(path.read_bytes()[:-1])
    with caplog.at_level(logging.ERROR, logger="ordex.snapshot"):
        rec, journal, _ = run.recover()
    with journal:
        assert rec.snapshot_seq == 0
        assert rec.engine.state_hash() == live.state_hash()
    assert sum("skipped" in r.getMessage() for r in caplog.records) == 2


def test_pruning_keeps_two_snapshots_and_the_tail_the_older_needs(tmp_path, caplog):
    run, live = live_run(tmp_path, n=2220, snapshot_at=(370, 740, 1110, 1480),
                         segment_bytes=8192)
    with run.open_journal() as journal:
        removed, segments = snap.prune(run.snap_dir, journal, prune_journal=True)
        assert [p.name for p in removed] == [snap.snapshot_name(370), snap.snapshot_name(740)]
        assert segments, "segments before the older kept snapshot should go"
        segs = list_segments(run.journal_dir)
        assert segs[0][0] <= 1111 < segs[1][0], "the first segment left holds 1111"
    # Newest damaged: the older kept one still has its whole tail.
    newest = run.snap_dir / snap.snapshot_name(1480)
    good = newest.read_bytes()
    newest.write_bytes(good[:-8])
    rec, journal, _ = run.recover()
    with journal:
        assert rec.snapshot_seq == 1110
        assert rec.engine.state_hash() == live.state_hash()
    # Both damaged: the journal no longer starts at 1, and recovery says so.
    (run.snap_dir / snap.snapshot_name(1110)).write_bytes(b"junk")
    with caplog.at_level(logging.ERROR, logger="ordex.snapshot"):
        with pytest.raises(snap.RecoveryError, match="no usable snapshot.*starts at sequence"):
            run.recover()


def test_a_journal_behind_the_snapshot_is_refused(tmp_path):
    run, _ = live_run(tmp_path, n=1000, snapshot_at=(740,))
    for p in run.journal_dir.glob("*.jnl"):        # a journal that lost its records
        p.unlink()
    journal = Journal.open(run.journal_dir, run.config, first_seq=1)
    with journal:
        with pytest.raises(snap.RecoveryError, match="covers sequence 740.*ends at 0"):
            snap.recover(refdata(), MAX_ORDERS, journal, snap.latest_valid(run.snap_dir))


def test_a_snapshot_starts_an_empty_journal_at_its_next_sequence(tmp_path):
    run, live = live_run(tmp_path, n=1000, snapshot_at=(740,))
    for p in run.journal_dir.glob("*.jnl"):
        p.unlink()
    rec, journal, tail = run.recover()
    with journal:
        assert (rec.snapshot_seq, rec.replayed, journal.next_seq) == (740, 0, 741)
        assert tail == []


def test_other_reference_data_stops_recovery(tmp_path):
    run, _ = live_run(tmp_path, n=800, snapshot_at=(740,))
    with pytest.raises(SnapshotMismatch, match="different reference data"):
        run.recover(refdata(balance_override="1"))


class NoSpace(FileOps):
    def pwritev(self, fd, buffers, offset):
        raise OSError(errno.ENOSPC, "No space left on device")


class FailingRename(FileOps):
    def rename(self, src, dst):
        raise OSError(errno.EIO, "Input/output error")


@pytest.mark.parametrize("ops", [NoSpace(), FailingRename()])
def test_a_failed_write_leaves_no_snapshot_and_no_temporary(tmp_path, ops):
    eng = Engine(refdata(), max_orders=64)
    with pytest.raises(OSError):
        snap.write_snapshot(tmp_path / "s", 5, eng.snapshot(5), ops=ops)
    assert os.listdir(tmp_path / "s") == []


def test_temporaries_are_removed_and_other_files_ignored(tmp_path, caplog):
    d = tmp_path / "s"
    d.mkdir()
    (d / "00000000000000000009.snap.tmp").write_bytes(b"half")
    (d / "notes.txt").write_text("x")
    (d / "9.snap").write_bytes(b"x")
    eng = Engine(refdata(), max_orders=64)
    with caplog.at_level(logging.WARNING, logger="ordex.snapshot"):
        path = snap.write_snapshot(d, 12, eng.snapshot(12))
    assert sorted(os.listdir(d)) == ["00000000000000000012.snap", "9.snap", "notes.txt"]
    assert "did not finish" in caplog.text
    assert snap.list_snapshots(d) == [(12, path)]
    assert snap.latest_valid(d).seq == 12
    with pytest.raises(ValueError):
        snap.prune_snapshots(d, keep=0)


def test_columnar_replay_equals_the_record_replay(tmp_path):
    run, live = live_run(tmp_path, snapshot_at=(), segment_bytes=16384)
    digests = []
    for replayer in (lambda e, cb: replay(e, read_journal(run.journal_dir), on_events=cb),
                     lambda e, cb: snap.replay_journal(e, run.journal_dir, 1, on_events=cb)):
        eng = Engine(refdata(), max_orders=MAX_ORDERS)
        h = hashlib.blake2b()
        def digest(ev, h=h):       # event by event: the two replay in different chunks
            for e in ev.tolist():
                h.update(repr(e).encode())
        assert replayer(eng, digest) == 2220
        digests.append((h.hexdigest(), eng.state_hash()))
    assert digests[0] == digests[1]
    assert digests[0][1] == live.state_hash()
    # a window in the middle, across segments
    eng = Engine(refdata(), max_orders=MAX_ORDERS)
    seen = []
    n = snap.replay_journal(eng, run.journal_dir, 500, 1700,
                            on_events=lambda ev: seen.extend(ev["seq"].tolist()))
    assert n == 1201 and min(seen) >= 500 and max(seen) <= 1700


def test_columnar_replay_refuses_records_that_are_not_commands(tmp_path):
    with Journal.open(tmp_path / "j", JournalConfig(durability="none")) as journal:
        row = mixed_commands(3, seed=1)
        journal.append(RECORD_COMMAND, int(row["ts_ns"][0]), row[:1].tobytes())
        journal.append(RECORD_COMMAND, 5, row[1:2].tobytes())          # ts differs
        journal.append(7, 0, b"not a command")
        journal.flush()
        assert journal.wait_durable(3, 10)
    eng = Engine(refdata(), max_orders=64)
    with pytest.raises(ReplayError, match="record 2: its payload carries"):
        snap.replay_journal(eng, tmp_path / "j", 1)
    with pytest.raises(ReplayError, match="record 3: type 7"):
        snap.replay_journal(eng, tmp_path / "j", 3)
    assert snap.replay_journal(eng, tmp_path / "j", 4) == 0


def test_by_default_pruning_keeps_the_whole_journal(tmp_path):
    """The journal is the audit trail: without prune_journal only old snapshots go."""
    run, live = live_run(tmp_path, n=2220, snapshot_at=(370, 740, 1110, 1480),
                         segment_bytes=8192)
    before = list_segments(run.journal_dir)
    with run.open_journal() as journal:
        removed, segments = snap.prune(run.snap_dir, journal)
    assert len(removed) == 2 and segments == []
    assert list_segments(run.journal_dir) == before
