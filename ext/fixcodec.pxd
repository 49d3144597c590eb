# The FIX tag=value codec's C layout and codes.  The behaviour is specified in fixcodec.pyi.
#
# A parsed message keeps no per-field Python objects: every field is a FieldRef (tag, offset,
# length) into one immutable bytes object, and all messages parsed from one chunk share one
# FieldBlock of FieldRefs.  Group structure and validation come from a FixSchema, a set of flat C
# tables that ordex.core.fixdict derives from the QuickFIX-format XML dictionaries.
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t


# Why a message was not accepted.  Codes 1-8 make a frame "garbled" in the sense of the FIX
# session protocol (ignore it: no Reject, no sequence number consumed); the others are answered
# with a session-level Reject(3) whose SessionRejectReason REJECT_REASON[code] gives.
cpdef enum ParseError:
    OK = 0
    GARBAGE = 1               # bytes skipped while looking for the next 8=FIX
    BAD_BEGIN_STRING = 2      # 8 is not first, not FIX.n.m/FIXT.n.m, or not the configured version
    BAD_BODY_LENGTH = 3       # 9 is not second or not a plain decimal number
    BODY_LENGTH_MISMATCH = 4  # 10= does not start exactly BodyLength bytes after 9's SOH
    TOO_LARGE = 5             # the frame BodyLength announces exceeds max_message_size
    BAD_CHECKSUM = 6          # 10 is not exactly three digits followed by SOH
    CHECKSUM_MISMATCH = 7
    NO_MSGTYPE = 8            # 35 is not third or is empty
    BAD_TAG = 9               # tag not a positive decimal without leading zeros, or no '='
    EMPTY_VALUE = 10
    DUPLICATE_TAG = 11        # a tag repeated outside a repeating group
    BAD_DATA_LENGTH = 12      # a Length field that does not frame its data field exactly
    BAD_GROUP_COUNT = 13      # NumInGroup disagrees with the entries present
    GROUP_ORDER = 14          # a group entry not starting with its delimiter, fields out of order
    UNKNOWN_TAG = 15          # tag not in the dictionary at all
    TAG_NOT_DEFINED = 16      # tag in the dictionary but not allowed in this message type
    REQUIRED_MISSING = 17
    BAD_VALUE = 18            # not one of the field's enumerated values
    BAD_FORMAT = 19           # value does not match the field's type
    OUT_OF_ORDER = 20         # header field after the body, or body field after the trailer
    BAD_MSGTYPE = 21          # MsgType not defined by the dictionary
    N_PARSE_ERRORS = 22


# Validation switches (FixParser validate=...): which dictionary checks run.  Structural checks
# (framing, tag syntax, duplicates, repeating group shape) always run.
cpdef enum Validate:
    V_REQUIRED = 1            # required fields of the message and of each group entry
    V_UNKNOWN_TAGS = 2        # tags absent from the dictionary
    V_TAGS_FOR_MSGTYPE = 4    # tags not defined for the message type
    V_ENUMS = 8
    V_TYPES = 16
    V_FIELD_ORDER = 32        # header first, trailer last
    V_GROUP_ORDER = 64        # fields of a group entry in dictionary order
    V_MSGTYPE = 128           # MsgType must be defined by the dictionary
    V_ALLOW_USER_TAGS = 256   # tags >= 5000 skip the V_UNKNOWN_TAGS / V_TAGS_FOR_MSGTYPE checks
    V_ALL = 255


# Field value types as the dictionary groups them for checking.
cpdef enum FieldType:
    T_NONE = 0                # tag not in the dictionary
    T_STRING = 1
    T_INT = 2
    T_UINT = 3                # NUMINGROUP, SEQNUM, LENGTH: non-negative integers
    T_DAYOFMONTH = 4
    T_FLOAT = 5               # FLOAT, PRICE, QTY, AMT, PRICEOFFSET, PERCENTAGE
    T_CHAR = 6
    T_BOOLEAN = 7
    T_UTCTIMESTAMP = 8
    T_UTCTIMEONLY = 9
    T_DATE = 10               # UTCDATEONLY, UTCDATE, LOCALMKTDATE
    T_MONTHYEAR = 11
    T_DATA = 12
    T_MULTI = 13              # MULTIPLEVALUESTRING: space-separated enum values


# Results of the numeric accessors at C level (the Python accessors raise FieldError instead).
cdef enum:
    NUM_OK = 0
    NUM_MISSING = -1
    NUM_FORMAT = -2           # not a number of the expected shape
    NUM_PRECISION = -3        # more decimals than the scale allows
    NUM_STEP = -4             # not a multiple of the increment
    NUM_RANGE = -5            # does not fit int64


