# cython: freethreading_compatible = False
"""Journal record framing (layout in journal.pxd, contract in journal.pyi)."""
import sys

import numpy as np
import crc32c as _crc32c_pkg
from crc32c import _crc32c as _crc32c_ext

from cpython.buffer cimport PyBUF_SIMPLE, PyBUF_WRITABLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_FromStringAndSize, PyByteArray_Resize
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.errno cimport EINTR, EIO, errno
from libc.stdint cimport int64_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec
from posix.uio cimport iovec, pwritev
from posix.unistd cimport fdatasync

cdef extern from "Python.h":
    object PyMemoryView_FromMemory(char* mem, Py_ssize_t size, int flags)
    int PyBUF_READ

cdef extern from "<dlfcn.h>" nogil:
    void* dlopen(const char* filename, int flags)
    void* dlsym(void* handle, const char* symbol)
    int RTLD_NOW
    int RTLD_NOLOAD

if sys.byteorder != "little":
    raise ImportError("ordex.ext.journal writes little-endian records with native stores; "
                      "big-endian hosts are not supported")

RECORD_HEADER_SIZE = HEADER_SIZE
RECORD_VERSION = VERSION
MAX_PAYLOAD_LIMIT = HARD_MAX_PAYLOAD
RESERVED_TYPES_START = 0xFF00


class JournalError(Exception):
    """Base of every journal error."""


class JournalFailed(JournalError):
    """A write or sync failed; the journal accepts nothing more until it is reopened."""


class JournalBackpressure(JournalError):
    """More bytes are waiting for the disk than the configured bound allows; retry later."""


class RecordTooLarge(JournalError, ValueError):
    """A payload above the journal's max_payload."""


# ---------------------------------------------------------------------------------------------
# CRC32C.  The crc32c package computes it in C (SSE4.2 / ARMv8 instructions or slicing-by-8), but
# through its Python function a small record costs ~120 ns of call overhead, several times the
# checksum itself.  Its extension module exports the C functions declared in its crc32c.h, so we
# look the one it chose up in the already loaded module and use it directly, after checking it
# against the package's Python function; if anything about that fails we call through Python.

cdef crc_fn_t _crc_fn = NULL          # NULL: call the package's Python function
cdef crc_fn_t _crc_fn_c = NULL        # the verified C function, if found
cdef object _py_crc = _crc32c_pkg.crc32c


cdef uint32_t _crc_record(const unsigned char* p, Py_ssize_t size) except? 0:
    """CRC32C of a record: its size field, then everything after the crc field."""
    cdef uint32_t c
    if _crc_fn != NULL:
        c = _crc_fn(0xFFFFFFFFu, p, 4)
        c = _crc_fn(c, p + 8, <unsigned long>(size - 8))
        return c ^ 0xFFFFFFFFu
    v = _py_crc(PyMemoryView_FromMemory(<char*>p, 4, PyBUF_READ))
    return _py_crc(PyMemoryView_FromMemory(<char*>(p + 8), size - 8, PyBUF_READ), v)


cdef bint _verify_c_crc(crc_fn_t fn) except -1:
    rng = np.random.default_rng(20240531)
    samples = [b"123456789"] + [rng.integers(0, 256, n, dtype=np.uint8).tobytes()
                                for n in list(range(0, 130)) + [1000, 4097, 65536]]
    cdef const unsigned char* p
    for s in samples:
        p = <const unsigned char*>PyBytes_AS_STRING(s)
        if (fn(0xFFFFFFFFu, p, len(s)) ^ 0xFFFFFFFFu) != _py_crc(s):
            return False
    return True


cdef void _find_c_crc() except *:
    global _crc_fn, _crc_fn_c
    path = _crc32c_ext.__file__.encode()
    cdef void* handle = dlopen(path, RTLD_NOW | RTLD_NOLOAD)
    if handle == NULL:
        return
    if _crc32c_pkg.hardware_based:
        names = (b"_crc32c_hw_adler", b"_crc32c_hw_arm64")
    else:
        names = (b"_crc32c_sw_slicing_by_8",)
    cdef void* sym
    for name in names:
        sym = dlsym(handle, name)
        if sym != NULL and _verify_c_crc(<crc_fn_t>sym):
            _crc_fn_c = <crc_fn_t>sym
            _crc_fn = _crc_fn_c
            return


