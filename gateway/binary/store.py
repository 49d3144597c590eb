"""Persistent store of one user's sequenced SoupBinTCP output, for replay after a reconnect or a
restart.

Layout: <dir>/<user>.soup
    header   magic "OXSOUP01", version u32, session alpha10, created_ns u64, CRC32C
    chunks   one per append (one per batch of events): magic u32, first_seq u64, count u32,
             nbytes u32, max_userref u32, the Sequenced Data packets exactly as sent (length, 'S',
             message), CRC32C of all that

A chunk reaches the operating system (os.write) before its bytes are given to the socket, so a
crash of the process never loses a message the client may have seen; `sync()` (fdatasync) runs
from the gateway's I/O thread every few milliseconds when something was written.  The engine's
journal is the source of truth for orders: losing the last milliseconds of this store to a power
failure costs the client the replay of those acknowledgements, not an order.

max_userref is the highest UserRefNum the gateway had accepted when the chunk was written, so that
"strictly increasing" survives a restart.

Recovery reads the file once: a torn chunk at the end (crash during a write) is truncated with a
log line; a bad chunk anywhere else stops start-up with StoreError naming the file and offset.
"""
from __future__ import annotations

import bisect
import logging
import os
import struct
import time
from array import array
from collections.abc import Iterator
from pathlib import Path

from crc32c import crc32c

log = logging.getLogger("ordex.binary.store")

_HEAD = struct.Struct(">8sI10s2xQ")
_HEAD_SIZE = _HEAD.size + 4
_MAGIC = b"OXSOUP01"
_VERSION = 1
_CHUNK = struct.Struct(">IQIII")
_CHUNK_MAGIC = 0x4F584331
_CRC = struct.Struct(">I")
_READ = 1 << 20
MAX_CHUNK = 1 << 28


class StoreError(RuntimeError):
    """The store on disk is damaged; the message names the file and the offset."""


