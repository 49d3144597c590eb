"""Journal segment files: naming, header, the system calls made on them, and the scan that
checks every record on open (and for `ordex journal verify`).

A journal directory holds segment files named by the sequence of their first record,
`00000000000000000001.jnl`, each a 64-byte header followed by records back to back (the record
layout is in ext/journal.pxd), possibly followed by zeros (preallocated, never written).

Segment header (little-endian):
    0   8  magic b"ORDEXJNL"
    8   2  segment format version (1)
   10   2  record layout version the segment was written with
   12   4  header size (64)
   16   8  first_seq: the sequence the first record carries (also in the file name)
   24   8  created_ns: wall clock at creation, informational only
   32  28  zeros
   60   4  CRC32C of bytes [0, 60)

Where a record fails to check decides what it means:
  * Only at the very end of the last segment can a record be torn by a crash: its write had not
    completed, so it was never reported durable and is dropped (the file is truncated there).
    "At the very end" means the record runs past the end of the file, or it ends in a
    sector-aligned piece of zeros (the part of the write that never reached the disk) and only
    zeros follow it.  A complete record with a bad checksum and nothing after it is damage, not a
    torn write, because the journal only ever writes over zeros.
  * Anything else (a bad record followed by data, a bad record in an earlier segment, an
    all-zero header followed by data, a sequence that is not the previous one + 1 within or
    between segments) is corruption: JournalCorrupt names the file, the offset and the sequence.
"""
from __future__ import annotations

import errno
import logging
import mmap
import os
import re
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import crc32c

from ordex.ext.journal import (RECORD_HEADER_SIZE, RECORD_VERSION, JournalError, RecordColumns,
                               RecordIterator, Status, decode_into, first_nonzero,
                               has_zero_sector, read_header, write_sync)

log = logging.getLogger("ordex.journal")

SEGMENT_MAGIC = b"ORDEXJNL"
SEGMENT_FORMAT = 1
SEGMENT_HEADER_SIZE = 64
SEGMENT_SUFFIX = ".jnl"
TEMP_SUFFIX = ".tmp"
# Disks persist whole sectors; a write cut short by a crash leaves zeros in sector-aligned pieces.
SECTOR_BYTES = 512

_HEADER = struct.Struct("<8sHHIQq28x")
_NAME = re.compile(r"^(\d{20})\.jnl$")


class JournalCorrupt(JournalError):
    """A record or segment that fails its checks anywhere a crash cannot explain."""

    def __init__(self, path: Path | str, offset: int, seq: int | None, reason: str):
        self.path = str(path)
        self.offset = offset
        self.seq = seq
        self.reason = reason
        where = f"{self.path}: offset {offset}"
        if seq is not None:
            where += f", sequence {seq}"
        super().__init__(f"journal corrupt at {where}: {reason}")


def segment_name(first_seq: int) -> str:
    return f"{first_seq:020d}{SEGMENT_SUFFIX}"


def encode_segment_header(first_seq: int, created_ns: int | None = None) -> bytes:
    created = time.time_ns() if created_ns is None else created_ns
    body = _HEADER.pack(SEGMENT_MAGIC, SEGMENT_FORMAT, RECORD_VERSION, SEGMENT_HEADER_SIZE,
                        first_seq, created)
    return body + struct.pack("<I", crc32c.crc32c(body))


@dataclass(frozen=True)
class SegmentHeader:
    first_seq: int
    record_version: int
    created_ns: int