_find_c_crc()


def crc_backend():
    """"c" when records are checksummed by the crc32c package's C function directly, "python"
    when through its Python function."""
    return "c" if _crc_fn != NULL else "python"


def use_crc_backend(str name):
    """Switch between the two ways of calling crc32c (benchmarks and tests compare them); returns
    the previous backend.  Both compute the same checksum."""
    global _crc_fn
    previous = crc_backend()
    if name == "c":
        if _crc_fn_c == NULL:
            raise ValueError("the crc32c package's C function could not be used here")
        _crc_fn = _crc_fn_c
    elif name == "python":
        _crc_fn = NULL
    else:
        raise ValueError(f"unknown crc backend {name!r}: use 'c' or 'python'")
    return previous


def record_crc(record):
    """The checksum a record's crc field must hold (record = its bytes, size field first)."""
    cdef const unsigned char[::1] v = record
    if v.shape[0] < HEADER_SIZE:
        raise ValueError(f"a record is at least {HEADER_SIZE} bytes, got {v.shape[0]}")
    return _crc_record(&v[0], v.shape[0])


# ---------------------------------------------------------------------------------------------
# Encoding

cdef inline void _put_header(unsigned char* p, uint32_t size, uint16_t rtype, uint64_t seq,
                             int64_t ts_ns) noexcept nogil:
    cdef uint16_t version = VERSION
    memcpy(p, &size, 4)
    memcpy(p + 8, &version, 2)
    memcpy(p + 10, &rtype, 2)
    memcpy(p + 12, &seq, 8)
    memcpy(p + 20, &ts_ns, 8)


cdef inline Py_ssize_t _put_record(unsigned char* p, uint16_t rtype, uint64_t seq, int64_t ts_ns,
                                   const unsigned char* payload, Py_ssize_t n) except -1:
    """Header, payload and CRC of one record at p; returns its size."""
    _put_header(p, <uint32_t>(HEADER_SIZE + n), rtype, seq, ts_ns)
    if n:
        memcpy(p + HEADER_SIZE, payload, n)
    cdef uint32_t crc = _crc_record(p, HEADER_SIZE + n)
    memcpy(p + 4, &crc, 4)
    return HEADER_SIZE + n


cdef inline int _check_rtype(long rtype) except -1:
    if rtype < 0 or rtype > 0xFFFF:
        raise ValueError(f"record type must be in 0..65535, got {rtype}")
    return 0


def encode_record(long rtype, uint64_t seq, int64_t ts_ns, payload):
    """One record as bytes (tools and tests; the journal appends through RecordEncoder)."""
    _check_rtype(rtype)
    cdef const unsigned char[::1] pv = payload
    cdef Py_ssize_t n = pv.shape[0]
    if n > HARD_MAX_PAYLOAD:
        raise RecordTooLarge(f"payload of {n} bytes exceeds {HARD_MAX_PAYLOAD}")
    out = PyBytes_FromStringAndSize(NULL, HEADER_SIZE + n)
    _put_record(<unsigned char*>PyBytes_AS_STRING(out), <uint16_t>rtype, seq, ts_ns,
                &pv[0] if n else NULL, n)
    return out


