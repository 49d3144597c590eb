"""Persistent FIX message store: per session, the next sequence numbers and every outbound
application message, kept so that a ResendRequest can be answered after a restart.

Layout (store_dir/<session name>/):
    seqnums    one 40-byte record rewritten in place: magic, version, next sender and target
               MsgSeqNum, creation time, CRC32C
    messages   append-only records: u32 frame length, u64 MsgSeqNum, the frame exactly as sent,
               u32 CRC32C of all that; application messages only (admin messages are gap-filled
               on resend, so storing heartbeats would only cost disk)

Durability.  The session hands records to the store as it sends them; `flush()` writes what is
pending to the operating system (one write for the records, one pwrite for the sequence numbers)
before the bytes are given to the socket, so a crash of the process never loses a message the
peer may have seen.  `sync()` calls fdatasync on both files; the acceptor calls it from its I/O
thread every few milliseconds for stores that were written ("batch" mode), or never ("none",
which is what QuickFIX's FileStore does).  The server's journal is the source of truth for
orders; losing the last milliseconds of this store to a power failure costs a resend request and
a PossDup replay that the engine deduplicates by ClOrdID, not an order.

Recovery: a torn record at the end of `messages` (crash during a write) is truncated with a log
line; a bad record anywhere else, or a damaged `seqnums`, stops start-up with a StoreError that
names the file and offset.
"""
from __future__ import annotations

import logging
import os
import struct
import time
from array import array
from collections.abc import Iterator
from pathlib import Path

from crc32c import crc32c

log = logging.getLogger("ordex.fix.store")

SEQNUMS = "seqnums"
MESSAGES = "messages"
_SEQ = struct.Struct("<4sIQQQ")          # magic, version, next sender, next target, created_ns
_SEQ_SIZE = _SEQ.size + 4                # + CRC32C
_MAGIC = b"OXFS"
_VERSION = 1
_REC = struct.Struct("<IQ")               # frame length, MsgSeqNum
_CRC = struct.Struct("<I")
_REC_OVERHEAD = _REC.size + _CRC.size
_READ_CHUNK = 1 << 20
MAX_FRAME = 1 << 26                       # a stored frame larger than this is damage, not data


class StoreError(RuntimeError):
    """The store on disk is damaged or unusable; the message names the file and the offset."""


