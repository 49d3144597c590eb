# Journal record framing: the on-disk record layout and its encoder/decoder.  Behaviour is
# specified in journal.pyi; segment files, group commit and recovery live in ordex.core.journal.
#
# Record layout, version 1 (little-endian, no padding, records back to back):
#
#   offset  size  field
#        0     4  size      u32  whole record in bytes, header included: 28 + payload length
#        4     4  crc       u32  CRC32C of bytes [0, 4) followed by bytes [8, size)
#        8     2  version   u16  record layout version (1); 0 never occurs in a valid record, so an
#                                all-zero header marks the preallocated, never-written tail
#       10     2  rtype     u16  record type; 0xFF00..0xFFFF are reserved for the journal itself
#       12     8  seq       u64  sequence number, +1 per record, never 0
#       20     8  ts_ns     i64  time the sequencer stamped on the command
#       28     n  payload        opaque to the journal
from libc.stdint cimport int64_t, uint16_t, uint32_t, uint64_t

ctypedef uint32_t (*crc_fn_t)(uint32_t crc, const unsigned char* data, unsigned long length) noexcept nogil


cdef enum:
    HEADER_SIZE = 28
    VERSION = 1
    # A record can never claim more than this, whatever the configured limit: a larger size field
    # is corruption, not a big record.
    HARD_MAX_PAYLOAD = 64 * 1024 * 1024


cpdef enum Status:
    VALID = 0          # a whole record with a good checksum and the expected sequence
    END = 1            # clean end: the buffer ends at a record boundary, or an all-zero header
    TORN = 2           # the last record runs past the end of the buffer
    BAD_CHECKSUM = 3
    BAD_VERSION = 4
    BAD_LENGTH = 5     # size field below the header size or above HARD_MAX_PAYLOAD
    BAD_SEQUENCE = 6   # checksum fine, but not the sequence that had to come next


cdef class RecordEncoder:
    cdef bytearray _buf            # current group; length = capacity, _pos bytes used
    cdef unsigned char* _data
    cdef Py_ssize_t _pos
    cdef Py_ssize_t _cap
    cdef Py_ssize_t _count
    cdef uint64_t _first_seq       # sequence of the first record in the current group
    cdef uint64_t _next_seq
    cdef Py_ssize_t _max_payload
    cdef Py_ssize_t _limit         # bound on _pos + _inflight (bytes not yet handed back)
    cdef Py_ssize_t _inflight
    cdef Py_ssize_t _initial_cap
    cdef list _spare               # recycled group buffers
    cdef object _error             # once set, every append raises it
    cdef object _on_first_append   # called when a record lands in an empty group

    cdef int _reserve(self, Py_ssize_t nbytes) except -1
    cdef int _start_group(self) except -1
    cdef uint64_t _commit(self, uint64_t first, Py_ssize_t n, Py_ssize_t total) noexcept
    cdef uint64_t _append_fixed(self, uint16_t rtype, int64_t ts_ns, unsigned char* src,
                                Py_ssize_t length, Py_ssize_t size, Py_ssize_t seq_at,
                                Py_ssize_t ts_at) except? 0
    cdef uint64_t _append_c(self, uint16_t rtype, int64_t ts_ns, const unsigned char* payload,
                            Py_ssize_t n) except 0


cdef class RecordColumns:
    cdef readonly object seq        # numpy uint64
    cdef readonly object rtype      # numpy uint16
    cdef readonly object ts_ns      # numpy int64
    cdef readonly object offset     # numpy int64: record start within the decoded buffer
    cdef readonly object length     # numpy uint32: payload length
    cdef readonly Py_ssize_t count
    cdef Py_ssize_t _capacity


cdef class RecordIterator:
    cdef const unsigned char[::1] _view
    cdef readonly Py_ssize_t offset      # where decoding stopped / continues
    cdef readonly uint64_t next_seq      # sequence the next record must carry (0: not checked)
    cdef readonly int status             # Status of the record at `offset` once exhausted
    cdef uint64_t _from_seq
    cdef bint _copy