cdef class RecordEncoder:
    """Appends records, numbered consecutively, into a reusable group buffer."""

    def __cinit__(self):
        self._spare = []

    def __init__(self, uint64_t next_seq=1, Py_ssize_t capacity=256 * 1024,
                 Py_ssize_t max_payload=1024 * 1024, Py_ssize_t limit=64 * 1024 * 1024,
                 on_first_append=None):
        if next_seq == 0:
            raise ValueError("sequence numbers start at 1")
        if max_payload < 0 or max_payload > HARD_MAX_PAYLOAD:
            raise ValueError(f"max_payload must be in 0..{HARD_MAX_PAYLOAD}, got {max_payload}")
        if limit < HEADER_SIZE + max_payload:
            raise ValueError(f"limit ({limit}) must hold at least one record of max_payload "
                             f"({HEADER_SIZE + max_payload} bytes)")
        if capacity < 4096:
            capacity = 4096
        self._initial_cap = capacity
        self._buf = PyByteArray_FromStringAndSize(NULL, capacity)
        self._data = <unsigned char*>PyByteArray_AS_STRING(self._buf)
        self._cap = capacity
        self._pos = 0
        self._count = 0
        self._first_seq = next_seq
        self._next_seq = next_seq
        self._max_payload = max_payload
        self._limit = limit
        self._inflight = 0
        self._error = None
        self._on_first_append = on_first_append

    cdef int _reserve(self, Py_ssize_t nbytes) except -1:
        cdef Py_ssize_t cap
        if self._pos + self._inflight + nbytes > self._limit:
            raise JournalBackpressure(
                f"{self._pos + self._inflight} bytes wait for the disk; {nbytes} more would exceed "
                f"the bound of {self._limit}")
        if self._pos + nbytes > self._cap:
            cap = self._cap * 2
            if cap < self._pos + nbytes:
                cap = self._pos + nbytes
            PyByteArray_Resize(self._buf, cap)
            self._data = <unsigned char*>PyByteArray_AS_STRING(self._buf)
            self._cap = cap
        return 0

    cdef int _start_group(self) except -1:
        # Before the first record of a group is committed, so that a failing hook appends nothing.
        if self._count == 0 and self._on_first_append is not None:
            self._on_first_append()
        return 0

    cdef uint64_t _append_c(self, uint16_t rtype, int64_t ts_ns, const unsigned char* payload,
                            Py_ssize_t n) except 0:
        if self._error is not None:
            raise self._error.with_traceback(None)
        if n > self._max_payload:
            raise RecordTooLarge(f"payload of {n} bytes exceeds max_payload {self._max_payload}")
        cdef Py_ssize_t size = HEADER_SIZE + n
        self._reserve(size)
        cdef uint64_t seq = self._next_seq
        _put_record(self._data + self._pos, rtype, seq, ts_ns, payload, n)
        self._start_group()
        return self._commit(seq, 1, size)

    def append(self, long rtype, int64_t ts_ns, payload):
        """Append one record; returns its sequence number."""
        _check_rtype(rtype)
        cdef Py_buffer view
        if PyBytes_CheckExact(payload):
            return self._append_c(<uint16_t>rtype, ts_ns,
                                  <const unsigned char*>PyBytes_AS_STRING(payload),
                                  PyBytes_GET_SIZE(payload))
        PyObject_GetBuffer(payload, &view, PyBUF_SIMPLE)
        try:
            return self._append_c(<uint16_t>rtype, ts_ns, <const unsigned char*>view.buf, view.len)
        finally:
            PyBuffer_Release(&view)

    def append_many(self, const uint16_t[::1] rtypes not None, const int64_t[::1] ts_ns not None,
                    const unsigned char[::1] payloads not None, const int64_t[::1] offsets not None):
        """Append len(rtypes) records at once: record i has payload payloads[offsets[i]:offsets[i+1]].
        All or nothing; returns the first sequence number assigned (the batch holds
        first .. first + len(rtypes) - 1)."""
        cdef Py_ssize_t n = rtypes.shape[0], i, total = 0, length
        if ts_ns.shape[0] != n or offsets.shape[0] != n + 1:
            raise ValueError(f"append_many needs len(ts_ns) == {n} and len(offsets) == {n + 1}, "
                             f"got {ts_ns.shape[0]} and {offsets.shape[0]}")
        if self._error is not None:
            raise self._error.with_traceback(None)
        if n == 0:
            return self._next_seq
        if offsets[0] < 0 or offsets[n] > payloads.shape[0]:
            raise ValueError(f"offsets must lie within the {payloads.shape[0]}-byte payload buffer")
        for i in range(n):
            length = offsets[i + 1] - offsets[i]
            if length < 0:
                raise ValueError(f"offsets must not decrease (record {i})")
            if length > self._max_payload:
                raise RecordTooLarge(f"payload {i} of {length} bytes exceeds max_payload "
                                     f"{self._max_payload}")
            total += HEADER_SIZE + length
        self._reserve(total)
        self._start_group()
        cdef const unsigned char* src = &payloads[0] if payloads.shape[0] else NULL
        cdef unsigned char* p = self._data + self._pos
        cdef uint64_t first = self._next_seq
        for i in range(n):
            p += _put_record(p, rtypes[i], first + <uint64_t>i, ts_ns[i],
                             src + offsets[i] if src != NULL else NULL, offsets[i + 1] - offsets[i])
        return self._commit(first, n, total)

    def append_fixed(self, long rtype, int64_t ts_ns, payloads, Py_ssize_t size,
                     Py_ssize_t seq_at=-1, Py_ssize_t ts_at=-1):
        """Append len(payloads) // size records of one type and one ts_ns, record i holding
        payloads[i*size:(i+1)*size] (fixed-layout rows, e.g. engine commands: one call, no
        per-record arrays).  payloads: any C-contiguous buffer (a structured numpy array too).
        seq_at / ts_at >= 0: each record's sequence number / ts_ns is first written there, as a
        little-endian int64, into the caller's buffer (which must then be writable) -- the
        sequencer's stamping, done in the same pass.  All or nothing; returns the first sequence
        number assigned."""
        _check_rtype(rtype)
        cdef bint stamp = seq_at >= 0 or ts_at >= 0
        cdef Py_buffer view
        PyObject_GetBuffer(payloads, &view, PyBUF_SIMPLE | PyBUF_WRITABLE if stamp else PyBUF_SIMPLE)
        try:
            return self._append_fixed(<uint16_t>rtype, ts_ns, <unsigned char*>view.buf, view.len,
                                      size, seq_at, ts_at)
        finally:
            PyBuffer_Release(&view)

    cdef uint64_t _append_fixed(self, uint16_t rtype, int64_t ts_ns, unsigned char* src,
                                Py_ssize_t length, Py_ssize_t size, Py_ssize_t seq_at,
                                Py_ssize_t ts_at) except? 0:
        if size <= 0 or length % size:
            raise ValueError(f"append_fixed needs a positive size dividing the {length}"
                             f"-byte payload buffer, got {size}")
        if (seq_at >= 0 and seq_at > size - 8) or (ts_at >= 0 and ts_at > size - 8):
            raise ValueError(f"seq_at {seq_at} / ts_at {ts_at} must leave 8 bytes inside a "
                             f"{size}-byte payload")
        if self._error is not None:
            raise self._error.with_traceback(None)
        cdef Py_ssize_t n = length // size, i
        if n == 0:
            return self._next_seq
        if size > self._max_payload:
            raise RecordTooLarge(f"payload of {size} bytes exceeds max_payload {self._max_payload}")
        cdef Py_ssize_t total = n * (HEADER_SIZE + size)
        self._reserve(total)
        self._start_group()
        cdef unsigned char* p = self._data + self._pos
        cdef uint64_t first = self._next_seq, seq
        for i in range(n):
            seq = first + <uint64_t>i
            if seq_at >= 0:
                memcpy(src + i * size + seq_at, &seq, 8)
            if ts_at >= 0:
                memcpy(src + i * size + ts_at, &ts_ns, 8)
            p += _put_record(p, rtype, seq, ts_ns, src + i * size, size)
        return self._commit(first, n, total)

    cdef uint64_t _commit(self, uint64_t first, Py_ssize_t n, Py_ssize_t total) noexcept:
        """Count n records of total bytes, written at _pos, into the group."""
        if self._count == 0:
            self._first_seq = first
        self._count += n
        self._pos += total
        self._next_seq = first + <uint64_t>n
        return first

    def take(self):
        """Hand the current group over: (buffer, nbytes, first_seq, last_seq), or None when empty.
        The caller writes buffer[:nbytes] and gives the buffer back with release()."""
        if self._count == 0:
            return None
        group = (self._buf, self._pos, self._first_seq, self._next_seq - 1)
        self._inflight += self._pos
        self._buf = self._spare.pop() if self._spare else PyByteArray_FromStringAndSize(
            NULL, self._initial_cap)
        self._data = <unsigned char*>PyByteArray_AS_STRING(self._buf)
        self._cap = len(self._buf)
        self._pos = 0
        self._count = 0
        self._first_seq = self._next_seq
        return group

    def release(self, bytearray buf not None, Py_ssize_t nbytes):
        """A taken group has been written (or dropped): its bytes no longer count against the
        limit and its buffer may be reused."""
        self._inflight -= nbytes
        if self._inflight < 0:
            self._inflight = 0
        if len(self._spare) < 2 and len(buf) <= 4 * self._initial_cap:
            self._spare.append(buf)

    def fail(self, error):
        """From now on every append raises `error` (an exception instance)."""
        if not isinstance(error, BaseException):
            raise TypeError("fail() needs an exception instance")
        self._error = error

    @property
    def error(self):
        return self._error

    @property
    def next_seq(self):
        return self._next_seq

    @property
    def pending_count(self):
        return self._count

    @property
    def pending_bytes(self):
        return self._pos

    @property
    def inflight_bytes(self):
        return self._inflight

    @property
    def limit(self):
        return self._limit

    @property
    def max_payload(self):
        return self._max_payload


