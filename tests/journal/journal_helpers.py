"""Helpers for the journal tests: small journals written to a temporary directory, and FileOps
that record, block or fail system calls.  (A module of its own, not conftest.py: test modules
import from it, and several conftest modules cannot share that name on sys.path.)"""
from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

from ordex.core.journal import Journal, JournalConfig
from ordex.core.journal_segments import SEGMENT_HEADER_SIZE, FileOps, list_segments
from ordex.ext.journal import RECORD_HEADER_SIZE

# Small segments so that a few thousand records make several of them.  Most tests do not test
# durability, and mode "none" keeps them off a shared, sometimes slow disk.
SMALL = JournalConfig(durability="none", segment_bytes=16 * 1024, preallocate="none")


def payload_for(seq: int) -> bytes:
    """Distinct, size-varying payloads, so that misplaced bytes cannot go unnoticed."""
    return (b"%d:" % seq) * (seq % 7)


def write_journal(directory: Path, count: int, config: JournalConfig = SMALL, group: int = 50,
                  payload=payload_for, rtype=lambda seq: seq % 5) -> list[tuple]:
    """Append `count` records in groups, close; returns the (seq, rtype, ts_ns, payload) written."""
    written = []
    with Journal.open(directory, config) as journal:
        for i in range(count):
            seq = journal.next_seq
            rec = (seq, rtype(seq), 1_000_000 + seq, payload(seq))
            assert journal.append(rec[1], rec[2], rec[3]) == seq
            written.append(rec)
            if (i + 1) % group == 0:
                journal.flush()
    return written


def record_offsets(path: Path) -> list[tuple[int, int, int]]:
    """(offset, size, seq) of each record in a segment file, walking the size fields."""
    data = path.read_bytes()
    out, off = [], SEGMENT_HEADER_SIZE
    while off + RECORD_HEADER_SIZE <= len(data):
        size = int.from_bytes(data[off:off + 4], "little")
        if size == 0:
            break
        out.append((off, size, int.from_bytes(data[off + 12:off + 20], "little")))
        off += size
    return out


def segments(directory: Path) -> list[Path]:
    return [p for _, p in list_segments(directory)]


def flip_byte(path: Path, offset: int, mask: int = 0x40) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)[0]
        f.seek(offset)
        f.write(bytes([b ^ mask]))


class RecordingOps(FileOps):
    """Logs writes and syncs; fdatasync can be gated so a test decides when each sync finishes."""

    def __init__(self, gate_syncs: bool = False):
        self.log: list[tuple] = []
        self.lock = threading.Lock()
        self.gate_syncs = gate_syncs
        self.sync_entered = threading.Semaphore(0)
        self.sync_release = threading.Semaphore(0)

    def pwritev(self, fd, buffers, offset):
        n = os.pwritev(fd, buffers, offset)
        with self.lock:
            self.log.append(("write", offset, n))
        return n

    def fdatasync(self, fd):
        if self.gate_syncs:
            self.sync_entered.release()
            assert self.sync_release.acquire(timeout=30), "test never released the sync"
        os.fdatasync(fd)
        with self.lock:
            self.log.append(("sync",))

    def syncs(self) -> int:
        with self.lock:
            return sum(1 for e in self.log if e[0] == "sync")


class FaultOps(FileOps):
    """Fails a chosen system call with a chosen errno, optionally after some successful calls,
    optionally writing part of the buffers first (a short write, then the error)."""

    def __init__(self):
        self.fail_write_after: int | None = None   # writes that succeed before failing
        self.partial_bytes = 0                     # bytes of the failing write that land first
        self.fail_sync_after: int | None = None
        self.fail_open = False
        self.fail_truncate = False
        self.errno = errno.ENOSPC
        self.writes = 0
        self.syncs = 0

    def _error(self, call: str) -> OSError:
        return OSError(self.errno, f"{call}: {os.strerror(self.errno)} (injected)")

    def pwritev(self, fd, buffers, offset):
        if self.fail_write_after is not None and self.writes >= self.fail_write_after:
            if self.partial_bytes:
                data = b"".join(bytes(b) for b in buffers)[:self.partial_bytes]
                self.partial_bytes = 0
                return os.pwrite(fd, data, offset)
            raise self._error("pwritev")
        self.writes += 1
        return os.pwritev(fd, buffers, offset)

    def fdatasync(self, fd):
        if self.fail_sync_after is not None and self.syncs >= self.fail_sync_after:
            raise self._error("fdatasync")
        self.syncs += 1
        os.fdatasync(fd)

    def open(self, path, flags, mode=0o644):
        if self.fail_open and flags & os.O_CREAT:
            raise self._error("open")
        return os.open(path, flags, mode)

    def ftruncate(self, fd, length):
        if self.fail_truncate:
            raise self._error("ftruncate")
        os.ftruncate(fd, length)


