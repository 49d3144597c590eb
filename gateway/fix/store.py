"""Persistent FIX message store: per session, the next sequence numbers and every outbound
application message, kept so that a ResendRequest can be answered after a restart.

Layout (store_dir/<session name>/):
    seqnums    one 40-byte record rewritten in place: magic, version, next sender and target
               MsgSeqNum, creation time, CRC32C
    messages   "OXFM" + u32 version, then blocks, one per flush: u32 payload length, u32 CRC32C
               of the payload, payload = records (u32 frame length, u64 MsgSeqNum, the frame
               exactly as sent).  Application messages only: admin messages are gap-filled on
               resend, so storing heartbeats would only cost disk.

Durability.  The session hands records to the store as it sends them; `flush()` writes what is
pending to the operating system (one writev for the block, one pwrite for the sequence numbers)
before the same flush gives the bytes to the socket, so a crash of the process never loses a
message the peer may have seen, and a block torn by a crash holds only messages that were never
sent.  `sync()` calls fdatasync on both files; the acceptor has its C sync thread do the same
(`sync_fds()`, ordex.ext.fixstoresync) a few milliseconds after a store was written ("batch" mode), or never ("none", which is what
QuickFIX's FileStore does).  The server's journal is the source of truth for orders; losing the
last milliseconds of this store to a power failure costs a resend request and a PossDup replay
that the engine deduplicates by ClOrdID, not an order.

Recovery: a torn block at the end of `messages` (a crash during a write, or a zero-filled tail
after a power failure) is truncated with a log line; a bad block anywhere else, or a damaged
`seqnums`, stops start-up with a StoreError that names the file and offset.
"""
from __future__ import annotations

import logging
import os
import struct
import time
from array import array
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from crc32c import crc32c

log = logging.getLogger("ordex.fix.store")

SEQNUMS = "seqnums"
MESSAGES = "messages"
_VERSION = 1
_SEQ = struct.Struct("<4sIQQQ")           # magic, version, next sender, next target, created_ns
_SEQ_SIZE = _SEQ.size + 4                 # + CRC32C
_SEQ_MAGIC = b"OXFS"
_FILE = struct.Struct("<4sI")             # messages file header: magic, version
_MSG_MAGIC = b"OXFM"
_BLOCK = struct.Struct("<II")             # payload length, CRC32C of the payload
_REC = struct.Struct("<IQ")               # frame length, MsgSeqNum
_CRC = struct.Struct("<I")
_pack_rec = _REC.pack
_READ_CHUNK = 1 << 20
_SMALL_BATCH_BYTES = 8 * 16              # append_records: up to 16 offsets without numpy
MAX_BLOCK = 1 << 30                       # a longer block is damage, not data


class StoreError(RuntimeError):
    """The store on disk is damaged or unusable; the message names the file and the offset."""