def decode_segment_header(buf: bytes | memoryview | mmap.mmap, path: Path | str) -> SegmentHeader:
    if len(buf) < SEGMENT_HEADER_SIZE:
        raise JournalCorrupt(path, 0, None, f"file of {len(buf)} bytes is shorter than the "
                                            f"{SEGMENT_HEADER_SIZE}-byte segment header")
    head = bytes(buf[:SEGMENT_HEADER_SIZE])
    magic, fmt, rec_version, size, first_seq, created = _HEADER.unpack(head[:60])
    if magic != SEGMENT_MAGIC:
        raise JournalCorrupt(path, 0, None, f"not an ordex journal segment (magic {magic!r})")
    (stored,) = struct.unpack("<I", head[60:])
    if crc32c.crc32c(head[:60]) != stored:
        raise JournalCorrupt(path, 0, None, "segment header checksum mismatch")
    if fmt != SEGMENT_FORMAT or size != SEGMENT_HEADER_SIZE:
        raise JournalCorrupt(path, 0, None, f"segment format {fmt} with a {size}-byte header is "
                                            f"not supported (this ordex reads format {SEGMENT_FORMAT})")
    if rec_version != RECORD_VERSION:
        raise JournalCorrupt(path, 0, None, f"records of layout version {rec_version}; this ordex "
                                            f"reads version {RECORD_VERSION}")
    if first_seq == 0:
        raise JournalCorrupt(path, 0, None, "segment header names first sequence 0")
    return SegmentHeader(first_seq, rec_version, created)


class FileOps:
    """Every system call the journal makes on its files, in one place so that tests can make
    them fail (ENOSPC, EIO) or block."""

    def write_sync(self, fd: int, buffers: list, offset: int, sync: bool) -> int:
        """Write all of buffers at offset, then fdatasync when `sync`; returns the ns the
        fdatasync took.  The sync thread's one call per group: compiled, GIL released once, unless
        a subclass replaced pwritev or fdatasync (fault injection), which are then used."""
        cls = type(self)
        if cls.pwritev is FileOps.pwritev and cls.fdatasync is FileOps.fdatasync:
            return write_sync(fd, buffers, offset, sync)
        if buffers:
            write_all(self, fd, buffers, offset)
        if not sync:
            return 0
        t0 = time.perf_counter_ns()
        self.fdatasync(fd)
        return time.perf_counter_ns() - t0

    def open(self, path: str, flags: int, mode: int = 0o644) -> int:
        return os.open(path, flags, mode)

    def close(self, fd: int) -> None:
        os.close(fd)

    def pwritev(self, fd: int, buffers: list, offset: int) -> int:
        return os.pwritev(fd, buffers, offset)

    def fdatasync(self, fd: int) -> None:
        os.fdatasync(fd)

    def fsync(self, fd: int) -> None:
        os.fsync(fd)

    def ftruncate(self, fd: int, length: int) -> None:
        os.ftruncate(fd, length)

    def fallocate(self, fd: int, offset: int, length: int) -> None:
        os.posix_fallocate(fd, offset, length)

    def rename(self, src: str, dst: str) -> None:
        os.rename(src, dst)

    def unlink(self, path: str) -> None:
        os.unlink(path)

    def fsync_dir(self, path: str) -> None:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_all(ops: FileOps, fd: int, buffers: list, offset: int) -> int:
    """pwritev until every byte is written (a regular file may take a write in parts)."""
    views = [memoryview(b).cast("B") for b in buffers]
    total = sum(len(v) for v in views)
    done = 0
    while views:
        n = ops.pwritev(fd, views, offset + done)
        if n <= 0:
            raise OSError(errno.EIO, f"pwritev wrote {n} bytes")
        done += n
        while views and n >= len(views[0]):
            n -= len(views.pop(0))
        if n:
            views[0] = views[0][n:]
    return total


def list_segments(directory: Path | str) -> list[tuple[int, Path]]:
    """(first_seq, path) of every segment file, in sequence order.  Other files are ignored."""
    out = []
    for entry in os.scandir(directory):
        m = _NAME.match(entry.name)
        if m and entry.is_file():
            out.append((int(m.group(1)), Path(entry.path)))
    out.sort()
    return out


@dataclass
class TornTail:
    path: str
    offset: int           # where the dropped bytes start (the file is truncated to this length)
    seq: int              # sequence the torn record would have carried
    status: Status
    discarded_bytes: int  # non-zero bytes dropped

    def describe(self) -> str:
        return (f"{self.path}: torn record at offset {self.offset} (sequence {self.seq}, "
                f"{self.status.name}), {self.discarded_bytes} bytes discarded")


