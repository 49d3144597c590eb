"""The journal's sync thread: writes groups of records to the active segment, rotates segments,
calls fdatasync once per group (or per interval) and reports how far the journal is durable.

All file I/O of a running journal in `fsync` and `batch` modes happens on this thread; the event
loop only encodes records into a group buffer and hands the group over (Journal.flush).  In `none`
mode there is nothing to wait for, so the loop writes each group itself (`write_now`) and reports
it at once: the hand-off to this thread and the wake-up of the loop that reports back cost 55-120
us per round trip, most of an acknowledgement's latency; this thread is then not started.
os.pwritev and os.fdatasync release the GIL, so the loop keeps running while the disk works.  Groups handed over while a sync is in
progress are written and synced after it: a sync only ever reports records that were written
before it started.

On any failure (ENOSPC, EIO, ...) the thread stops for good: the journal is failed, appends raise
JournalFailed, nothing more is reported durable, and the active segment is cut back to the last
reported point so that no partial or unreported record is left to be trusted on restart.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from ordex.core.journal_segments import (SEGMENT_HEADER_SIZE, TEMP_SUFFIX, FileOps,
                                         encode_segment_header, segment_name, write_all)
from ordex.ext.journal import JournalFailed, RecordEncoder

log = logging.getLogger("ordex.journal")

DURABILITY_MODES = ("fsync", "batch", "none")
PREALLOCATE_MODES = ("zero", "fallocate", "none")


class ActiveSegment:
    """The segment being appended to, as the sync thread sees it."""

    def __init__(self, path: Path, fd: int, first_seq: int, data_end: int, last_seq: int,
                 allocated_end: int):
        self.path = path
        self.fd = fd
        self.first_seq = first_seq
        self.data_end = data_end          # where the next group goes
        self.last_seq = last_seq          # last record written (first_seq - 1 if none)
        self.reported_end = data_end      # data_end at the last durable report
        self.allocated_end = allocated_end

    @property
    def has_records(self) -> bool:
        return self.last_seq >= self.first_seq


class Preallocator:
    """Makes appends overwrite already-allocated blocks, so that fdatasync has only data to flush
    and no file-size or extent change to commit.

    zero:      write zeros a chunk ahead of the data (one metadata commit per chunk, not per sync);
    fallocate: posix_fallocate the whole segment at creation (on ext4 the blocks are "unwritten"
               and the first write to each still needs a metadata commit: measured no faster);
    none:      let every append grow the file.
    """

    def __init__(self, mode: str, segment_bytes: int, chunk_bytes: int, ops: FileOps):
        if mode not in PREALLOCATE_MODES:
            raise ValueError(f"preallocate must be one of {PREALLOCATE_MODES}, got {mode!r}")
        self.mode = mode
        self.segment_bytes = segment_bytes
        self.chunk_bytes = chunk_bytes
        self.ops = ops
        self._zeros = bytes(min(chunk_bytes, 1 << 20)) if mode == "zero" else b""

    def on_create(self, fd: int, size: int) -> int:
        """Preallocate a new (or reopened) segment file of `size` bytes; returns the allocated end."""
        if self.mode == "fallocate" and size < self.segment_bytes:
            self.ops.fallocate(fd, 0, self.segment_bytes)
            return self.segment_bytes
        return size

    def before_write(self, seg: ActiveSegment, nbytes: int) -> None:
        end = seg.data_end + nbytes
        if self.mode != "zero" or end <= seg.allocated_end:
            return
        target = (end // self.chunk_bytes + 1) * self.chunk_bytes
        start = max(seg.allocated_end, end)
        while start < target:
            n = min(len(self._zeros), target - start)
            write_all(self.ops, seg.fd, [memoryview(self._zeros)[:n]], start)
            start += n
        seg.allocated_end = target


class SyncThread(threading.Thread):
    """Writes handed-over groups, syncs per durability mode, reports durable sequences."""

    def __init__(self, directory: Path, segment: ActiveSegment, encoder: RecordEncoder, *,
                 durability: str, batch_interval_s: float, segment_bytes: int,
                 prealloc: Preallocator, ops: FileOps,
                 report_durable: Callable[[int], None],
                 report_failure: Callable[[JournalFailed], None]):
        super().__init__(name="ordex-journal-sync", daemon=True)
        if durability not in DURABILITY_MODES:
            raise ValueError(f"durability must be one of {DURABILITY_MODES}, got {durability!r}")
        self.directory = directory
        self.segment: ActiveSegment | None = segment
        self.encoder = encoder
        self.durability = durability
        self.batch_interval_s = batch_interval_s
        self.segment_bytes = segment_bytes
        self.prealloc = prealloc
        self.ops = ops
        self._report_durable = report_durable
        self._report_failure = report_failure
        self._cond = threading.Condition()
        self._queue: deque = deque()
        self._stopping = False
        self._written_seq = segment.last_seq
        self._reported_seq = segment.last_seq
        self._last_sync = 0.0
        self._stage = "write"
        self.failure: JournalFailed | None = None
        self.sync_latencies_ns: list[int] | None = None   # set to a list to record them

    # -- called on the loop thread --------------------------------------------------------
    def submit(self, group: tuple) -> None:
        with self._cond:
            self._queue.append(group)
            self._cond.notify()

    def write_now(self, group: tuple) -> None:
        """`none` mode: write a group on the caller's thread (the loop's) and report it written at
        once.  A failure fails the journal as on the thread and raises the JournalFailed."""
        try:
            self._write([group])
        except BaseException as exc:  # noqa: BLE001 - every failure must fail the journal
            self._fail(exc)
            raise self.failure from exc
        self._report(self._written_seq)

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()

    # -- the thread -----------------------------------------------------------------------
    def run(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._queue and not self._stopping:
                        timeout = self._sync_due_in()
                        if timeout == 0.0:
                            break
                        self._cond.wait(timeout)
                    groups = list(self._queue)
                    self._queue.clear()
                    stopping = self._stopping and not groups
                if groups:
                    self._write(groups)
                if self._written_seq > self._reported_seq:
                    if self.durability == "none" and not stopping:
                        self._report(self._written_seq)
                    elif stopping or self._sync_due_in() == 0.0:
                        self._sync()
                if stopping:
                    return
        except BaseException as exc:  # noqa: BLE001 - every failure must fail the journal
            self._fail(exc)

    def _sync_due_in(self) -> float | None:
        """Seconds until a sync is due (0: now), None when nothing waits for one."""
        if self._written_seq <= self._reported_seq:
            return None
        if self.durability != "batch":
            return 0.0
        return max(0.0, self._last_sync + self.batch_interval_s - time.monotonic())

    def _write(self, groups: list[tuple]) -> None:
        """Write the groups, rotating where a segment is full; in fsync mode the last write of
        the cycle carries the sync (one GIL-free call for both)."""
        i = 0
        while i < len(groups):
            self._stage = "write"
            seg = self.segment
            if seg.data_end >= self.segment_bytes and seg.has_records:
                self._rotate(groups[i][2])
                self._stage = "write"
                seg = self.segment
            # Everything that fits before the rotation point goes out in one pwritev.
            batch, nbytes = [], 0
            while i < len(groups) and (not batch or seg.data_end + nbytes < self.segment_bytes):
                buf, n, first, last = groups[i]
                batch.append(memoryview(buf)[:n])
                nbytes += n
                i += 1
            self.prealloc.before_write(seg, nbytes)
            sync = self.durability == "fsync" and i == len(groups)
            if sync:
                self._stage = "write + fdatasync"
            try:
                sync_ns = self.ops.write_sync(seg.fd, batch, seg.data_end, sync)
            finally:
                for v in batch:
                    v.release()
            seg.data_end += nbytes
            for buf, n, first, last in groups[i - len(batch):i]:
                seg.last_seq = last
                self.encoder.release(buf, n)
            self._written_seq = seg.last_seq
            if sync:
                self._synced(sync_ns)

    def _sync(self) -> None:
        self._stage = "fdatasync"
        self._synced(self.ops.write_sync(self.segment.fd, [], 0, True))

    def _synced(self, sync_ns: int) -> None:
        if self.sync_latencies_ns is not None:
            self.sync_latencies_ns.append(sync_ns)
        self._last_sync = time.monotonic()
        self._report(self._written_seq)

    def _report(self, seq: int) -> None:
        if self.segment is not None:
            self.segment.reported_end = self.segment.data_end
        self._reported_seq = seq
        self._report_durable(seq)

    def _rotate(self, next_first_seq: int) -> None:
        self._stage = "segment rotation"
        old = self.segment
        # Closed segments end exactly at their last record; the old one must be durable before
        # anything in the new one is reported, since durability is reported as one watermark.
        self.ops.ftruncate(old.fd, old.data_end)
        if self.durability != "none":
            self.ops.fdatasync(old.fd)
        self.ops.close(old.fd)
        self.segment = None
        self.segment = self.create_segment(next_first_seq)

    def create_segment(self, first_seq: int) -> ActiveSegment:
        """Create a segment atomically: header and preallocation in a temporary file, synced,
        then renamed into place and the directory synced."""
        return create_segment(self.directory, first_seq, self.prealloc, self.ops,
                              sync=self.durability != "none")

    def _fail(self, exc: BaseException) -> None:
        seg = self.segment
        where = f"{seg.path} at offset {seg.data_end}" if seg is not None else str(self.directory)
        err = JournalFailed(f"journal {self._stage} failed on {where}: {exc}; records after "
                            f"sequence {self._reported_seq} were not reported durable and never "
                            "will be; the journal accepts nothing more until it is reopened")
        err.__cause__ = exc
        self.failure = err
        self.encoder.fail(err)
        log.critical("%s", err)
        if seg is not None:
            # What may be on disk past the last report was never acknowledged: remove it, so the
            # file ends at a record boundary that was reported (best effort; recovery copes if not).
            try:
                self.ops.ftruncate(seg.fd, seg.reported_end)
                self.ops.fdatasync(seg.fd)
            except OSError as cleanup_exc:
                log.critical("journal: could not cut %s back to offset %d: %s", seg.path,
                             seg.reported_end, cleanup_exc)
        with self._cond:
            dropped = list(self._queue)
            self._queue.clear()
        for buf, n, _, _ in dropped:
            self.encoder.release(buf, n)
        self._report_failure(err)


def create_segment(directory: Path, first_seq: int, prealloc: Preallocator, ops: FileOps,
                   sync: bool = True) -> ActiveSegment:
    name = segment_name(first_seq)
    final = directory / name
    tmp = directory / (name + TEMP_SUFFIX)
    fd = ops.open(str(tmp), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    try:
        write_all(ops, fd, [encode_segment_header(first_seq)], 0)
        allocated = prealloc.on_create(fd, SEGMENT_HEADER_SIZE)
        seg = ActiveSegment(final, fd, first_seq, SEGMENT_HEADER_SIZE, first_seq - 1, allocated)
        if sync:
            ops.fdatasync(fd)
        ops.rename(str(tmp), str(final))
        if sync:
            ops.fsync_dir(str(directory))
    except BaseException:
        try:
            ops.close(fd)
        finally:
            try:
                ops.unlink(str(tmp))
            except OSError:
                pass
        raise
    return seg