class MessageStore:
    """One session's store.  Not thread-safe except for `sync()` (and an fdatasync of the
    descriptors from `sync_fds()`), which another thread may do
    while the loop thread appends (write and fdatasync on one file descriptor may overlap)."""

    def __init__(self, directory: Path | str):
        self.path = Path(directory)
        self.path.mkdir(parents=True, exist_ok=True)
        self._seq_path = self.path / SEQNUMS
        self._msg_path = self.path / MESSAGES
        self._pending = bytearray()
        self._offsets = array("q")        # file offset of each MsgSeqNum's record; -1: none
        self._base = 1                    # MsgSeqNum of _offsets[0]
        self._size = 0                    # bytes of `messages` handed to the OS
        self.dirty = False                # written since the last sync()
        self.closed = False
        self.next_sender, self.next_target, self.created_ns = self._read_seqnums()
        self._written = (self.next_sender, self.next_target)
        self._msg_fd = os.open(self._msg_path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        self._seq_fd = os.open(self._seq_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            last = self._recover()
            if last >= self.next_sender:
                log.warning("%s: seqnums behind the stored messages; next sender %d -> %d",
                            self.path, self.next_sender, last + 1)
                self.next_sender = last + 1
            if self._written != (self.next_sender, self.next_target) or not self._seq_exists:
                self._write_seqnums()
        except BaseException:
            self._close_fds()
            raise

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
        if magic != _SEQ_MAGIC or crc != crc32c(data[:_SEQ.size]):
            raise StoreError(f"{self._seq_path}: damaged (bad magic or checksum)")
        if version != _VERSION:
            raise StoreError(f"{self._seq_path}: version {version}, this build reads {_VERSION}")
        if sender < 1 or target < 1:
            raise StoreError(f"{self._seq_path}: sequence numbers {sender}/{target} below 1")
        return sender, target, created

    def _write_seqnums(self) -> None:
        body = _SEQ.pack(_SEQ_MAGIC, _VERSION, self.next_sender, self.next_target, self.created_ns)
        os.pwrite(self._seq_fd, body + _CRC.pack(crc32c(body)), 0)
        self._written = (self.next_sender, self.next_target)
        self._seq_exists = True
        self.dirty = True

    # -- recovery -------------------------------------------------------------------------------

    def _recover(self) -> int:
        """Index `messages`; return the last stored MsgSeqNum (0 when empty)."""
        size = os.fstat(self._msg_fd).st_size
        if size == 0:
            self._start_file()
            return 0
        head = os.pread(self._msg_fd, _FILE.size, 0)
        if len(head) < _FILE.size or head[:4] != _MSG_MAGIC:
            raise StoreError(f"{self._msg_path}: not a message store (bad file header)")
        version = _FILE.unpack(head)[1]
        if version != _VERSION:
            raise StoreError(f"{self._msg_path}: version {version}, this build reads {_VERSION}")
        pos = _FILE.size
        last = 0
        while pos < size:
            header = os.pread(self._msg_fd, _BLOCK.size, pos)
            n, crc = _BLOCK.unpack(header) if len(header) == _BLOCK.size else (0, 0)
            end = pos + _BLOCK.size + n
            if len(header) < _BLOCK.size or n == 0 or n > MAX_BLOCK or end > size:
                self._truncate_torn(pos, size, end, "incomplete or malformed block")
                break
            payload = os.pread(self._msg_fd, n, pos + _BLOCK.size)
            if crc32c(payload) != crc:
                self._truncate_torn(pos, size, end, "block checksum mismatch")
                break
            last = self._index_block(payload, pos + _BLOCK.size, last)
            pos = end
        self._size = pos
        return last

    def _index_block(self, payload: bytes, base: int, last: int) -> int:
        off = 0
        while off < len(payload):
            if off + _REC.size > len(payload):
                raise StoreError(f"{self._msg_path}: record header cut at offset {base + off}")
            n, seq = _REC.unpack_from(payload, off)
            if seq <= last or off + _REC.size + n > len(payload):
                raise StoreError(f"{self._msg_path}: bad record at offset {base + off} "
                                 f"(length {n}, MsgSeqNum {seq} after {last})")
            self._index(seq, base + off)
            last = seq
            off += _REC.size + n
        return last

    def _truncate_torn(self, pos: int, size: int, end: int, what: str) -> None:
        # A crash mid-write leaves one partial last block, or a zero-filled tail after a power
        # failure; anything else was written whole and damaged later, which a resend must not
        # paper over.
        if not (end >= size or self._zero_tail(pos, size)):
            raise StoreError(f"{self._msg_path}: {what} at offset {pos} of {size}; the store "
                             f"is damaged: move it away to start the session afresh")
        log.warning("%s: truncating a torn block at offset %d (%s, %d bytes)",
                    self._msg_path, pos, what, size - pos)
        os.ftruncate(self._msg_fd, pos)

    def _zero_tail(self, offset: int, size: int) -> bool:
        while offset < size:
            chunk = os.pread(self._msg_fd, min(_READ_CHUNK, size - offset), offset)
            if not chunk or chunk.count(0) != len(chunk):
                return False
            offset += len(chunk)
        return True

    def _start_file(self) -> None:
        os.write(self._msg_fd, _FILE.pack(_MSG_MAGIC, _VERSION))
        self._size = _FILE.size

    # -- appending ------------------------------------------------------------------------------

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
        pending = self._pending
        offsets = self._offsets
        offset = self._size + _BLOCK.size + len(pending)
        if offsets and seq - self._base == len(offsets):
            offsets.append(offset)
        else:
            self._index(seq, offset)
        pending += _pack_rec(len(frame), seq)
        pending += frame

    def append_records(self, first_seq: int, records: bytes, offsets: bytes) -> None:
        """Keep consecutive outbound messages from first_seq on, already laid out as records
        (u32 frame length, u64 MsgSeqNum, frame); `offsets` holds the int64 offset of each record
        in `records`.  The batch form of append()."""
        base = self._size + _BLOCK.size + len(self._pending)
        index = self._offsets
        in_order = bool(index) and first_seq - self._base == len(index)
        if len(offsets) <= _SMALL_BATCH_BYTES:
            # a few records (one order's reports): numpy's fixed cost exceeds the loop's
            at = [base + o for o in array("q", offsets)]
            if in_order:
                index.extend(at)
                at = ()
        else:
            at = np.frombuffer(offsets, dtype=np.int64) + base
            if in_order:
                index.frombytes(at.tobytes())
                at = ()
            else:
                at = at.tolist()
        for k, offset in enumerate(at):
            self._index(first_seq + k, offset)
        self._pending += records

    def flush(self) -> None:
        """Hand pending records (one block) and changed sequence numbers to the OS."""
        if self._pending:
            payload = self._pending
            self._pending = bytearray()
            head = _BLOCK.pack(len(payload), crc32c(payload))
            total = len(head) + len(payload)
            done = os.writev(self._msg_fd, [head, payload])
            if done < total:                  # rare: a signal or a full disk mid-write
                rest = memoryview(head + payload)[done:]
                while rest:
                    rest = rest[os.write(self._msg_fd, rest):]
            self._size += total
            self.dirty = True
        if self._written[0] != self.next_sender or self._written[1] != self.next_target:
            self._write_seqnums()

    def sync_fds(self) -> tuple[int, int]:
        """The two descriptors a sync must fdatasync, for a sync done elsewhere (the acceptor's
        C thread, ordex.ext.fixstoresync); clears `dirty` as sync() does.  Neither may be closed
        before that sync has finished."""
        self.dirty = False
        return self._msg_fd, self._seq_fd

    def sync(self) -> None:
        """fdatasync both files (from any thread; releases the GIL)."""
        self.dirty = False
        if not self.closed:
            os.fdatasync(self._msg_fd)
            os.fdatasync(self._seq_fd)

    # -- reading --------------------------------------------------------------------------------

    def messages(self, begin: int, end: int) -> Iterator[tuple[int, bytes]]:
        """(MsgSeqNum, frame as sent) for the stored messages with begin <= MsgSeqNum <= end,
        in order.  Records of a range are close together in the file: read in large chunks."""
        self.flush()
        offsets = self._offsets
        base = self._base
        chunk = b""
        chunk_at = 0
        for i in range(max(begin, base) - base, min(end - base, len(offsets) - 1) + 1):
            off = offsets[i]
            if off < 0:
                continue
            rel = off - chunk_at
            if rel < 0 or rel + _REC.size > len(chunk):
                chunk, chunk_at, rel = os.pread(self._msg_fd, _READ_CHUNK, off), off, 0
            n, seq = _REC.unpack_from(chunk, rel) if rel + _REC.size <= len(chunk) else (0, 0)
            if seq != base + i:
                raise StoreError(f"{self._msg_path}: record at offset {off} is not the one "
                                 f"indexed (MsgSeqNum {seq}, expected {base + i})")
            stop = rel + _REC.size + n
            if stop > len(chunk):
                chunk, chunk_at = os.pread(self._msg_fd, max(_READ_CHUNK, _REC.size + n), off), off
                rel, stop = 0, _REC.size + n
                if stop > len(chunk):
                    raise StoreError(f"{self._msg_path}: record at offset {off} cut short")
            yield seq, chunk[rel + _REC.size:stop]

    def __len__(self) -> int:
        return sum(1 for o in self._offsets if o >= 0)

    # -- lifecycle ------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget all messages and start both sequences at 1 (ResetSeqNumFlag, reset_on_logon)."""
        self._pending = bytearray()
        self._offsets = array("q")
        self._base = 1
        os.ftruncate(self._msg_fd, 0)
        self._start_file()
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