@dataclass
class SegmentInfo:
    path: Path
    first_seq: int
    records: int
    data_end: int         # offset just past the last valid record
    file_size: int
    torn: TornTail | None = None

    @property
    def last_seq(self) -> int:
        """Sequence of the last record, first_seq - 1 when the segment holds none."""
        return self.first_seq + self.records - 1


@dataclass
class ScanResult:
    segments: list[SegmentInfo] = field(default_factory=list)

    @property
    def first_seq(self) -> int | None:
        return self.segments[0].first_seq if self.segments else None

    @property
    def last_seq(self) -> int | None:
        return self.segments[-1].last_seq if self.segments else None

    @property
    def records(self) -> int:
        return sum(s.records for s in self.segments)

    @property
    def torn(self) -> TornTail | None:
        return self.segments[-1].torn if self.segments else None


def _load(path: Path, exclusive: bool) -> tuple[mmap.mmap | bytes, int]:
    """The segment's bytes.  Mapped only when `exclusive` (the caller holds the directory lock and
    no writer runs): a writer truncating a segment at rotation under a mapping would make the
    next access past the new end a SIGBUS.  Otherwise a copy, which is always safe."""
    with open(path, "rb") as f:
        if not exclusive:
            data = f.read()
            return data, len(data)
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            return b"", 0
        return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ), size


def classify_stop(buf, path: Path, offset: int, seq: int, status: Status,
                  is_last: bool) -> TornTail | None:
    """Decide what a decoder stop at `offset` means: None for a clean end, a TornTail for a torn
    write at the very end of the last segment; raises JournalCorrupt for anything else."""
    size = len(buf)
    if status == Status.END:
        rest = first_nonzero(buf, offset)
        if rest < 0:
            return None
        raise JournalCorrupt(path, offset, seq, f"an all-zero record header is followed by data "
                                                f"at offset {rest}: a hole in the journal")
    if status == Status.BAD_SEQUENCE:
        found = read_header(buf, offset)[4]
        raise JournalCorrupt(path, offset, seq, f"record carries sequence {found}, expected {seq}")
    if status == Status.TORN:
        if is_last:
            return TornTail(str(path), offset, seq, status, size - offset)
        raise JournalCorrupt(path, offset, seq, "segment ends inside a record, and later "
                                                "segments follow")
    detail = {Status.BAD_CHECKSUM: "checksum mismatch", Status.BAD_VERSION: "unknown record version",
              Status.BAD_LENGTH: "impossible record length"}[status]
    if offset + RECORD_HEADER_SIZE <= size:
        rec_size, _, version, _, _, _ = read_header(buf, offset)
        if status == Status.BAD_VERSION:
            detail += f" {version}"
        elif status == Status.BAD_LENGTH:
            detail += f" {rec_size}"
    else:
        rec_size = 0
    extent = offset + rec_size if status != Status.BAD_LENGTH else offset + RECORD_HEADER_SIZE
    extent = min(max(extent, offset + 1), size)
    if not is_last:
        raise JournalCorrupt(path, offset, seq, detail)
    after = first_nonzero(buf, extent)
    if after >= 0:
        raise JournalCorrupt(path, offset, seq, f"{detail}; valid-looking data follows at "
                                                f"offset {after}")
    if not has_zero_sector(buf, offset, extent, SECTOR_BYTES):
        raise JournalCorrupt(path, offset, seq, f"{detail} in the last record, which was "
                                                "written in full (no torn sector): damaged")
    return TornTail(str(path), offset, seq, status, extent - offset)


