"""Journal record framing (compiled; the byte layout is documented in journal.pxd).

This docstring is the contract.  The framing knows records, not files: ordex.core.journal puts
records into segment files, commits them in groups and recovers them.

Records
    size u32 | crc u32 | version u16 | rtype u16 | seq u64 | ts_ns i64 | payload, little-endian,
    28 header bytes.  `crc` is CRC32C over the size field and everything after the crc field, so a
    damaged size is caught as surely as a damaged payload.  `seq` never is 0 and grows by exactly
    one per record.  Version 0 never occurs, so an all-zero header is unambiguous: the end of what
    was written (preallocated space reads as zeros).

Decoding a buffer
    Every decoder walks records from an offset and stops at the first one that is not VALID,
    reporting a Status for it:
      END           the buffer ends exactly there, or an all-zero header (or all-zero remnant
                    shorter than a header) starts there;
      TORN          a record (or header) starts there but runs past the end of the buffer;
      BAD_LENGTH    its size field is below 28 or above 28 + MAX_PAYLOAD_LIMIT;
      BAD_VERSION   its version is not RECORD_VERSION (damage, or written by a newer ordex);
      BAD_CHECKSUM  its CRC32C does not match;
      BAD_SEQUENCE  the checksum is right but the sequence is not the one expected.
    Checks run in that order.  Whether a bad record is a torn write or corruption depends on where
    it is in the journal, which only the segment layer knows; `first_nonzero` and
    `has_zero_sector` give it the facts.

Checksums
    The crc32c package computes the CRC.  `crc_backend()` says whether its C function is called
    directly ("c", the normal case, verified against the package at import) or through its Python
    function ("python"); `use_crc_backend` switches, for benchmarks and tests.
"""
import enum
from collections.abc import Callable, Iterator

import numpy as np
import numpy.typing as npt
from typing_extensions import Buffer

RECORD_HEADER_SIZE: int  # 28
RECORD_VERSION: int  # 1
MAX_PAYLOAD_LIMIT: int  # 64 MiB: a larger size field is corruption
RESERVED_TYPES_START: int  # 0xFF00: record types from here up belong to the journal itself


class Status(enum.IntEnum):
    VALID = 0
    END = 1
    TORN = 2
    BAD_CHECKSUM = 3
    BAD_VERSION = 4
    BAD_LENGTH = 5
    BAD_SEQUENCE = 6


class JournalError(Exception): ...
class JournalFailed(JournalError): ...
class JournalBackpressure(JournalError): ...
class RecordTooLarge(JournalError, ValueError): ...


def crc_backend() -> str: ...
def use_crc_backend(name: str) -> str: ...
def record_crc(record: Buffer) -> int: ...
def encode_record(rtype: int, seq: int, ts_ns: int, payload: Buffer) -> bytes: ...


class RecordEncoder:
    """Appends records, numbered next_seq, next_seq + 1, ..., into a group buffer.

    append / append_many / append_fixed raise, appending nothing:
      ValueError             record type outside 0..65535, inconsistent append_many arrays,
                             an append_fixed size that does not divide its buffer;
      RecordTooLarge         a payload above max_payload;
      JournalBackpressure    pending_bytes + inflight_bytes would exceed `limit`;
      the exception given to fail(), once the journal has failed;
      whatever on_first_append raises (it runs before the first record of a group is committed).
    take() hands the group to the writer; release() returns its buffer and its bytes' allowance.
    """

    def __init__(self, next_seq: int = 1, capacity: int = 262144, max_payload: int = 1048576,
                 limit: int = 67108864, on_first_append: Callable[[], object] | None = None) -> None: ...
    def append(self, rtype: int, ts_ns: int, payload: Buffer) -> int: ...
    def append_many(self, rtypes: npt.NDArray[np.uint16], ts_ns: npt.NDArray[np.int64],
                    payloads: Buffer, offsets: npt.NDArray[np.int64]) -> int: ...
    def append_fixed(self, rtype: int, ts_ns: int, payloads: Buffer, size: int,
                     seq_at: int = -1, ts_at: int = -1) -> int:
        """len(payloads) // size records of one type and ts_ns, each `size` bytes of payloads
        (any C-contiguous buffer); with seq_at / ts_at >= 0 each record's seq / ts_ns is first
        written at that offset of its payload in the caller's (writable) buffer."""
    def take(self) -> tuple[bytearray, int, int, int] | None: ...
    def release(self, buf: bytearray, nbytes: int) -> None: ...
    def fail(self, error: BaseException) -> None: ...
    @property
    def error(self) -> BaseException | None: ...
    @property
    def next_seq(self) -> int: ...
    @property
    def pending_count(self) -> int: ...
    @property
    def pending_bytes(self) -> int: ...
    @property
    def inflight_bytes(self) -> int: ...
    @property
    def limit(self) -> int: ...
    @property
    def max_payload(self) -> int: ...


class RecordColumns:
    seq: npt.NDArray[np.uint64]
    rtype: npt.NDArray[np.uint16]
    ts_ns: npt.NDArray[np.int64]
    offset: npt.NDArray[np.int64]  # record start in the decoded buffer
    length: npt.NDArray[np.uint32]  # payload length
    count: int
    def __init__(self, capacity: int) -> None: ...
    @property
    def capacity(self) -> int: ...
    def payload(self, buf: Buffer, i: int) -> bytes: ...


def decode_into(buf: Buffer, offset: int, expected_seq: int,
                out: RecordColumns) -> tuple[int, int, Status]: ...
def check_record(buf: Buffer, offset: int = 0, expected_seq: int = 0) -> tuple[Status, int]: ...
def read_header(buf: Buffer, offset: int = 0) -> tuple[int, int, int, int, int, int]: ...


class RecordIterator(Iterator[tuple[int, int, int, bytes]]):
    """(seq, rtype, ts_ns, payload) of each valid record from `offset`, skipping (but checking)
    those below from_seq.  Once exhausted: status (a Status value), offset (where it stopped),
    next_seq (the sequence the next record had to carry)."""
    offset: int
    next_seq: int
    status: int
    def __init__(self, buf: Buffer, offset: int = 0, expected_seq: int = 0,
                 from_seq: int = 0) -> None: ...
    def __next__(self) -> tuple[int, int, int, bytes]: ...
    def release(self) -> None: ...


def write_sync(fd: int, buffers: list[Buffer], offset: int, sync: bool) -> int:
    """pwritev all of buffers at offset (completing partial writes), then fdatasync if sync, in
    one GIL-free call; returns the ns fdatasync took; OSError names the failing call."""


def first_nonzero(buf: Buffer, start: int = 0, end: int = -1) -> int: ...
def has_zero_sector(buf: Buffer, start: int, end: int, sector: int = 512) -> bool: ...