class SequencedStore:
    def __init__(self, directory: str | Path, user: str, session: str | None = None):
        self.path = Path(directory) / f"{user}.soup"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._first = array("q")          # first sequence number of each chunk
        self._offset = array("q")         # file offset of each chunk's header
        self.next_seq = 1
        self.max_userref = 0
        self.dirty = False
        self.closed = False
        fresh = not self.path.exists() or self.path.stat().st_size == 0
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            if fresh:
                self.session = (session or time.strftime("%Y%m%d") + "01")[:10]
                self.created_ns = time.time_ns()
                body = _HEAD.pack(_MAGIC, _VERSION, self.session.encode().ljust(10),
                                  self.created_ns)
                os.write(self._fd, body + _CRC.pack(crc32c(body)))
                os.fsync(self._fd)
                self._size = _HEAD_SIZE
            else:
                self._recover()
        except BaseException:
            os.close(self._fd)
            raise

    def _recover(self) -> None:
        size = os.fstat(self._fd).st_size
        head = os.pread(self._fd, _HEAD_SIZE, 0)
        if len(head) < _HEAD_SIZE:
            raise StoreError(f"{self.path}: header cut short ({len(head)} bytes)")
        magic, version, session, created = _HEAD.unpack_from(head)
        if magic != _MAGIC or _CRC.unpack_from(head, _HEAD.size)[0] != crc32c(head[:_HEAD.size]):
            raise StoreError(f"{self.path}: not a SoupBinTCP store or damaged header")
        if version != _VERSION:
            raise StoreError(f"{self.path}: version {version}, this build reads {_VERSION}")
        self.session = session.decode().strip()
        self.created_ns = created
        offset = _HEAD_SIZE
        data, base = b"", offset          # data holds the file from `base`
        while offset < size:
            need = _CHUNK.size
            if offset + need > size:
                self._torn(offset, size, "chunk header cut short")
                break
            if offset + need > base + len(data):
                data, base = os.pread(self._fd, max(_READ, need), offset), offset
            magic, first, count, nbytes, maxref = _CHUNK.unpack_from(data, offset - base)
            if magic != _CHUNK_MAGIC:
                self._torn(offset, size, "bad chunk magic", zero_tail_only=True)
                break
            if first != self.next_seq or count == 0 or nbytes > MAX_CHUNK:
                raise StoreError(f"{self.path}: chunk at offset {offset} starts at sequence "
                                 f"{first} with {count} messages, expected {self.next_seq}")
            need = _CHUNK.size + nbytes + 4
            if offset + need > size:
                self._torn(offset, size, "chunk cut short")
                break
            if offset + need > base + len(data):
                data, base = os.pread(self._fd, max(_READ, need), offset), offset
            pos = offset - base
            if _CRC.unpack_from(data, pos + need - 4)[0] != crc32c(data[pos:pos + need - 4]):
                if offset + need != size:
                    raise StoreError(f"{self.path}: checksum mismatch in the chunk at offset "
                                     f"{offset} of {size}; the store is damaged: move it away "
                                     "to start the user's session afresh")
                self._torn(offset, size, "checksum mismatch in the last chunk")
                break
            self._first.append(first)
            self._offset.append(offset)
            self.next_seq = first + count
            self.max_userref = max(self.max_userref, maxref)
            offset += need
        self._size = min(offset, size)

    def _torn(self, offset: int, size: int, what: str, zero_tail_only: bool = False) -> None:
        # A crash mid-write leaves the last chunk short; a power failure may leave zeros.
        # Anything else was written whole and damaged later, which a replay must not paper over.
        if zero_tail_only and not self._zero_tail(offset, size):
            raise StoreError(f"{self.path}: {what} at offset {offset} of {size}; the store is "
                             "damaged: move it away to start the user's session afresh")
        log.warning("%s: truncating a torn chunk at offset %d (%s, %d bytes)", self.path, offset,
                    what, size - offset)
        os.ftruncate(self._fd, offset)

    def _zero_tail(self, offset: int, size: int) -> bool:
        while offset < size:
            chunk = os.pread(self._fd, min(_READ, size - offset), offset)
            if not chunk or chunk.count(0) != len(chunk):
                return False
            offset += len(chunk)
        return True

    # -- writing --------------------------------------------------------------------------------
    def append(self, packets: bytes, count: int, max_userref: int = 0) -> int:
        """Store `count` Sequenced Data packets (as they will be sent); returns the sequence
        number of the first."""
        if self.closed:
            raise StoreError(f"{self.path}: store is closed")
        first = self.next_seq
        if max_userref > self.max_userref:
            self.max_userref = max_userref
        # one chunk is usually one small write: no memoryview unless the kernel took part of it
        body = _CHUNK.pack(_CHUNK_MAGIC, first, count, len(packets), self.max_userref) + packets
        data = body + _CRC.pack(crc32c(body))
        size = len(data)
        written = os.write(self._fd, data)
        if written != size:
            view = memoryview(data)[written:]
            while view:
                view = view[os.write(self._fd, view):]
        self._first.append(first)
        self._offset.append(self._size)
        self._size += size
        self.next_seq = first + count
        self.dirty = True
        return first

    def sync(self) -> None:
        """fdatasync (from an I/O thread; releases the GIL)."""
        self.dirty = False
        if not self.closed:
            os.fdatasync(self._fd)

    # -- reading --------------------------------------------------------------------------------
    def read_from(self, seq: int) -> Iterator[bytes]:
        """The stored packets from sequence number `seq` to the end (as it is when each block is
        read: appends made meanwhile are included), in blocks of whole packets."""
        if seq >= self.next_seq:
            return
        k = max(bisect.bisect_right(self._first, seq) - 1, 0)
        skip = seq - self._first[k]
        while k < len(self._first):
            offset = self._offset[k]
            head = os.pread(self._fd, _CHUNK.size, offset)
            _, first, count, nbytes, _ = _CHUNK.unpack(head)
            payload = os.pread(self._fd, nbytes, offset + _CHUNK.size)
            if len(payload) != nbytes:
                raise StoreError(f"{self.path}: chunk at offset {offset} cut short while reading")
            start = 0
            while skip:
                start += 2 + ((payload[start] << 8) | payload[start + 1])
                skip -= 1
            yield payload[start:] if start else payload
            k += 1

    # -- lifecycle ------------------------------------------------------------------------------
    def close(self) -> None:
        if self.closed:
            return
        try:
            os.fdatasync(self._fd)
        finally:
            self.closed = True
            os.close(self._fd)

    def __repr__(self) -> str:
        return f"SequencedStore({str(self.path)!r}, session={self.session!r}, next_seq={self.next_seq})"