def scan_segment(path: Path, first_seq: int, is_last: bool, columns: RecordColumns,
                 exclusive: bool = False) -> SegmentInfo:
    """Check every record of one segment (see the module docstring for what a failure means)."""
    buf, size = _load(path, exclusive)
    try:
        header = decode_segment_header(buf, path)
        if header.first_seq != first_seq:
            raise JournalCorrupt(path, 16, header.first_seq, f"header names first sequence "
                                                             f"{header.first_seq}, the file name {first_seq}")
        offset, expected, records = SEGMENT_HEADER_SIZE, first_seq, 0
        while True:
            count, offset, status = decode_into(buf, offset, expected, columns)
            records += count
            expected += count
            if status != Status.VALID:
                break
        torn = classify_stop(buf, path, offset, expected, status, is_last)
        return SegmentInfo(path, first_seq, records, offset, size, torn)
    finally:
        if isinstance(buf, mmap.mmap):
            buf.close()


def scan_directory(directory: Path | str, *, columns: int = 65536,
                   exclusive: bool = False) -> ScanResult:
    """Check every record of every segment, and that the sequence runs on from segment to
    segment.  Nothing is changed on disk (see `repair_torn_tail`).  exclusive: the caller holds
    the directory lock, so segments may be memory-mapped instead of read."""
    result = ScanResult()
    cols = RecordColumns(columns)
    segments = list_segments(directory)
    for i, (first_seq, path) in enumerate(segments):
        is_last = i == len(segments) - 1
        if result.segments:
            prev = result.segments[-1]
            if first_seq != prev.last_seq + 1:
                what = "missing segment" if first_seq > prev.last_seq + 1 else "overlapping segments"
                raise JournalCorrupt(path, 0, first_seq, f"{what}: {prev.path.name} ends at sequence "
                                                         f"{prev.last_seq}, this segment starts at "
                                                         f"{first_seq} (expected {prev.last_seq + 1})")
        result.segments.append(scan_segment(path, first_seq, is_last, cols, exclusive))
    return result


def repair_torn_tail(torn: TornTail, ops: FileOps) -> None:
    """Cut the last segment back to its last valid record and make that durable."""
    fd = ops.open(torn.path, os.O_WRONLY)
    try:
        ops.ftruncate(fd, torn.offset)
        ops.fsync(fd)
    finally:
        ops.close(fd)
    log.warning("journal: truncated %s", torn.describe())


def iter_segment_records(directory: Path | str, from_seq: int, to_seq: int | None,
                         segments: list[tuple[int, Path]] | None = None,
                         ) -> Iterator[tuple[int, int, int, bytes]]:
    """(seq, rtype, ts_ns, payload) of every record with from_seq <= seq <= to_seq, checked as
    the scan checks them; a torn tail at the end of the last segment just ends the iteration."""
    segments = list_segments(directory) if segments is None else segments
    if segments and 0 < from_seq < segments[0][0]:
        raise JournalCorrupt(segments[0][1], 0, from_seq, f"records from sequence {from_seq} were "
                                                          f"asked for, the journal starts at "
                                                          f"{segments[0][0]}")
    start = 0
    for i, (first_seq, _) in enumerate(segments):
        if first_seq <= from_seq:
            start = i
    expected = None
    for i in range(start, len(segments)):
        first_seq, path = segments[i]
        if expected is not None and first_seq != expected:
            raise JournalCorrupt(path, 0, first_seq, f"missing segment: expected one starting at "
                                                     f"sequence {expected}")
        if to_seq is not None and first_seq > to_seq:
            return
        buf, size = _load(path, exclusive=False)
        it = None
        try:
            header = decode_segment_header(buf, path)
            if header.first_seq != first_seq:
                raise JournalCorrupt(path, 16, header.first_seq, "header and file name disagree "
                                                                 "on the first sequence")
            it = RecordIterator(buf, SEGMENT_HEADER_SIZE, first_seq, from_seq)
            for rec in it:
                if to_seq is not None and rec[0] > to_seq:
                    return
                yield rec
                # Stop at to_seq without looking at what follows: on a live journal that may be
                # a record still being written.
                if rec[0] == to_seq:
                    return
            classify_stop(buf, path, it.offset, it.next_seq, Status(it.status),
                          i == len(segments) - 1)
            expected = it.next_seq
        finally:
            if it is not None:
                it.release()
            if isinstance(buf, mmap.mmap):
                buf.close()