class MessageStore:
    """One session's store.  Not thread-safe except for `sync()`, which the I/O thread may call
    while the loop thread appends (write and fdatasync on one file descriptor may overlap)."""

    def __init__(self, directory: Path | str):
        self.path = Path(directory)
        self.path.mkdir(parents=True, exist_ok=True)
        self._seq_path = self.path / SEQNUMS
        self._msg_path = self.path / MESSAGES
        self._pending = bytearray()
        self._offsets = array("q")        # record offset per MsgSeqNum from _base; -1: none
        self._base = 1
        self._size = 0                    # bytes of `messages` written to the OS
        self.dirty = False                # written since the last sync()
        self.closed = False
        self.next_sender, self.next_target, self.created_ns = self._read_seqnums()
        self._written = (self.next_sender, self.next_target)
        self._msg_fd = os.open(self._msg_path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        self._seq_fd = os.open(self._seq_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            last = self._recover()
        except BaseException:
            self._close_fds()
            raise
        if last >= self.next_sender:
            log.warning("%s: seqnums behind the stored messages; next sender %d -> %d",
                        self.path, self.next_sender, last + 1)
            self.next_sender = last + 1
        if self._written != (self.next_sender, self.next_target) or not self._seq_exists:
            self._write_seqnums()

    # -- sequence numbers -----------------------------------------------------------------------

    def _read_seqnums(self) -> tuple[int, int, int]:
        try:
            data = self._seq_path.read_bytes()
        except FileNotFoundError:
            self._seq_exists = False
            return 1, 1, time.time_ns()
        self._seq_exists = True
        if len(data) != _SEQ_SIZE:
            raise StoreError(f"{self._seq_path}: {len(data)} bytes, expected {_SEQ_SIZE}")
        magic, version, sender, target, created = _SEQ.unpack_from(data)
        (crc,) = _CRC.unpack_from(data, _SEQ.size)
        if magic != _MAGIC or crc != crc32c(data[:_SEQ.size]):
            raise StoreError(f"{self._seq_path}: damaged (bad magic or checksum)")
        if version != _VERSION:
            raise StoreError(f"{self._seq_path}: version {version}, this build reads {_VERSION}")
        if sender < 1 or target < 1:
            raise StoreError(f"{self._seq_path}: sequence numbers {sender}/{target} below 1")
        return sender, target, created

    def _write_seqnums(self) -> None:
        body = _SEQ.pack(_MAGIC, _VERSION, self.next_sender, self.next_target, self.created_ns)
        os.pwrite(self._seq_fd, body + _CRC.pack(crc32c(body)), 0)
        self._written = (self.next_sender, self.next_target)
        self._seq_exists = True
        self.dirty = True

    # -- messages -------------------------------------------------------------------------------

    def _records(self, offset: int) -> Iterator[tuple[int, int, int, bytes | None, str]]:
        """Records from offset to the end of `messages`: (offset, MsgSeqNum, length, frame, ""),
        or frame None and what is wrong for a record cut short or damaged (iteration ends)."""
        data = b""
        base = offset                     # file offset of data[0]
        pos = 0
        while True:
            if len(data) - pos < _REC.size + _CRC.size:
                more = os.pread(self._msg_fd, _READ_CHUNK, base + len(data))
                if not more:
                    if pos < len(data):
                        yield base + pos, 0, len(data) - pos, None, "incomplete record header"
                    return
                data = data[pos:] + more
                base += pos
                pos = 0
                continue
            n, seq = _REC.unpack_from(data, pos)
            end = pos + _REC.size + n + _CRC.size
            if n == 0 or n > MAX_FRAME:
                yield base + pos, seq, n, None, f"bad record length {n}"
                return
            if end > len(data):
                more = os.pread(self._msg_fd, max(_READ_CHUNK, end - len(data)), base + len(data))
                if not more:
                    yield base + pos, seq, n, None, "incomplete record"
                    return
                data = data[pos:] + more
                base += pos
                pos = 0
                continue
            frame = data[pos + _REC.size:end - _CRC.size]
            (crc,) = _CRC.unpack_from(data, end - _CRC.size)
            if crc != crc32c(frame, crc32c(data[pos:pos + _REC.size])):
                yield base + pos, seq, n, None, "checksum mismatch"
                return
            yield base + pos, seq, n, frame, ""
            pos = end

    def _recover(self) -> int:
        """Index `messages`; return the last stored MsgSeqNum (0 when empty)."""
        size = os.fstat(self._msg_fd).st_size
        last = 0
        for offset, seq, n, frame, problem in self._records(0):
            if frame is None or seq <= last:
                self._truncate_torn(offset, size, n, problem or f"MsgSeqNum {seq} after {last}")
                break
            self._index(seq, offset)
            last = seq
        else:
            self._size = size
        return last

    def _truncate_torn(self, offset: int, size: int, n: int, what: str) -> None:
        # A crash mid-write leaves one partial last record, or a zero-filled tail after a power
        # failure; anything else was written whole and damaged later, which a resend must not
        # paper over.
        last_record = 0 < n <= MAX_FRAME and offset + _REC_OVERHEAD + n >= size
        if not (last_record or self._zero_tail(offset, size)):
            raise StoreError(f"{self._msg_path}: {what} at offset {offset} of {size}; the store "
                             f"is damaged: move it away to start the session afresh")
        log.warning("%s: truncating a torn record at offset %d (%s, %d bytes)",
                    self._msg_path, offset, what, size - offset)
        os.ftruncate(self._msg_fd, offset)
        self._size = offset

    def _zero_tail(self, offset: int, size: int) -> bool:
        while offset < size:
            chunk = os.pread(self._msg_fd, min(_READ_CHUNK, size - offset), offset)
            if not chunk or chunk.count(0) != len(chunk):
                return False
            offset += len(chunk)
        return True

    def _index(self, seq: int, offset: int) -> None:
        offsets = self._offsets
        if not offsets:
            self._base = seq
        i = seq - self._base
        if i < len(offsets):
            raise ValueError(f"MsgSeqNum {seq} stored out of order (next is "
                             f"{self._base + len(offsets)})")
        if i > len(offsets):
            offsets.extend(array("q", [-1]) * (i - len(offsets)))
        offsets.append(offset)

    def append(self, seq: int, frame: bytes) -> None:
        """Keep an outbound application message; it reaches the OS at the next flush()."""
        head = _REC.pack(len(frame), seq)
        self._index(seq, self._size + len(self._pending))
        pending = self._pending
        pending += head
        pending += frame
        pending += _CRC.pack(crc32c(frame, crc32c(head)))

    def flush(self) -> None:
        """Hand pending records and changed sequence numbers to the OS (no fdatasync)."""
        if self._pending:
            data = self._pending
            self._pending = bytearray()
            view = memoryview(data)
            while view:
                view = view[os.write(self._msg_fd, view):]
            self._size += len(data)
            self.dirty = True
        if self._written[0] != self.next_sender or self._written[1] != self.next_target:
            self._write_seqnums()

    def sync(self) -> None:
        """fdatasync both files (from the I/O thread; releases the GIL)."""
        self.dirty = False
        if not self.closed:
            os.fdatasync(self._msg_fd)
            os.fdatasync(self._seq_fd)

    def messages(self, begin: int, end: int) -> Iterator[tuple[int, bytes]]:
        """(MsgSeqNum, frame as sent) for the stored messages with begin <= MsgSeqNum <= end,
        in order.  Records are contiguous in the file, so one sequential read serves a range."""
        self.flush()
        offsets = self._offsets
        first = max(begin, self._base) - self._base
        last = min(end - self._base, len(offsets) - 1)
        while first <= last and offsets[first] < 0:
            first += 1
        if first > last:
            return
        for offset, seq, n, frame, problem in self._records(offsets[first]):
            if frame is None:
                raise StoreError(f"{self._msg_path}: {problem} at offset {offset}")
            if seq > end:
                return
            i = seq - self._base
            if not 0 <= i < len(offsets) or offsets[i] != offset:
                raise StoreError(f"{self._msg_path}: record at offset {offset} is not the one "
                                 f"indexed (MsgSeqNum {seq})")
            yield seq, frame

    def __len__(self) -> int:
        return sum(1 for o in self._offsets if o >= 0)

    # -- lifecycle ------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget all messages and start both sequences at 1 (ResetSeqNumFlag, reset_on_logon)."""
        self._pending = bytearray()
        self._offsets = array("q")
        self._base = 1
        os.ftruncate(self._msg_fd, 0)
        self._size = 0
        self.next_sender = self.next_target = 1
        self.created_ns = time.time_ns()
        self._write_seqnums()
        # A reset is rare and must not come back after a power failure with old numbers.
        os.fdatasync(self._msg_fd)
        os.fdatasync(self._seq_fd)

    def close(self) -> None:
        if self.closed:
            return
        try:
            self.flush()
            os.fdatasync(self._msg_fd)
            os.fdatasync(self._seq_fd)
        finally:
            self.closed = True
            self._close_fds()

    def _close_fds(self) -> None:
        for fd in (self._msg_fd, self._seq_fd):
            try:
                os.close(fd)
            except OSError:
                pass

    def __repr__(self) -> str:
        return (f"MessageStore({str(self.path)!r}, next_sender={self.next_sender}, "
                f"next_target={self.next_target})")