# A FieldError (fixcodec.pyi) for tag and a NUM_* code: what the Python accessors raise, for
# compiled callers that read fields at C level and answer errors exactly as they would.
cdef object field_error(int32_t tag, int rc)


# FieldRef.flags
cdef enum:
    F_ENTRY_START = 1         # first field (the delimiter) of a repeating group entry


ctypedef struct FieldRef:
    int32_t tag
    int32_t off               # offset of the value in the block's bytes object
    int32_t len
    uint16_t depth            # 0 = message level, n = inside n nested repeating groups
    uint16_t flags


# One open repeating group while a message is being structured.
ctypedef struct GroupFrame:
    int64_t count             # NumInGroup as sent
    int64_t entries           # entries seen so far
    int32_t container
    int32_t count_tag
    int32_t entry_first       # field index of the current entry's delimiter
    int32_t last_pos          # position in Container.order of the entry's last field
    uint32_t ctx              # stamp of the current entry (0 before the first entry)


# A message type, or one repeating group definition, as flat tables.
ctypedef struct Container:
    const uint8_t* members          # bitmap over tags 0..max_tag: fields directly inside
    const int32_t* required
    const int32_t* order            # fields in dictionary order (groups: for the order check)
    const int32_t* group_tags       # NumInGroup tags directly inside ...
    const int32_t* group_children   # ... and the Container index of each group's definition
    int32_t n_required
    int32_t n_order
    int32_t n_groups
    int32_t delimiter         # groups: the field that starts every entry; 0 for message types


cdef class FixSchema:
    cdef readonly bytes begin_string
    cdef readonly int32_t max_tag
    cdef readonly int32_t max_depth
    cdef object _keep                 # Python objects owning the memory the pointers below use
    cdef const uint8_t* types         # FieldType per tag
    cdef const int32_t* data_of_len   # Length tag -> its data tag (0 = not a Length tag)
    cdef const int32_t* enum_off      # per tag: offset and length in enum_blob ("\x01v1\x01v2\x01")
    cdef const int32_t* enum_len
    cdef const uint8_t* enum_blob
    cdef const uint8_t* header_bits
    cdef const uint8_t* trailer_bits
    cdef const uint8_t* count_bits    # tags that are a NumInGroup somewhere
    cdef Container* containers
    cdef int32_t n_containers
    cdef uint32_t* msg_keys           # sorted MsgType keys (up to 4 bytes, big-endian packed)
    cdef int32_t* msg_containers
    cdef int32_t n_msgs
    cdef int32_t default_container    # header + trailer: used for MsgTypes the dictionary lacks
    cdef readonly dict msg_types

    cdef int32_t container_for(self, const uint8_t* msg_type, int32_t n) noexcept
    cdef const int32_t* _ints(self, values, list keep) except? NULL
    cdef const uint8_t* _bits(self, tags, list keep) except NULL


cdef class FieldBlock:
    cdef bytes data
    cdef const uint8_t* base
    cdef FieldRef* fields
    cdef Py_ssize_t n
    cdef Py_ssize_t cap

    cdef int reserve(self, Py_ssize_t extra) except -1


cdef class FieldView:
    cdef FieldBlock block
    cdef int32_t first                # field index range of this view inside block
    cdef int32_t end
    cdef uint16_t depth
    cdef bint grouped                 # structured with a schema: repeating groups are known

    cdef int32_t find_c(self, int32_t tag) noexcept
    cdef int get_int_c(self, int32_t tag, int64_t* out) noexcept
    cdef int get_fixed_c(self, int32_t tag, int decimals, int64_t step, int64_t* out) noexcept
    cdef int get_timestamp_c(self, int32_t tag, int64_t* out) noexcept


cdef class FixMessage(FieldView):
    cdef readonly int error
    cdef readonly int32_t error_tag
    cdef int32_t frame_off
    cdef int32_t frame_len
    cdef int32_t type_off
    cdef int32_t type_len


