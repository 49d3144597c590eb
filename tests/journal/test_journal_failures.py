"""Write and sync failures: the journal fails for good, reports nothing more durable, refuses
appends with JournalFailed, keeps reads working, and leaves on disk exactly what it reported
(or, if even the clean-up fails, nothing that recovery would trust)."""
from __future__ import annotations

import errno
import os
import shutil
import subprocess
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from journal_helpers import SMALL, FaultOps, segments
from ordex.core.journal import Journal, JournalConfig, JournalFailed, read_journal

FSYNC = replace(SMALL, durability="fsync", segment_bytes=1 << 20)


class Watch:
    def __init__(self):
        self.durable: list[int] = []
        self.failures: list[JournalFailed] = []
        self.failed = threading.Event()

    def on_durable(self, seq):
        self.durable.append(seq)

    def on_failure(self, exc):
        self.failures.append(exc)
        self.failed.set()


def append_group(journal, count, payload=b"p" * 30):
    for i in range(count):
        journal.append(1, i, payload)
    journal.flush()


def open_watched(jdir, config, ops):
    w = Watch()
    journal = Journal.open(jdir, config, file_ops=ops, on_durable=w.on_durable,
                           on_failure=w.on_failure)
    return journal, w


def assert_failed_for_good(journal, w, durable, reason):
    assert w.failed.wait(10), "the failure was never reported"
    assert len(w.failures) == 1 and journal.failure is w.failures[0]
    assert reason in str(journal.failure) and isinstance(journal.failure.__cause__, OSError)
    assert journal.durable_seq == durable and w.durable[-1:] == ([durable] if durable else [])
    with pytest.raises(JournalFailed):
        journal.append(1, 0, b"more")
    with pytest.raises(JournalFailed):
        journal.flush()
    assert [r[0] for r in journal.read()] == list(range(1, durable + 1))   # reads still served


@pytest.mark.parametrize("partial", [0, 40])
def test_write_failure(jdir, partial):
    ops = FaultOps()
    journal, w = open_watched(jdir, FSYNC, ops)
    append_group(journal, 10)
    assert journal.wait_durable(10, 10)
    ops.fail_write_after, ops.partial_bytes = ops.writes, partial
    append_group(journal, 10, b"q" * 100)
    assert_failed_for_good(journal, w, 10, "No space left on device")
    journal.close()
    seg = segments(jdir)[-1]
    assert seg.stat().st_size == 64 + 10 * 58, "the partial group must be cut off"
    with Journal.open(jdir, FSYNC) as again:
        assert again.next_seq == 11 and again.recovery.torn is None
        again.append(1, 0, b"after")
    assert [r[0] for r in read_journal(jdir)] == list(range(1, 12))


def test_write_failure_when_even_the_cleanup_fails(jdir):
    ops = FaultOps()
    journal, w = open_watched(jdir, FSYNC, ops)
    append_group(journal, 10)
    assert journal.wait_durable(10, 10)
    ops.fail_write_after, ops.partial_bytes, ops.fail_truncate = ops.writes, 40, True
    append_group(journal, 10, b"q" * 100)
    assert_failed_for_good(journal, w, 10, "No space left on device")
    journal.close()
    with Journal.open(jdir, FSYNC) as again:        # the partial record is a torn tail
        assert again.recovery.torn is not None and again.next_seq == 11
    assert [r[0] for r in read_journal(jdir)] == list(range(1, 11))


def test_sync_failure(jdir):
    ops = FaultOps()
    ops.errno = errno.EIO
    journal, w = open_watched(jdir, FSYNC, ops)
    append_group(journal, 10)
    assert journal.wait_durable(10, 10)
    ops.fail_sync_after = ops.syncs
    append_group(journal, 10)
    assert_failed_for_good(journal, w, 10, "Input/output error")
    assert "fdatasync" in str(journal.failure)
    journal.close()
    # B was written but never synced, so never reported: the failed journal removed it.
    assert [r[0] for r in read_journal(jdir)] == list(range(1, 11))


