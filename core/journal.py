"""The write-ahead journal: a directory of segment files holding sequenced records, appended in
groups that share one fdatasync.

The journal does not interpret payloads.  The engine journals each sequenced command as one
record (type, ts_ns, payload) and replays them with `read()`; what a type means is the engine's
business (ordex.core.journal_decoders lets it explain payloads to `ordex journal inspect`).

Use on the event loop:

    journal = Journal.open(path, JournalConfig(durability="fsync"),
                           on_durable=engine.release_up_to,          # called on the loop thread
                           on_failure=engine.journal_failed,
                           call_soon_threadsafe=loop.call_soon_threadsafe,
                           schedule_flush=loop.call_soon)
    seq = journal.append(rtype, ts_ns, payload)      # many times per loop iteration
    # schedule_flush makes the first append of an iteration schedule flush(); flush() hands the
    # group to the sync thread, which writes it, calls fdatasync once and reports the last sequence
    # of the group through on_durable.  Groups flushed during a sync wait for the next one.

Durability modes (JournalConfig.durability):
    fsync  a sync as soon as a group is written (groups queue behind a running sync);
    batch  at most one sync per batch_interval_ms: acknowledgements wait for it;
    none   no sync: on_durable reports what was written to the page cache (benchmarks only);
           flush() writes on the calling (loop) thread and calls on_durable before it returns,
           so an acknowledgement waits for no other thread.

Failure: when a write or sync fails the journal is failed for good.  `failure` holds the
JournalFailed; appends and flushes raise it; on_failure is called once; nothing more is reported
durable; the active segment is cut back to the last reported record.  Reopen (restart) to recover.

Recovery (Journal.open): every record of every segment is checked (journal_segments explains what
counts as a torn tail and what as corruption).  A torn tail is truncated and logged; corruption
raises JournalCorrupt naming file, offset and sequence.
"""
from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ordex.core.journal_segments import (TEMP_SUFFIX, FileOps, JournalCorrupt, ScanResult,
                                         iter_segment_records, list_segments, repair_torn_tail,
                                         scan_directory)
from ordex.core.journal_writer import (DURABILITY_MODES, PREALLOCATE_MODES, ActiveSegment,
                                       Preallocator, SyncThread, create_segment)
from ordex.ext.journal import (MAX_PAYLOAD_LIMIT, RECORD_HEADER_SIZE, JournalBackpressure,
                               JournalError, JournalFailed, RecordEncoder, RecordTooLarge)

__all__ = ["Journal", "JournalConfig", "JournalError", "JournalCorrupt", "JournalFailed",
           "JournalBackpressure", "RecordTooLarge", "JournalLocked"]

log = logging.getLogger("ordex.journal")
LOCK_NAME = "LOCK"


class JournalLocked(JournalError):
    """Another journal (in this or another process) has the directory open."""


@dataclass(frozen=True)
class JournalConfig:
    durability: str = "fsync"
    batch_interval_ms: float = 2.0
    segment_bytes: int = 64 * 1024 * 1024   # rotate once a segment reaches this size
    preallocate: str = "zero"               # see journal_writer.Preallocator
    prealloc_chunk_bytes: int = 1024 * 1024
    max_payload: int = 1024 * 1024
    max_pending_bytes: int = 64 * 1024 * 1024  # appended but not yet written: back-pressure bound
    group_bytes: int = 256 * 1024           # initial size of a group buffer (it grows as needed)

    def __post_init__(self) -> None:
        if self.durability not in DURABILITY_MODES:
            raise ValueError(f"durability must be one of {DURABILITY_MODES}, got {self.durability!r}")
        if self.preallocate not in PREALLOCATE_MODES:
            raise ValueError(f"preallocate must be one of {PREALLOCATE_MODES}, got {self.preallocate!r}")
        if not self.batch_interval_ms > 0:
            raise ValueError(f"batch_interval_ms must be positive, got {self.batch_interval_ms}")
        if self.segment_bytes < 4096:
            raise ValueError(f"segment_bytes must be at least 4096, got {self.segment_bytes}")
        if self.prealloc_chunk_bytes < 4096:
            raise ValueError(f"prealloc_chunk_bytes must be at least 4096, got {self.prealloc_chunk_bytes}")
        if not 0 <= self.max_payload <= MAX_PAYLOAD_LIMIT:
            raise ValueError(f"max_payload must be in 0..{MAX_PAYLOAD_LIMIT}, got {self.max_payload}")
        if self.max_pending_bytes < RECORD_HEADER_SIZE + self.max_payload:
            raise ValueError("max_pending_bytes must hold at least one record of max_payload")