cdef class FixParser:
    cdef readonly FixSchema schema
    cdef readonly int validate
    cdef readonly Py_ssize_t max_message_size
    cdef readonly bytes begin_string
    cdef readonly Py_ssize_t garbage_bytes     # total bytes skipped while resynchronising
    cdef readonly Py_ssize_t need              # frame size of the partial frame at the end, if known
    cdef FieldBlock block
    cdef uint32_t* seen                        # per tag: the context stamp that last saw it
    cdef int32_t seen_size
    cdef uint32_t stamp
    cdef bytearray carry
    cdef GroupFrame* stack
    cdef int32_t stack_size

    cdef int parse_into(self, bytes data, Py_ssize_t start, Py_ssize_t end, list out,
                        Py_ssize_t* consumed) except -1
    cdef FixMessage make_message(self, int error, int32_t tag, Py_ssize_t off, Py_ssize_t n,
                                 int32_t first, int32_t count)
    cdef Py_ssize_t garbled(self, list out, const uint8_t* p, Py_ssize_t pos, Py_ssize_t end,
                            int code, int32_t tag) except -1
    cdef bint dup(self, int32_t tag, uint32_t ctx, int32_t i, int32_t scan_from,
                  uint16_t depth) noexcept
    cdef bint present(self, int32_t tag, uint32_t ctx, int32_t scan_from, int32_t end,
                      uint16_t depth) noexcept
    cdef int close_entry(self, FixMessage m, GroupFrame* g, int32_t end, uint16_t depth) noexcept
    cdef int tokenize(self, FixMessage m, const uint8_t* p, Py_ssize_t body, Py_ssize_t body_end) except -1
    cdef int structure(self, FixMessage m) except -1
    cdef uint32_t next_stamp(self) noexcept


# Number writers shared by FixEncoder and the compiled writers that fill its buffer directly
# (ordex.ext.fixreports); each returns the bytes written.
cdef inline Py_ssize_t write_uint(uint8_t* out, uint64_t v) noexcept nogil:
    cdef uint8_t tmp[20]
    cdef Py_ssize_t n = 0, i
    while True:
        tmp[n] = <uint8_t>(48 + v % 10)
        v //= 10
        n += 1
        if v == 0:
            break
    for i in range(n):
        out[i] = tmp[n - 1 - i]
    return n


cdef inline Py_ssize_t write_padded(uint8_t* out, uint64_t v, int width) noexcept nogil:
    cdef int i
    for i in range(width - 1, -1, -1):
        out[i] = <uint8_t>(48 + v % 10)
        v //= 10
    return width


cdef inline Py_ssize_t write_int(uint8_t* out, int64_t v) noexcept nogil:
    if v < 0:
        out[0] = 45
        return 1 + write_uint(out + 1, 0 - <uint64_t>v)
    return write_uint(out, <uint64_t>v)


cdef inline Py_ssize_t write_decimal(uint8_t* out, int64_t v, int decimals) noexcept nogil:
    """v * 10**-decimals with exactly `decimals` decimals (0 <= decimals <= 18)."""
    cdef uint64_t a, p = 1
    cdef Py_ssize_t n = 0
    cdef int k
    if v < 0:
        out[0] = 45
        n = 1
        a = 0 - <uint64_t>v
    else:
        a = <uint64_t>v
    for k in range(decimals):
        p *= 10
    n += write_uint(out + n, a // p)
    if decimals:
        out[n] = 46
        n += 1 + write_padded(out + n + 1, a % p, decimals)
    return n


# FixTemplate kinds
cdef enum:
    K_INT = 1
    K_FIXED = 2
    K_BYTES = 3
    K_CHAR = 4
    K_BOOL = 5
    K_TIMESTAMP = 6


cdef class FixTemplate:
    cdef readonly bytes msg_type
    cdef int32_t* tags
    cdef uint8_t* kinds
    cdef int32_t* args                 # decimals (fixed) or fraction digits (timestamp)
    cdef Py_ssize_t n


cdef class FixEncoder:
    cdef uint8_t* buf
    cdef Py_ssize_t cap
    cdef Py_ssize_t pos
    cdef Py_ssize_t body_start
    cdef readonly Py_ssize_t max_message_size
    cdef readonly bytes begin_string
    cdef bytes prefix                  # "8=FIX.4.4\x01"
    cdef bytes session_fragment        # "49=...\x0156=...\x01" written after 35=
    cdef bint open

    cdef int grow(self, Py_ssize_t extra) except -1
    cdef void put_tag(self, int32_t tag) noexcept
    cdef int begin_c(self, const uint8_t* msg_type, Py_ssize_t n) except -1
    cdef int add_int_c(self, int32_t tag, int64_t value) except -1
    cdef int add_fixed_c(self, int32_t tag, int64_t count, int decimals, int64_t step) except -1
    cdef int add_raw_c(self, int32_t tag, const uint8_t* value, Py_ssize_t n) except -1
    cdef int add_timestamp_c(self, int32_t tag, int64_t ts_ns, int digits) except -1
    cdef Py_ssize_t finish_c(self) except -1
    cdef int add_field_c(self, const uint8_t* field, Py_ssize_t n) except -1   # a whole "tag=value\x01" written before by this encoder
    cdef int add_value_c(self, int kind, int32_t tag, int32_t arg, object value) except -1