def test_failure_creating_the_next_segment(jdir):
    ops = FaultOps()
    config = replace(FSYNC, segment_bytes=4096)
    journal, w = open_watched(jdir, config, ops)
    append_group(journal, 80)                       # 80 * 58 bytes: the segment is full
    assert journal.wait_durable(80, 10)
    ops.fail_open = True
    append_group(journal, 5)
    assert_failed_for_good(journal, w, 80, "segment rotation")
    journal.close()
    assert not [p for p in jdir.iterdir() if p.name.endswith(".tmp")]
    with Journal.open(jdir, config) as again:
        assert again.next_seq == 81
        append_group(again, 5)
    assert [r[0] for r in read_journal(jdir)] == list(range(1, 86))
    assert len(segments(jdir)) == 2


def test_failure_creating_the_first_segment(jdir):
    ops = FaultOps()
    ops.fail_open = True
    with pytest.raises(JournalFailed, match="first segment") as info:
        Journal.open(jdir, FSYNC, file_ops=ops)
    assert info.value.__cause__.errno == errno.ENOSPC
    assert not list(jdir.glob("*.jnl*"))
    with Journal.open(jdir, FSYNC):                 # the directory was released
        pass


def test_failure_delivered_on_the_event_loop(jdir):
    import asyncio
    loop = asyncio.new_event_loop()
    ops = FaultOps()
    got = []
    journal = Journal.open(jdir, FSYNC, file_ops=ops, call_soon_threadsafe=loop.call_soon_threadsafe,
                           on_failure=lambda exc: (got.append((exc, threading.get_ident())),
                                                   loop.stop()))
    ops.fail_write_after = 0
    try:
        append_group(journal, 3)
        loop.call_later(10, loop.stop)
        loop.run_forever()
    finally:
        journal.close()
        loop.close()
    assert len(got) == 1 and isinstance(got[0][0], JournalFailed)
    assert got[0][1] == threading.get_ident()


# -- a real full disk: a tiny tmpfs ----------------------------------------------------------

@pytest.fixture
def tiny_fs(tmp_path):
    """A 256 KiB tmpfs (needs root, as in CI); skipped where mounting is not allowed."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.mark.parametrize("prealloc", ["none", "zero"])
def test_disk_full_on_a_tiny_filesystem(tiny_fs: Path, prealloc):
    jdir = tiny_fs / "journal"
    config = JournalConfig(durability="fsync", segment_bytes=1 << 20, preallocate=prealloc,
                           prealloc_chunk_bytes=16 * 1024)
    w = Watch()
    journal = Journal.open(jdir, config, on_durable=w.on_durable, on_failure=w.on_failure)
    appended = 0
    try:
        while not w.failed.is_set() and appended < 100_000:
            try:
                append_group(journal, 500)
            except JournalFailed:
                break
            appended += 500
            journal.wait_durable(appended, 10)
        assert w.failed.wait(10)
        cause = journal.failure.__cause__
        assert isinstance(cause, OSError) and cause.errno == errno.ENOSPC
        durable = journal.durable_seq
        assert 0 < durable < appended + 500
        with pytest.raises(JournalFailed):
            journal.append(1, 0, b"x")
    finally:
        journal.close()
    # What is on the full disk is exactly what was reported durable.
    assert [r[0] for r in read_journal(jdir)] == list(range(1, durable + 1))
    with Journal.open(jdir, replace(config, preallocate="none")) as again:
        assert again.next_seq == durable + 1


def test_disk_too_small_for_a_preallocated_segment(tiny_fs: Path):
    config = JournalConfig(durability="fsync", segment_bytes=1 << 20, preallocate="fallocate")
    with pytest.raises(JournalFailed, match="No space left on device"):
        Journal.open(tiny_fs / "journal", config)
    assert not list((tiny_fs / "journal").glob("*.jnl*"))