def _lock_directory(directory: Path) -> int:
    fd = os.open(directory / LOCK_NAME, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise JournalLocked(f"journal directory {directory} is open in another journal") from None
    return fd


class Journal:
    """An open journal.  `append` and `append_many` are the compiled RecordEncoder's methods
    (bound here so that an append costs one call into C):

        append(rtype: int, ts_ns: int, payload: bytes-like) -> int           # its sequence
        append_many(rtypes u16[], ts_ns i64[], payloads bytes-like, offsets i64[n+1]) -> int
                                                                             # first sequence
        append_fixed(rtype, ts_ns, payloads, size, seq_at=-1, ts_at=-1) -> int  # first sequence

    They raise JournalFailed once the journal failed, JournalBackpressure when more than
    max_pending_bytes wait for the disk, RecordTooLarge / ValueError for bad records.  Only the
    event-loop thread may append, flush or close."""

    append: Callable[[int, int, object], int]
    append_many: Callable[..., int]
    append_fixed: Callable[..., int]

    def __init__(self, directory: Path, config: JournalConfig, segment: ActiveSegment,
                 scan: ScanResult, lock_fd: int, ops: FileOps, prealloc: Preallocator, *,
                 on_durable: Callable[[int], object] | None,
                 on_failure: Callable[[JournalFailed], object] | None,
                 call_soon_threadsafe: Callable[..., object] | None,
                 schedule_flush: Callable[[Callable[[], None]], object] | None):
        self.directory = directory
        self.config = config
        self.recovery = scan
        self._lock_fd = lock_fd
        self._ops = ops
        self._on_durable = on_durable
        self._on_failure = on_failure
        self._call_soon_threadsafe = call_soon_threadsafe
        self._schedule_flush = schedule_flush
        self._closed = False
        self._cond = threading.Condition()
        self._durable_seq = segment.last_seq
        self._failure: JournalFailed | None = None
        self._encoder = RecordEncoder(segment.last_seq + 1, capacity=config.group_bytes,
                                      max_payload=config.max_payload,
                                      limit=config.max_pending_bytes,
                                      on_first_append=self._schedule if schedule_flush else None)
        self.append = self._encoder.append
        self.append_many = self._encoder.append_many
        self.append_fixed = self._encoder.append_fixed
        self._writer = SyncThread(directory, segment, self._encoder,
                                  durability=config.durability,
                                  batch_interval_s=config.batch_interval_ms / 1000.0,
                                  segment_bytes=config.segment_bytes, prealloc=prealloc, ops=ops,
                                  report_durable=self._report_durable,
                                  report_failure=self._report_failure)
        # none mode writes on the loop thread (SyncThread.write_now): no thread to start.
        self._inline = config.durability == "none"
        if not self._inline:
            self._writer.start()

    # -- opening ------------------------------------------------------------------------------
    @classmethod
    def open(cls, directory: Path | str, config: JournalConfig | None = None, *,
             on_durable: Callable[[int], object] | None = None,
             on_failure: Callable[[JournalFailed], object] | None = None,
             call_soon_threadsafe: Callable[..., object] | None = None,
             schedule_flush: Callable[[Callable[[], None]], object] | None = None,
             first_seq: int = 1, file_ops: FileOps | None = None) -> Journal:
        """Recover the journal in `directory` (created if missing) and open it for appending.

        on_durable(seq) / on_failure(exc) run through call_soon_threadsafe when it is given (the
        event loop's), else on the sync thread.  schedule_flush (e.g. loop.call_soon) is used to
        schedule flush() once per group; without it the caller calls flush().  first_seq is the
        first sequence of a new, empty journal (one whose earlier history was pruned keeps its own).
        """
        config = config or JournalConfig()
        if first_seq < 1:
            raise ValueError(f"first_seq must be at least 1, got {first_seq}")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        ops = file_ops or FileOps()
        lock_fd = _lock_directory(directory)
        try:
            for entry in os.scandir(directory):
                if entry.name.endswith(TEMP_SUFFIX):
                    log.warning("journal: removing %s, a segment whose creation did not finish",
                                entry.path)
                    ops.unlink(entry.path)
            scan = scan_directory(directory, exclusive=True)
            prealloc = Preallocator(config.preallocate, config.segment_bytes,
                                    config.prealloc_chunk_bytes, ops)
            if scan.segments:
                last = scan.segments[-1]
                if last.torn is not None:
                    repair_torn_tail(last.torn, ops)
                fd = ops.open(str(last.path), os.O_WRONLY)
                try:
                    allocated = prealloc.on_create(fd, os.fstat(fd).st_size)
                except BaseException:
                    ops.close(fd)
                    raise
                segment = ActiveSegment(last.path, fd, last.first_seq, last.data_end,
                                        last.last_seq, allocated)
            else:
                try:
                    segment = create_segment(directory, first_seq, prealloc, ops,
                                             sync=config.durability != "none")
                except OSError as exc:
                    raise JournalFailed(f"journal could not create its first segment in "
                                        f"{directory}: {exc}") from exc
            journal = cls(directory, config, segment, scan, lock_fd, ops, prealloc,
                          on_durable=on_durable, on_failure=on_failure,
                          call_soon_threadsafe=call_soon_threadsafe,
                          schedule_flush=schedule_flush)
        except BaseException:
            os.close(lock_fd)
            raise
        log.info("journal %s open: %d records in %d segments, next sequence %d, durability %s",
                 directory, scan.records, max(len(scan.segments), 1), journal.next_seq,
                 config.durability)
        if config.durability == "none":
            log.warning("journal %s: durability 'none' never syncs: a crash loses records "
                        "reported as written (benchmarks only)", directory)
        return journal

    # -- the loop side ------------------------------------------------------------------------
    def flush(self) -> None:
        """Hand everything appended since the last flush to the sync thread as one group."""
        if self._closed:
            raise JournalError("journal is closed")
        group = self._encoder.take()
        if self._failure is not None:
            if group is not None:
                self._encoder.release(group[0], group[1])
            raise self._failure.with_traceback(None)
        if group is None:
            return
        if self._inline:
            self._writer.write_now(group)
        else:
            self._writer.submit(group)

    def _schedule(self) -> None:
        self._schedule_flush(self._scheduled_flush)

    def _scheduled_flush(self) -> None:
        if self._closed:
            return
        try:
            self.flush()
        except JournalFailed:
            pass  # reported once through on_failure; appends raise it from now on

    def close(self) -> None:
        """Write and sync everything appended, stop the sync thread, release the directory."""
        if self._closed:
            return
        try:
            self.flush()
        except JournalFailed:
            pass
        self._closed = True
        self._encoder.fail(JournalError("journal is closed"))
        if not self._inline:
            self._writer.stop()
            self._writer.join()
        seg = self._writer.segment
        if seg is not None:
            try:
                self._ops.close(seg.fd)
            except OSError as exc:
                log.error("journal: closing %s: %s", seg.path, exc)
            self._writer.segment = None
        os.close(self._lock_fd)

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- what the sync thread reports -------------------------------------------------------
    def _deliver(self, callback: Callable, arg) -> None:
        if callback is None:
            return
        try:
            if self._call_soon_threadsafe is not None and not self._inline:
                self._call_soon_threadsafe(callback, arg)
            else:
                callback(arg)
        except Exception:  # noqa: BLE001 - a listener's bug must not stop the sync thread
            log.exception("journal: delivering %r(%r) failed", callback, arg)

    def _report_durable(self, seq: int) -> None:
        with self._cond:
            self._durable_seq = seq
            self._cond.notify_all()
        self._deliver(self._on_durable, seq)

    def _report_failure(self, failure: JournalFailed) -> None:
        with self._cond:
            self._failure = failure
            self._cond.notify_all()
        self._deliver(self._on_failure, failure)

    def wait_durable(self, seq: int, timeout: float | None = None) -> bool:
        """Block until `seq` is durable (True), the journal failed or the timeout passed (False).
        For tools and tests; the event loop uses on_durable instead."""
        with self._cond:
            return self._cond.wait_for(
                lambda: self._durable_seq >= seq or self._failure is not None, timeout
            ) and self._durable_seq >= seq

    # -- state --------------------------------------------------------------------------------
    @property
    def next_seq(self) -> int:
        return self._encoder.next_seq

    @property
    def durable_seq(self) -> int:
        """Highest sequence reported durable (written, in mode none); 0 / first_seq - 1 if none."""
        return self._durable_seq

    @property
    def failure(self) -> JournalFailed | None:
        return self._failure

    @property
    def pending_bytes(self) -> int:
        """Bytes appended and not yet written: what max_pending_bytes bounds."""
        return self._encoder.pending_bytes + self._encoder.inflight_bytes

    def sample_sync_latencies(self) -> list[int]:
        """Start recording the duration of every fdatasync (ns) into the returned list."""
        samples: list[int] = []
        self._writer.sync_latencies_ns = samples
        return samples

    # -- reading and pruning ------------------------------------------------------------------
    def read(self, from_seq: int = 0, to_seq: int | None = None
             ) -> Iterator[tuple[int, int, int, bytes]]:
        """(seq, rtype, ts_ns, payload) of the records from_seq..to_seq (default: up to what is
        durable now), each checked again; for replay."""
        limit = self._durable_seq if to_seq is None else min(to_seq, self._durable_seq)
        return iter_segment_records(self.directory, from_seq, limit)

    def prune(self, before_seq: int) -> list[Path]:
        """Delete whole segments holding only records below before_seq (a snapshot covers them).
        The segment being appended to is never deleted."""
        segments = list_segments(self.directory)
        removed = []
        for (first, path), (next_first, _) in zip(segments, segments[1:]):
            if next_first - 1 < before_seq:
                self._ops.unlink(str(path))
                removed.append(path)
        if removed:
            self._ops.fsync_dir(str(self.directory))
            log.info("journal: pruned %d segments below sequence %d", len(removed), before_seq)
        return removed


def read_journal(directory: Path | str, from_seq: int = 0, to_seq: int | None = None
                 ) -> Iterator[tuple[int, int, int, bytes]]:
    """Read a journal directory that is not open (replay at start-up, tools), checking every
    record; a torn tail ends the iteration, corruption raises JournalCorrupt."""
    return iter_segment_records(Path(directory), from_seq, to_seq)