# ---------------------------------------------------------------------------------------------
# Decoding

cdef inline bint _all_zero(const unsigned char* p, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        if p[i]:
            return False
    return True


cdef int _check(const unsigned char* base, Py_ssize_t n, Py_ssize_t off, uint64_t expect,
                uint32_t* size_out) except -1:
    """Status of the record at base[off:], its size in size_out when VALID."""
    cdef Py_ssize_t remaining = n - off
    cdef uint32_t size, stored
    cdef uint16_t version
    cdef uint64_t seq
    if remaining <= 0:
        return END
    if remaining < HEADER_SIZE:
        return END if _all_zero(base + off, remaining) else TORN
    memcpy(&size, base + off, 4)
    memcpy(&version, base + off + 8, 2)
    if size == 0 and version == 0 and _all_zero(base + off, HEADER_SIZE):
        return END
    if size < HEADER_SIZE or size > HEADER_SIZE + HARD_MAX_PAYLOAD:
        return BAD_LENGTH
    if size > remaining:
        return TORN
    if version != VERSION:
        return BAD_VERSION
    memcpy(&stored, base + off + 4, 4)
    if _crc_record(base + off, size) != stored:
        return BAD_CHECKSUM
    if expect:
        memcpy(&seq, base + off + 12, 8)
        if seq != expect:
            return BAD_SEQUENCE
    size_out[0] = size
    return VALID


def check_record(const unsigned char[::1] buf not None, Py_ssize_t offset=0, uint64_t expected_seq=0):
    """(Status, size) of the record at buf[offset:]; size is 0 unless VALID."""
    if offset < 0 or offset > buf.shape[0]:
        raise ValueError(f"offset {offset} outside a buffer of {buf.shape[0]} bytes")
    cdef uint32_t size = 0
    st = _check(&buf[0] if buf.shape[0] else NULL, buf.shape[0], offset, expected_seq, &size)
    return Status(st), size


def read_header(const unsigned char[::1] buf not None, Py_ssize_t offset=0):
    """The raw header fields at buf[offset:], trusted or not: (size, crc, version, rtype, seq,
    ts_ns).  For diagnostics: showing what lies where a record failed to check."""
    if offset < 0 or offset + HEADER_SIZE > buf.shape[0]:
        raise ValueError(f"no whole header at offset {offset} of a {buf.shape[0]}-byte buffer")
    cdef const unsigned char* p = &buf[offset]
    cdef uint32_t size, crc
    cdef uint16_t version, rtype
    cdef uint64_t seq
    cdef int64_t ts_ns
    memcpy(&size, p, 4)
    memcpy(&crc, p + 4, 4)
    memcpy(&version, p + 8, 2)
    memcpy(&rtype, p + 10, 2)
    memcpy(&seq, p + 12, 8)
    memcpy(&ts_ns, p + 20, 8)
    return size, crc, version, rtype, seq, ts_ns


cdef class RecordColumns:
    """Fixed-capacity columns that decode_into() fills: one row per record."""

    def __init__(self, Py_ssize_t capacity):
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self._capacity = capacity
        self.seq = np.empty(capacity, np.uint64)
        self.rtype = np.empty(capacity, np.uint16)
        self.ts_ns = np.empty(capacity, np.int64)
        self.offset = np.empty(capacity, np.int64)
        self.length = np.empty(capacity, np.uint32)
        self.count = 0

    @property
    def capacity(self):
        return self._capacity

    def payload(self, buf, Py_ssize_t i):
        """Payload bytes of row i, taken from the buffer the columns were decoded from."""
        if i < 0 or i >= self.count:
            raise IndexError(i)
        start = int(self.offset[i]) + HEADER_SIZE
        return bytes(memoryview(buf)[start:start + int(self.length[i])])


def decode_into(const unsigned char[::1] buf not None, Py_ssize_t offset, uint64_t expected_seq,
                RecordColumns out not None):
    """Decode consecutive records from buf[offset:] into `out` until it is full or a record does
    not check.  Returns (count, end_offset, status): status is VALID when `out` filled up (more may
    follow at end_offset), otherwise the Status of the record at end_offset.  expected_seq 0 takes
    the first record's sequence as given; every following one must be +1."""
    cdef Py_ssize_t n = buf.shape[0]
    if offset < 0 or offset > n:
        raise ValueError(f"offset {offset} outside a buffer of {n} bytes")
    cdef uint64_t[::1] seq_col = out.seq
    cdef uint16_t[::1] type_col = out.rtype
    cdef int64_t[::1] ts_col = out.ts_ns
    cdef int64_t[::1] off_col = out.offset
    cdef uint32_t[::1] len_col = out.length
    cdef const unsigned char* base = &buf[0] if n else NULL
    cdef Py_ssize_t count = 0, cap = out._capacity
    cdef uint32_t size = 0
    cdef uint64_t seq
    cdef int st = VALID
    while count < cap:
        st = _check(base, n, offset, expected_seq, &size)
        if st != VALID:
            break
        memcpy(&seq, base + offset + 12, 8)
        seq_col[count] = seq
        memcpy(&type_col[count], base + offset + 10, 2)
        memcpy(&ts_col[count], base + offset + 20, 8)
        off_col[count] = offset
        len_col[count] = size - HEADER_SIZE
        count += 1
        offset += size
        expected_seq = seq + 1
    out.count = count
    return count, offset, Status(st)


cdef class RecordIterator:
    """Yields (seq, rtype, ts_ns, payload bytes) for consecutive valid records of a buffer; when it
    stops, `status` says why and `offset` is where (see Status)."""

    def __init__(self, const unsigned char[::1] buf not None, Py_ssize_t offset=0,
                 uint64_t expected_seq=0, uint64_t from_seq=0):
        if offset < 0 or offset > buf.shape[0]:
            raise ValueError(f"offset {offset} outside a buffer of {buf.shape[0]} bytes")
        self._view = buf
        self.offset = offset
        self.next_seq = expected_seq
        self.status = VALID
        self._from_seq = from_seq

    def __iter__(self):
        return self

    def __next__(self):
        if self._view is None:
            raise StopIteration
        cdef Py_ssize_t n = self._view.shape[0]
        cdef const unsigned char* base = &self._view[0] if n else NULL
        cdef const unsigned char* p
        cdef uint32_t size = 0
        cdef uint16_t rtype
        cdef uint64_t seq
        cdef int64_t ts_ns
        cdef int st
        while True:
            st = _check(base, n, self.offset, self.next_seq, &size)
            if st != VALID:
                self.status = st
                raise StopIteration
            p = base + self.offset
            memcpy(&seq, p + 12, 8)
            self.offset += size
            self.next_seq = seq + 1
            if seq >= self._from_seq:
                break
        memcpy(&rtype, p + 10, 2)
        memcpy(&ts_ns, p + 20, 8)
        return seq, rtype, ts_ns, PyBytes_FromStringAndSize(<const char*>(p + HEADER_SIZE),
                                                           size - HEADER_SIZE)

    def release(self):
        """Drop the reference to the buffer (an mmap cannot close while a view of it lives)."""
        self._view = None


def first_nonzero(const unsigned char[::1] buf not None, Py_ssize_t start=0, Py_ssize_t end=-1):
    """Offset of the first non-zero byte in buf[start:end], or -1 if there is none."""
    cdef Py_ssize_t n = buf.shape[0], i
    if end < 0 or end > n:
        end = n
    if start < 0:
        start = 0
    for i in range(start, end):
        if buf[i]:
            return i
    return -1


def has_zero_sector(const unsigned char[::1] buf not None, Py_ssize_t start, Py_ssize_t end,
                    Py_ssize_t sector=512):
    """Whether some piece of buf[start:end], cut at multiples of `sector`, is entirely zero: the
    mark of a write that reached the disk only in part (offsets are file offsets, so pass the
    whole file's buffer)."""
    if sector <= 0:
        raise ValueError("sector must be positive")
    cdef Py_ssize_t n = buf.shape[0], a, b
    if end > n:
        end = n
    a = start
    while a < end:
        b = (a // sector + 1) * sector
        if b > end:
            b = end
        if _all_zero(&buf[a], b - a):
            return True
        a = b
    return False


# ---------------------------------------------------------------------------------------------
# The sync thread's I/O.  Each time the sync thread takes the GIL back it may wait up to the
# interpreter's switch interval (5 ms) behind a busy event loop, so a group's write and its
# fdatasync run in one GIL-free stretch: one reacquisition per group instead of two.

cdef enum:
    IOV_BATCH = 512


cdef inline int64_t _now_ns() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return <int64_t>ts.tv_sec * 1000000000 + ts.tv_nsec


cdef int _pwritev_all(int fd, iovec* iov, int count, int64_t offset) noexcept nogil:
    """Write every byte of iov[0:count] at offset; 0, or an errno."""
    cdef ssize_t n
    cdef int first = 0, batch
    while first < count:
        batch = count - first
        if batch > IOV_BATCH:
            batch = IOV_BATCH
        n = pwritev(fd, iov + first, batch, offset)
        if n < 0:
            if errno == EINTR:
                continue
            return errno
        if n == 0:
            return EIO
        offset += n
        while first < count and <size_t>n >= iov[first].iov_len:
            n -= iov[first].iov_len
            first += 1
        if n:
            iov[first].iov_base = <char*>iov[first].iov_base + n
            iov[first].iov_len -= n
    return 0


def write_sync(int fd, list buffers not None, int64_t offset, bint sync):
    """Write all of `buffers` (bytes-like) at `offset`, then fdatasync when `sync`, with the GIL
    released once for all of it.  Returns the nanoseconds fdatasync itself took (0 without sync);
    raises OSError with the failing call's errno."""
    cdef Py_ssize_t n = len(buffers), i, acquired = 0
    cdef Py_buffer* views = <Py_buffer*>malloc(max(n, 1) * sizeof(Py_buffer))
    cdef iovec* iov = <iovec*>malloc(max(n, 1) * sizeof(iovec))
    cdef int err = 0
    cdef int64_t t0 = 0, t1 = 0
    cdef const char* failed = "pwritev"
    if views == NULL or iov == NULL:
        free(views)
        free(iov)
        raise MemoryError()
    try:
        for i in range(n):
            PyObject_GetBuffer(buffers[i], &views[i], PyBUF_SIMPLE)
            acquired += 1
            iov[i].iov_base = views[i].buf
            iov[i].iov_len = <size_t>views[i].len
        with nogil:
            err = _pwritev_all(fd, iov, <int>n, offset)
            if err == 0 and sync:
                failed = "fdatasync"
                t0 = _now_ns()
                if fdatasync(fd) != 0:
                    err = errno
                t1 = _now_ns()
    finally:
        for i in range(acquired):
            PyBuffer_Release(&views[i])
        free(views)
        free(iov)
    if err:
        import os
        raise OSError(err, f"{failed.decode()}: {os.strerror(err)}")
    return t1 - t0
