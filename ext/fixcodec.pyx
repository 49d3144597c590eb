"""FIX tag=value codec (contract: fixcodec.pyi, layout: fixcodec.pxd).

The parser works in two passes over each frame.  Framing finds 8=, 9= and 10= and checks
BodyLength and CheckSum without looking at the body; tokenizing turns the body into FieldRefs;
structuring assigns repeating-group depth and applies the schema's checks.  Every error is a code
on the message, never an exception, so one hostile frame cannot disturb the ones around it.
"""
cimport cython
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE, PyByteArray_Resize
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.ref cimport Py_REFCNT
from cpython.unicode cimport PyUnicode_DecodeLatin1
from libc.stdint cimport INT64_MAX, INT64_MIN, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memchr, memcmp, memcpy, memset

from array import array


cdef enum:
    SOH = 1
    EQ = 61
    MINUS = 45
    DOT = 46
    ZERO = 48
    # Frame header limits: BeginString values are short ("FIXT.1.1"), and no frame within any
    # sane max_message_size needs more than 9 BodyLength digits.
    MAX_BEGIN_LEN = 16
    MAX_LEN_DIGITS = 9
    MAX_TAG_DIGITS = 9
    SEEN_MIN = 10000          # stamps cover all standard and user-defined (5000-9999) tags
    STAMP_RESET = 0xF0000000
    MAX_DECIMALS = 18
    MAX_MESSAGE_SIZE = 100000000   # keeps BodyLength within MAX_LEN_DIGITS


cdef uint64_t POW10[20]
cdef int _k
POW10[0] = 1
for _k in range(1, 20):
    POW10[_k] = POW10[_k - 1] * 10


# SessionRejectReason (FIX tag 373) for each ParseError; -1: not answered with a Reject.
REJECT_REASON = (
    -1,  # OK
    -1, -1, -1, -1, -1, -1, -1, -1,  # garbled frames are ignored (BAD_BEGIN_STRING: Logout)
    0,   # BAD_TAG: invalid tag number
    4,   # EMPTY_VALUE: tag specified without a value
    13,  # DUPLICATE_TAG: tag appears more than once
    5,   # BAD_DATA_LENGTH: value is incorrect (out of range) for this tag
    16,  # BAD_GROUP_COUNT: incorrect NumInGroup count for repeating group
    15,  # GROUP_ORDER: repeating group fields out of order
    0,   # UNKNOWN_TAG: invalid tag number
    2,   # TAG_NOT_DEFINED: tag not defined for this message type
    1,   # REQUIRED_MISSING: required tag missing
    5,   # BAD_VALUE: value is incorrect (out of range) for this tag
    6,   # BAD_FORMAT: incorrect data format for value
    14,  # OUT_OF_ORDER: tag specified out of required order
    11,  # BAD_MSGTYPE: invalid MsgType
)

ERROR_TEXT = (
    "ok",
    "garbage before the next message",
    "invalid or unexpected BeginString",
    "BodyLength missing or malformed",
    "BodyLength does not match the message",
    "message exceeds the maximum size",
    "CheckSum malformed",
    "CheckSum incorrect",
    "MsgType missing or not third",
    "invalid tag number",
    "tag specified without a value",
    "tag appears more than once",
    "length field does not match its data field",
    "incorrect NumInGroup count for repeating group",
    "repeating group fields out of order",
    "invalid tag number",
    "tag not defined for this message type",
    "required tag missing",
    "value is incorrect (out of range) for this tag",
    "incorrect data format for value",
    "tag specified out of required order",
    "invalid MsgType",
)

# The dictionary's type names grouped by how a value is checked.
TYPE_CODES = {
    "STRING": T_STRING, "CURRENCY": T_STRING, "EXCHANGE": T_STRING, "COUNTRY": T_STRING,
    "LANGUAGE": T_STRING, "XMLDATA": T_STRING, "TZTIMEONLY": T_STRING, "TZTIMESTAMP": T_STRING,
    "INT": T_INT, "NUMINGROUP": T_UINT, "SEQNUM": T_UINT, "LENGTH": T_UINT,
    "DAYOFMONTH": T_DAYOFMONTH,
    "FLOAT": T_FLOAT, "PRICE": T_FLOAT, "QTY": T_FLOAT, "AMT": T_FLOAT, "PRICEOFFSET": T_FLOAT,
    "PERCENTAGE": T_FLOAT,
    "CHAR": T_CHAR, "BOOLEAN": T_BOOLEAN,
    "UTCTIMESTAMP": T_UTCTIMESTAMP, "TIME": T_UTCTIMESTAMP, "UTCTIMEONLY": T_UTCTIMEONLY,
    "UTCDATEONLY": T_DATE, "UTCDATE": T_DATE, "LOCALMKTDATE": T_DATE, "DATE": T_DATE,
    "MONTHYEAR": T_MONTHYEAR, "DATA": T_DATA,
    "MULTIPLEVALUESTRING": T_MULTI, "MULTIPLESTRINGVALUE": T_MULTI, "MULTIPLECHARVALUE": T_MULTI,
}


class FieldError(ValueError):
    """A field missing or unusable as asked.  `reason` is the SessionRejectReason to answer with
    (1 missing, 5 value incorrect, 6 incorrect data format) and `tag` the RefTagID."""

    def __init__(self, tag, reason, text):
        super().__init__(f"tag {tag}: {text}")
        self.tag = tag
        self.reason = reason
        self.text = text


_NUM_ERRORS = {
    NUM_MISSING: (1, "required tag missing"),
    NUM_FORMAT: (6, "incorrect data format for value"),
    NUM_PRECISION: (5, "more decimals than the instrument allows"),
    NUM_STEP: (5, "value not a multiple of the increment"),
    NUM_RANGE: (5, "value out of range"),
}


cdef object field_error(int32_t tag, int rc):
    reason, text = _NUM_ERRORS[rc]
    return FieldError(tag, reason, text)


cdef object _MISSING = object()


# ---------------------------------------------------------------------------------------------
# Number and value syntax (FIX INT, float, dates, times), straight from bytes.

cdef inline int parse_int_c(const uint8_t* s, Py_ssize_t n, int64_t* out) noexcept nogil:
    cdef Py_ssize_t i = 0
    cdef uint64_t acc = 0, d, limit
    cdef bint neg = 0, over = 0
    if n > 0 and s[0] == MINUS:
        neg = 1
        i = 1
    if i >= n:
        return NUM_FORMAT
    limit = <uint64_t>INT64_MAX + neg
    while i < n:
        d = <uint64_t>(s[i] - ZERO)
        if d > 9:
            return NUM_FORMAT
        if acc > (limit - d) // 10:
            over = 1            # keep scanning: a format error outranks a range error
        else:
            acc = acc * 10 + d
        i += 1
    if over:
        return NUM_RANGE
    out[0] = <int64_t>(0 - acc) if neg else <int64_t>acc
    return NUM_OK


cdef inline int parse_fixed_c(const uint8_t* s, Py_ssize_t n, int decimals, int64_t step,
                              int64_t* out) noexcept nogil:
    """A FIX decimal ("-101.250") as an int64 count of 10**-decimals, then of `step` such units.
    Extra decimals are accepted only when they are zeros; nothing is ever rounded."""
    cdef Py_ssize_t i = 0
    cdef uint64_t acc = 0, d, limit
    cdef bint neg = 0, over = 0, lost = 0
    cdef int frac = 0, ndigits = 0
    cdef int64_t v
    if n > 0 and s[0] == MINUS:
        neg = 1
        i = 1
    limit = <uint64_t>INT64_MAX + neg
    while i < n:
        d = <uint64_t>(s[i] - ZERO)
        if d > 9:
            break
        if acc > (limit - d) // 10:
            over = 1
        else:
            acc = acc * 10 + d
        ndigits += 1
        i += 1
    if i < n and s[i] == DOT:
        i += 1
        while i < n:
            d = <uint64_t>(s[i] - ZERO)
            if d > 9:
                break
            if frac < decimals:
                if acc > (limit - d) // 10:
                    over = 1
                else:
                    acc = acc * 10 + d
                frac += 1
            elif d != 0:
                lost = 1
            ndigits += 1
            i += 1
    if i != n or ndigits == 0:
        return NUM_FORMAT
    if lost:
        return NUM_PRECISION
    while frac < decimals:
        if acc > limit // 10:
            over = 1
            break
        acc *= 10
        frac += 1
    if over:
        return NUM_RANGE
    v = <int64_t>(0 - acc) if neg else <int64_t>acc
    if step != 1:
        if v % step != 0:
            return NUM_STEP
        v = v // step
    out[0] = v
    return NUM_OK


cdef inline bint all_digits(const uint8_t* s, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        if <unsigned>(s[i] - ZERO) > 9:
            return 0
    return 1


cdef inline int two(const uint8_t* s) noexcept nogil:
    return (s[0] - ZERO) * 10 + (s[1] - ZERO)


cdef inline bint check_date(const uint8_t* s) noexcept nogil:
    cdef int m, d
    if not all_digits(s, 8):
        return 0
    m = two(s + 4)
    d = two(s + 6)
    return 1 <= m <= 12 and 1 <= d <= 31


cdef inline bint check_time(const uint8_t* s, Py_ssize_t n) noexcept nogil:
    """HH:MM:SS with an optional fraction of 1 to 9 digits."""
    if n < 8 or s[2] != 58 or s[5] != 58:
        return 0
    if not (all_digits(s, 2) and all_digits(s + 3, 2) and all_digits(s + 6, 2)):
        return 0
    if two(s) > 23 or two(s + 3) > 59 or two(s + 6) > 60:
        return 0
    if n == 8:
        return 1
    return 10 <= n <= 18 and s[8] == DOT and all_digits(s + 9, n - 9)


cdef inline bint check_type(int t, const uint8_t* s, Py_ssize_t n) noexcept nogil:
    cdef int64_t v
    if t == T_INT:
        return parse_int_c(s, n, &v) == NUM_OK
    if t == T_UINT:
        return s[0] != MINUS and parse_int_c(s, n, &v) == NUM_OK
    if t == T_DAYOFMONTH:
        return parse_int_c(s, n, &v) == NUM_OK and 1 <= v <= 31
    if t == T_FLOAT:
        return parse_fixed_c(s, n, 0, 1, &v) != NUM_FORMAT
    if t == T_CHAR:
        return n == 1
    if t == T_BOOLEAN:
        return n == 1 and (s[0] == 89 or s[0] == 78)
    if t == T_UTCTIMESTAMP:
        return n >= 17 and check_date(s) and s[8] == MINUS and check_time(s + 9, n - 9)
    if t == T_UTCTIMEONLY:
        return check_time(s, n)
    if t == T_DATE:
        return n == 8 and check_date(s)
    if t == T_MONTHYEAR:
        if n == 6:
            return all_digits(s, 6) and 1 <= two(s + 4) <= 12
        if n == 8 and s[6] == 119:   # YYYYMMwN: week N of the month
            return all_digits(s, 6) and 1 <= two(s + 4) <= 12 and 49 <= s[7] <= 53
        return n == 8 and check_date(s)
    return 1


cdef inline int64_t days_from_civil(int64_t y, int64_t m, int64_t d) noexcept nogil:
    # Proleptic Gregorian calendar (H. Hinnant's days_from_civil).
    cdef int64_t era, yoe, doy, doe
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


cdef inline void civil_from_days(int64_t z, int* y, int* m, int* d) noexcept nogil:
    cdef int64_t era, doe, yoe, doy, mp
    z += 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d[0] = <int>(doy - (153 * mp + 2) // 5 + 1)
    m[0] = <int>(mp + 3 if mp < 10 else mp - 9)
    y[0] = <int>(yoe + era * 400 + (m[0] <= 2))


cdef int parse_timestamp_c(const uint8_t* s, Py_ssize_t n, int64_t* out) noexcept nogil:
    cdef int64_t days, ns = 0
    cdef Py_ssize_t i
    if not check_type(T_UTCTIMESTAMP, s, n):
        return NUM_FORMAT
    days = days_from_civil(two(s) * 100 + two(s + 2), two(s + 4), two(s + 6))
    for i in range(18, 27):
        ns = ns * 10 + (s[i] - ZERO if i < n else 0)
    out[0] = ((days * 86400 + two(s + 9) * 3600 + two(s + 12) * 60 + two(s + 15)) * 1000000000
              + ns)
    return NUM_OK


cdef inline bint bit(const uint8_t* bits, int32_t tag) noexcept nogil:
    return (bits[tag >> 3] >> (tag & 7)) & 1


# ---------------------------------------------------------------------------------------------
# Dictionary tables.

cdef uint32_t msg_key(const uint8_t* s, Py_ssize_t n) noexcept nogil:
    cdef uint32_t k = <uint32_t>n << 24
    cdef Py_ssize_t i
    for i in range(n):
        k |= <uint32_t>s[i] << (16 - 8 * i)
    return k


cdef class FixSchema:
    """Flat C tables derived from a FIX data dictionary (built by ordex.core.fixdict)."""

    def __cinit__(self):
        self.containers = NULL
        self.msg_keys = NULL
        self.msg_containers = NULL
        self.n_containers = 0

    def __dealloc__(self):
        free(self.containers)
        free(self.msg_keys)
        free(self.msg_containers)

    def __init__(self, bytes begin_string, int max_tag, bytes types, data_of_len, enums,
                 header_tags, trailer_tags, containers, messages, int default_container):
        """types: one FieldType byte per tag 0..max_tag; data_of_len: (length tag, data tag)
        pairs; enums: {tag: [value bytes]}; containers: (members, required, order,
        [(count_tag, child index)], delimiter) tuples; messages: {MsgType bytes: container}."""
        cdef Py_ssize_t i, j
        cdef int32_t tag
        if max_tag < 35 or len(types) != max_tag + 1:
            raise ValueError("types must hold one byte per tag 0..max_tag")
        if not 0 <= default_container < len(containers):
            raise ValueError("default_container out of range")
        self.begin_string = begin_string
        self.max_tag = max_tag
        keep = [types]
        self.types = <const uint8_t*>PyBytes_AS_STRING(types)

        dol = self._ints([0] * (max_tag + 1), keep)
        for length_tag, data_tag in data_of_len:
            self._check_tag(length_tag)
            self._check_tag(data_tag)
            (<int32_t*>dol)[length_tag] = data_tag
        self.data_of_len = dol

        blob = bytearray(b"\x01")
        offs = [0] * (max_tag + 1)
        lens = [0] * (max_tag + 1)
        for tag, values in enums.items():
            self._check_tag(tag)
            if not values:
                continue
            for v in values:
                if not v or b"\x01" in v:
                    raise ValueError(f"tag {tag}: bad enum value {v!r}")
            offs[tag] = len(blob) - 1
            part = b"\x01" + b"\x01".join(values) + b"\x01"
            blob += part[1:]
            lens[tag] = len(part)
        blob_bytes = bytes(blob)
        keep.append(blob_bytes)
        self.enum_blob = <const uint8_t*>PyBytes_AS_STRING(blob_bytes)
        self.enum_off = self._ints(offs, keep)
        self.enum_len = self._ints(lens, keep)
        self.header_bits = self._bits(header_tags, keep)
        self.trailer_bits = self._bits(trailer_tags, keep)

        self.n_containers = len(containers)
        self.containers = <Container*>malloc(sizeof(Container) * self.n_containers)
        if self.containers == NULL:
            raise MemoryError()
        count_tags = set()
        for i, (members, required, order, groups, delimiter) in enumerate(containers):
            c = &self.containers[i]
            c.members = self._bits(members, keep)
            c.required = self._ints(required, keep)
            c.n_required = len(required)
            c.order = self._ints(order, keep)
            c.n_order = len(order)
            c.group_tags = self._ints([g[0] for g in groups], keep)
            c.group_children = self._ints([g[1] for g in groups], keep)
            c.n_groups = len(groups)
            c.delimiter = delimiter
            for count_tag, child in groups:
                if not 0 <= child < self.n_containers or containers[child][4] <= 0:
                    raise ValueError(f"group {count_tag}: bad child container {child}")
                count_tags.add(count_tag)
        self.count_bits = self._bits(count_tags, keep)
        self.default_container = default_container
        self.max_depth = self._depth(containers, set(messages.values()) | {default_container})

        items = sorted((msg_key(<const uint8_t*>PyBytes_AS_STRING(k), len(k)), v, k)
                       for k, v in messages.items() if 0 < len(k) <= 3)
        self.n_msgs = len(items)
        self.msg_keys = <uint32_t*>malloc(sizeof(uint32_t) * (self.n_msgs + 1))
        self.msg_containers = <int32_t*>malloc(sizeof(int32_t) * (self.n_msgs + 1))
        if self.msg_keys == NULL or self.msg_containers == NULL:
            raise MemoryError()
        for j, (key, cont, _) in enumerate(items):
            if not 0 <= cont < self.n_containers:
                raise ValueError(f"MsgType {_!r}: bad container {cont}")
            self.msg_keys[j] = key
            self.msg_containers[j] = cont
        self.msg_types = {k: v for _, v, k in items}
        self._keep = keep

    def _check_tag(self, tag):
        if not 0 < tag <= self.max_tag:
            raise ValueError(f"tag {tag} outside 1..{self.max_tag}")

    cdef const int32_t* _ints(self, values, list keep) except? NULL:
        arr = array("i", values)
        if not arr:
            return NULL
        keep.append(arr)
        cdef int[::1] view = arr
        return <const int32_t*>&view[0]

    cdef const uint8_t* _bits(self, tags, list keep) except NULL:
        bits = bytearray(self.max_tag // 8 + 1)
        for tag in tags:
            self._check_tag(tag)
            bits[tag >> 3] |= 1 << (tag & 7)
        keep.append(bits)
        return <const uint8_t*>PyByteArray_AS_STRING(bits)

    def _depth(self, containers, roots):
        def depth(i, seen):
            if i in seen:
                raise ValueError("repeating groups nest in a cycle")
            groups = containers[i][3]
            return 1 + max((depth(c, seen | {i}) for _, c in groups), default=0)
        return max(depth(r, frozenset()) for r in roots) - 1

    cdef int32_t container_for(self, const uint8_t* msg_type, int32_t n) noexcept:
        cdef uint32_t key
        cdef int32_t lo = 0, hi = self.n_msgs - 1, mid
        if n <= 0 or n > 3:
            return -1
        key = msg_key(msg_type, n)
        while lo <= hi:
            mid = (lo + hi) >> 1
            if self.msg_keys[mid] == key:
                return self.msg_containers[mid]
            if self.msg_keys[mid] < key:
                lo = mid + 1
            else:
                hi = mid - 1
        return -1

    def field_type(self, int tag):
        """The FieldType code of a tag (T_NONE when the dictionary lacks it)."""
        return self.types[tag] if 0 < tag <= self.max_tag else T_NONE


cdef inline bint enum_ok(FixSchema s, int32_t tag, const uint8_t* v, Py_ssize_t n) noexcept:
    cdef const uint8_t* blob = s.enum_blob + s.enum_off[tag]
    cdef const uint8_t* end = blob + s.enum_len[tag] - 1
    cdef const uint8_t* nxt
    while blob < end:
        nxt = <const uint8_t*>memchr(blob + 1, SOH, end - blob)
        if nxt - blob - 1 == n and memcmp(blob + 1, v, n) == 0:
            return 1
        blob = nxt
    return 0


cdef bint value_ok(FixSchema s, int32_t tag, const uint8_t* v, Py_ssize_t n) noexcept:
    cdef Py_ssize_t i = 0, j
    if s.types[tag] != T_MULTI:
        return enum_ok(s, tag, v, n)
    while i < n:
        j = i
        while j < n and v[j] != 32:
            j += 1
        if j == i or not enum_ok(s, tag, v + i, j - i):
            return 0
        i = j + 1
    return v[n - 1] != 32


# ---------------------------------------------------------------------------------------------
# Parsed messages.

cdef class FieldBlock:
    """FieldRefs of every message parsed from one buffer, and that buffer."""

    def __cinit__(self):
        self.fields = NULL
        self.n = 0
        self.cap = 0

    def __dealloc__(self):
        free(self.fields)

    cdef int reserve(self, Py_ssize_t extra) except -1:
        cdef Py_ssize_t cap
        cdef FieldRef* p
        if self.n + extra <= self.cap:
            return 0
        cap = max(self.cap * 2, self.n + extra, 256)
        p = <FieldRef*>realloc(self.fields, sizeof(FieldRef) * cap)
        if p == NULL:
            raise MemoryError()
        self.fields = p
        self.cap = cap
        return 0


cdef class FieldView:
    """Typed access to the fields of a message or of one repeating-group entry."""

    cdef int32_t find_c(self, int32_t tag) noexcept:
        cdef FieldRef* f = self.block.fields
        cdef int32_t i
        for i in range(self.first, self.end):
            if f[i].tag == tag and f[i].depth == self.depth:
                return i
        return -1

    cdef int get_int_c(self, int32_t tag, int64_t* out) noexcept:
        cdef int32_t i = self.find_c(tag)
        if i < 0:
            return NUM_MISSING
        return parse_int_c(self.block.base + self.block.fields[i].off, self.block.fields[i].len, out)

    cdef int get_fixed_c(self, int32_t tag, int decimals, int64_t step, int64_t* out) noexcept:
        cdef int32_t i = self.find_c(tag)
        if i < 0:
            return NUM_MISSING
        return parse_fixed_c(self.block.base + self.block.fields[i].off, self.block.fields[i].len,
                             decimals, step, out)

    cdef int get_timestamp_c(self, int32_t tag, int64_t* out) noexcept:
        cdef int32_t i = self.find_c(tag)
        if i < 0:
            return NUM_MISSING
        return parse_timestamp_c(self.block.base + self.block.fields[i].off,
                                 self.block.fields[i].len, out)

    def has(self, int tag):
        return self.find_c(tag) >= 0

    def __contains__(self, int tag):
        return self.find_c(tag) >= 0

    def get_int(self, int tag, default=_MISSING):
        cdef int64_t v
        cdef int rc = self.get_int_c(tag, &v)
        if rc == NUM_OK:
            return v
        if rc == NUM_MISSING and default is not _MISSING:
            return default
        raise field_error(tag, rc)

    def get_fixed(self, int tag, int decimals, int64_t step=1, default=_MISSING):
        cdef int64_t v
        cdef int rc
        if not 0 <= decimals <= MAX_DECIMALS or step < 1:
            raise ValueError("decimals must be 0..18 and step >= 1")
        rc = self.get_fixed_c(tag, decimals, step, &v)
        if rc == NUM_OK:
            return v
        if rc == NUM_MISSING and default is not _MISSING:
            return default
        raise field_error(tag, rc)

    def get_bytes(self, int tag, default=_MISSING):
        cdef int32_t i = self.find_c(tag)
        if i < 0:
            if default is not _MISSING:
                return default
            raise field_error(tag, NUM_MISSING)
        return PyBytes_FromStringAndSize(<const char*>self.block.base + self.block.fields[i].off,
                                         self.block.fields[i].len)

    def get_str(self, int tag, default=_MISSING):
        """The value decoded as Latin-1, which maps every byte and so round-trips exactly."""
        cdef int32_t i = self.find_c(tag)
        if i < 0:
            if default is not _MISSING:
                return default
            raise field_error(tag, NUM_MISSING)
        return PyUnicode_DecodeLatin1(<const char*>self.block.base + self.block.fields[i].off,
                                      self.block.fields[i].len, NULL)

    def get_char(self, int tag, default=_MISSING):
        cdef int32_t i = self.find_c(tag)
        if i < 0:
            if default is not _MISSING:
                return default
            raise field_error(tag, NUM_MISSING)
        if self.block.fields[i].len != 1:
            raise field_error(tag, NUM_FORMAT)
        return chr(self.block.base[self.block.fields[i].off])

    def get_bool(self, int tag, default=_MISSING):
        cdef int32_t i = self.find_c(tag)
        cdef uint8_t c
        if i < 0:
            if default is not _MISSING:
                return default
            raise field_error(tag, NUM_MISSING)
        c = self.block.base[self.block.fields[i].off]
        if self.block.fields[i].len != 1 or (c != 89 and c != 78):
            raise field_error(tag, NUM_FORMAT)
        return c == 89

    def get_timestamp_ns(self, int tag, default=_MISSING):
        """A UTCTimestamp (YYYYMMDD-HH:MM:SS[.fffffffff]) as nanoseconds since the Unix epoch."""
        cdef int64_t v
        cdef int rc = self.get_timestamp_c(tag, &v)
        if rc == NUM_OK:
            return v
        if rc == NUM_MISSING and default is not _MISSING:
            return default
        raise field_error(tag, rc)

    def group(self, int count_tag):
        """The entries of the repeating group counted by count_tag, in order ([] if absent)."""
        cdef FieldRef* f = self.block.fields
        cdef int32_t i = self.find_c(count_tag), j, start = -1
        cdef uint16_t d = self.depth + 1
        cdef list out = []
        if not self.grouped:
            raise ValueError("repeating groups need a parser with a FixSchema")
        if i < 0:
            return out
        j = i + 1
        while j < self.end and f[j].depth >= d:
            if f[j].depth == d and (f[j].flags & F_ENTRY_START):
                if start >= 0:
                    out.append(make_entry(self.block, start, j, d))
                start = j
            j += 1
        if start >= 0:
            out.append(make_entry(self.block, start, j, d))
        return out

    def fields(self):
        """All fields of the view in wire order, nested groups included, as (tag, bytes)."""
        cdef FieldRef* f = self.block.fields
        cdef const char* base = <const char*>self.block.base
        return [(f[i].tag, PyBytes_FromStringAndSize(base + f[i].off, f[i].len))
                for i in range(self.first, self.end)]

    def tags(self):
        return [self.block.fields[i].tag for i in range(self.first, self.end)]

    def __len__(self):
        return self.end - self.first


@cython.final
cdef class FixEntry(FieldView):
    """One entry of a repeating group."""

    def __repr__(self):
        return "FixEntry(" + "|".join(f"{t}={v.decode('latin-1')}" for t, v in self.fields()) + ")"


cdef FixEntry make_entry(FieldBlock block, int32_t first, int32_t end, uint16_t depth):
    cdef FixEntry e = FixEntry.__new__(FixEntry)
    e.block = block
    e.first = first
    e.end = end
    e.depth = depth
    e.grouped = 1
    return e


@cython.final
cdef class FixMessage(FieldView):
    """A parsed frame: its fields, or why it was not accepted (error, error_tag)."""

    @property
    def ok(self):
        return self.error == OK

    @property
    def garbled(self):
        return GARBAGE <= self.error <= NO_MSGTYPE

    @property
    def reject_reason(self):
        return REJECT_REASON[self.error]

    @property
    def error_text(self):
        return ERROR_TEXT[self.error]

    @property
    def msg_type(self):
        return PyBytes_FromStringAndSize(<const char*>self.block.base + self.type_off, self.type_len)

    @property
    def raw(self):
        return PyBytes_FromStringAndSize(<const char*>self.block.base + self.frame_off, self.frame_len)

    def __repr__(self):
        body = "|".join(f"{t}={v.decode('latin-1')}" for t, v in self.fields())
        if self.error:
            return f"FixMessage(error={ParseError(self.error).name}, tag={self.error_tag}, {body})"
        return f"FixMessage({body})"


# ---------------------------------------------------------------------------------------------
# Parser.

cdef inline bint is_start(const uint8_t* p, Py_ssize_t n) noexcept nogil:
    """p[0:n] is "8=FIX..." (n >= 5) or a non-empty prefix of it."""
    cdef Py_ssize_t k = 5 if n > 5 else n
    return n > 0 and memcmp(p, b"8=FIX", k) == 0


cdef Py_ssize_t resync(const uint8_t* p, Py_ssize_t pos, Py_ssize_t end) noexcept nogil:
    """The first position in (pos, end] where a frame may start: an "8=FIX", or the start of a
    trailing prefix of it that more bytes could complete; end when there is neither."""
    cdef const uint8_t* q
    cdef Py_ssize_t i = pos + 1
    while i < end:
        q = <const uint8_t*>memchr(p + i, 56, end - i)
        if q == NULL:
            return end
        i = q - p
        if is_start(p + i, end - i):
            return i
        i += 1
    return end


cdef inline Py_ssize_t checksum(const uint8_t* p, Py_ssize_t n) noexcept nogil:
    cdef uint32_t s = 0
    cdef Py_ssize_t i
    for i in range(n):
        s += p[i]
    return s & 255


cdef inline bint begin_string_ok(const uint8_t* v, Py_ssize_t n) noexcept nogil:
    """FIX.n.m or FIXT.n.m."""
    cdef Py_ssize_t i = 4, start
    if n < 7 or memcmp(v, b"FIX", 3) != 0:
        return 0
    if v[3] == 84:
        i = 5
        if v[4] != DOT:
            return 0
    elif v[3] != DOT:
        return 0
    start = i
    while i < n and <unsigned>(v[i] - ZERO) <= 9:
        i += 1
    if i == start or i >= n or v[i] != DOT:
        return 0
    i += 1
    return i < n and all_digits(v + i, n - i)


cdef inline int fail(FixMessage m, int code, int32_t tag) noexcept:
    m.error = code
    m.error_tag = tag
    return 0


cdef class FixParser:
    """Streaming FIX parser; see fixcodec.pyi."""

    def __cinit__(self):
        self.seen = NULL
        self.stack = NULL

    def __dealloc__(self):
        free(self.seen)
        free(self.stack)

    def __init__(self, FixSchema schema=None, *, int validate=0, Py_ssize_t max_message_size=65536,
                 bytes begin_string=None):
        if not 32 <= max_message_size <= MAX_MESSAGE_SIZE:
            raise ValueError(f"max_message_size must be 32..{MAX_MESSAGE_SIZE}")
        if validate & ~(V_ALL | V_ALLOW_USER_TAGS):
            raise ValueError(f"unknown validate flags {validate:#x}")
        if validate and schema is None:
            raise ValueError("validation needs a FixSchema")
        if begin_string is None and schema is not None:
            begin_string = schema.begin_string
        if begin_string is not None and not begin_string_ok(begin_string, len(begin_string)):
            raise ValueError(f"bad BeginString {begin_string!r}")
        self.schema = schema
        self.validate = validate
        self.max_message_size = max_message_size
        self.begin_string = begin_string
        self.garbage_bytes = 0
        self.need = 0
        self.carry = bytearray()
        self.stamp = 0
        self.seen_size = max(SEEN_MIN, schema.max_tag + 1 if schema is not None else 0)
        self.seen = <uint32_t*>malloc(sizeof(uint32_t) * self.seen_size)
        self.stack_size = (schema.max_depth if schema is not None else 0) + 2
        self.stack = <GroupFrame*>malloc(sizeof(GroupFrame) * self.stack_size)
        if self.seen == NULL or self.stack == NULL:
            raise MemoryError()
        memset(self.seen, 0, sizeof(uint32_t) * self.seen_size)
        self.block = None

    def parse(self, buf, Py_ssize_t start=0, end=None):
        """Parse the complete frames in buf[start:end]; return (messages, bytes consumed)."""
        cdef Py_ssize_t consumed = 0, stop, n
        cdef list out = []
        cdef bytes data
        if type(buf) is bytes:
            data = <bytes>buf
        else:
            data = bytes(memoryview(buf).cast("B"))
        n = PyBytes_GET_SIZE(data)
        stop = n if end is None else min(<Py_ssize_t>end, n)
        if start < 0 or start > stop:
            raise ValueError("bad start/end")
        self.parse_into(data, start, stop, out, &consumed)
        return out, consumed

    def feed(self, chunk):
        """Append a chunk of the stream; return the messages (and errors) it completes.  An
        incomplete frame at the end is kept (at most max_message_size bytes) for the next call."""
        cdef Py_ssize_t consumed = 0, n
        cdef list out = []
        cdef bytes data
        if PyByteArray_GET_SIZE(self.carry):
            self.carry += chunk
            if PyByteArray_GET_SIZE(self.carry) < self.need:
                return out
            data = bytes(self.carry)
        elif type(chunk) is bytes:
            data = <bytes>chunk
        else:
            data = bytes(memoryview(chunk).cast("B"))
        n = PyBytes_GET_SIZE(data)
        self.parse_into(data, 0, n, out, &consumed)
        if consumed < n:
            self.carry = bytearray(memoryview(data)[consumed:])
        elif PyByteArray_GET_SIZE(self.carry):
            self.carry = bytearray()
        return out

    @property
    def pending(self):
        """Bytes held back by feed() as the start of an incomplete frame."""
        return PyByteArray_GET_SIZE(self.carry)

    cdef uint32_t next_stamp(self) noexcept:
        self.stamp += 1
        return self.stamp

    cdef FixMessage make_message(self, int error, int32_t tag, Py_ssize_t off, Py_ssize_t n,
                                 int32_t first, int32_t count):
        cdef FixMessage m = FixMessage.__new__(FixMessage)
        m.block = self.block
        m.first = first
        m.end = first + count
        m.depth = 0
        m.grouped = self.schema is not None
        m.error = error
        m.error_tag = tag
        m.frame_off = <int32_t>off
        m.frame_len = <int32_t>n
        m.type_off = <int32_t>off
        m.type_len = 0
        return m

    cdef int parse_into(self, bytes data, Py_ssize_t start, Py_ssize_t end, list out,
                        Py_ssize_t* consumed) except -1:
        cdef const uint8_t* p = <const uint8_t*>PyBytes_AS_STRING(data)
        cdef Py_ssize_t pos = start, s, i, j, body, blen, total, ck, nblen, bs_len
        cdef int sent
        cdef FixMessage m
        cdef FieldBlock b
        cdef FieldRef* f
        if PyBytes_GET_SIZE(data) > 0x7FFFFFFF:
            raise ValueError("buffer larger than 2 GiB")
        if self.block is None or Py_REFCNT(self.block) > 1:
            self.block = FieldBlock()
        b = self.block
        b.n = 0
        b.data = data
        b.base = p
        self.need = 0
        while pos < end:
            if not is_start(p + pos, end - pos):
                s = resync(p, pos, end)
                out.append(self.make_message(GARBAGE, 0, pos, s - pos, 0, 0))
                self.garbage_bytes += s - pos
                pos = s
                continue
            if end - pos < 5:
                break
            # BeginString
            i = pos + 2
            j = i
            while j < end and p[j] != SOH and j - i < MAX_BEGIN_LEN:
                j += 1
            if j == end:
                break
            if p[j] != SOH or not begin_string_ok(p + i, j - i):
                pos = self.garbled(out, p, pos, end, BAD_BEGIN_STRING, 8)
                continue
            bs_len = j - i
            # BodyLength
            j += 1
            if end - j < 2:
                if j == end or p[j] == 57:
                    break
                pos = self.garbled(out, p, pos, end, BAD_BODY_LENGTH, 9)
                continue
            if p[j] != 57 or p[j + 1] != EQ:
                pos = self.garbled(out, p, pos, end, BAD_BODY_LENGTH, 9)
                continue
            j += 2
            body = j
            blen = 0
            while j < end and j - body < MAX_LEN_DIGITS and <unsigned>(p[j] - ZERO) <= 9:
                blen = blen * 10 + (p[j] - ZERO)
                j += 1
            if j == end:
                break
            nblen = j - body
            if nblen == 0 or p[j] != SOH:
                pos = self.garbled(out, p, pos, end, BAD_BODY_LENGTH, 9)
                continue
            body = j + 1
            total = body - pos + blen + 7
            if total > self.max_message_size:
                pos = self.garbled(out, p, pos, end, TOO_LARGE, 9)
                continue
            if end - pos < total:
                self.need = total
                break
            ck = body + blen
            if p[ck - 1] != SOH or memcmp(p + ck, b"10=", 3) != 0:
                pos = self.garbled(out, p, pos, end, BODY_LENGTH_MISMATCH, 9)
                continue
            if not all_digits(p + ck + 3, 3) or p[ck + 6] != SOH:
                pos = self.garbled(out, p, pos, end, BAD_CHECKSUM, 10)
                continue
            sent = (p[ck + 3] - ZERO) * 100 + (p[ck + 4] - ZERO) * 10 + (p[ck + 5] - ZERO)
            if checksum(p + pos, ck - pos) != sent:
                out.append(self.make_message(CHECKSUM_MISMATCH, 10, pos, total, 0, 0))
                pos += total
                continue
            # The frame is sound; now its fields.
            b.reserve(blen // 3 + 8)
            m = self.make_message(OK, 0, pos, total, <int32_t>b.n, 0)
            f = &b.fields[b.n]
            f.tag = 8
            f.off = <int32_t>(pos + 2)
            f.len = <int32_t>bs_len
            f.depth = 0
            f.flags = 0
            f = &b.fields[b.n + 1]
            f.tag = 9
            f.off = <int32_t>(body - 1 - nblen)
            f.len = <int32_t>nblen
            f.depth = 0
            f.flags = 0
            b.n += 2
            self.tokenize(m, p, body, ck)
            if m.error and m.garbled:
                b.n = m.first
                m.end = m.first
            else:
                f = &b.fields[b.n]
                f.tag = 10
                f.off = <int32_t>(ck + 3)
                f.len = 3
                f.depth = 0
                f.flags = 0
                b.n += 1
                m.end = <int32_t>b.n
                if self.begin_string is not None and (
                        bs_len != PyBytes_GET_SIZE(self.begin_string)
                        or memcmp(p + pos + 2, PyBytes_AS_STRING(self.begin_string), bs_len) != 0):
                    # A sound frame of another FIX version: the session answers with a Logout.
                    fail(m, BAD_BEGIN_STRING, 8)
                elif not m.error:
                    self.structure(m)
            out.append(m)
            pos += total
        consumed[0] = pos - start
        return 0

    cdef Py_ssize_t garbled(self, list out, const uint8_t* p, Py_ssize_t pos, Py_ssize_t end,
                            int code, int32_t tag) except -1:
        """Report a frame whose start looked right but whose header is broken, and skip to where
        the next frame may start."""
        cdef Py_ssize_t s = resync(p, pos, end)
        out.append(self.make_message(code, tag, pos, s - pos, 0, 0))
        self.garbage_bytes += s - pos
        return s

    cdef int tokenize(self, FixMessage m, const uint8_t* p, Py_ssize_t body, Py_ssize_t body_end) except -1:
        """Fields of [body, body_end) (which ends with SOH) as FieldRefs; the first error wins but
        later well-formed fields are still recorded, so that MsgSeqNum is known for a Reject."""
        cdef FieldBlock b = self.block
        cdef FixSchema s = self.schema
        cdef FieldRef* f
        cdef Py_ssize_t i = body, v, e, nd
        cdef const uint8_t* q
        cdef int32_t tag, data_tag = 0, length_tag = 0
        cdef int64_t data_len = 0
        cdef bint first = 1
        while i < body_end:
            tag = 0
            nd = 0
            while <unsigned>(p[i] - ZERO) <= 9 and nd <= MAX_TAG_DIGITS:
                tag = tag * 10 + (p[i] - ZERO)
                i += 1
                nd += 1
            if nd == 0 or nd > MAX_TAG_DIGITS or p[i] != EQ or tag == 0 or p[i - nd] == ZERO:
                if first:
                    return fail(m, NO_MSGTYPE, 35)
                if not m.error:
                    fail(m, BAD_TAG, tag if 0 < nd <= MAX_TAG_DIGITS else 0)
                q = <const uint8_t*>memchr(p + i, SOH, body_end - i)
                i = q - p + 1
                data_tag = 0
                continue
            v = i + 1
            if data_tag:
                if tag == data_tag and data_len < body_end - v and p[v + data_len] == SOH:
                    e = v + data_len
                else:
                    if not m.error:
                        fail(m, BAD_DATA_LENGTH, length_tag)
                    e = (<const uint8_t*>memchr(p + v, SOH, body_end - v)) - p
                data_tag = 0
            else:
                e = (<const uint8_t*>memchr(p + v, SOH, body_end - v)) - p
            if first:
                if tag != 35 or e == v:
                    return fail(m, NO_MSGTYPE, 35)
                m.type_off = <int32_t>v
                m.type_len = <int32_t>(e - v)
                first = 0
            if e == v:
                if not m.error:
                    fail(m, EMPTY_VALUE, tag)
                i = e + 1
                continue
            f = &b.fields[b.n]
            f.tag = tag
            f.off = <int32_t>v
            f.len = <int32_t>(e - v)
            f.depth = 0
            f.flags = 0
            b.n += 1
            if s is not None and tag <= s.max_tag and s.data_of_len[tag]:
                if parse_int_c(p + v, e - v, &data_len) != NUM_OK or data_len <= 0:
                    if not m.error:
                        fail(m, BAD_DATA_LENGTH, tag)
                else:
                    data_tag = s.data_of_len[tag]
                    length_tag = tag
            i = e + 1
        if data_tag and not m.error:
            fail(m, BAD_DATA_LENGTH, length_tag)
        if first:
            return fail(m, NO_MSGTYPE, 35)
        return 0

    cdef bint dup(self, int32_t tag, uint32_t ctx, int32_t i, int32_t scan_from,
                         uint16_t depth) noexcept:
        """Stamp tag as seen in context ctx; true if it already was."""
        cdef FieldRef* f
        cdef int32_t j
        if tag < self.seen_size:
            if self.seen[tag] == ctx:
                return 1
            self.seen[tag] = ctx
            return 0
        f = self.block.fields
        for j in range(scan_from, i):
            if f[j].tag == tag and f[j].depth == depth:
                return 1
        return 0

    cdef bint present(self, int32_t tag, uint32_t ctx, int32_t scan_from, int32_t end,
                             uint16_t depth) noexcept:
        cdef FieldRef* f
        cdef int32_t j
        if tag < self.seen_size:
            return self.seen[tag] == ctx
        f = self.block.fields
        for j in range(scan_from, end):
            if f[j].tag == tag and f[j].depth == depth:
                return 1
        return 0

    cdef int close_entry(self, FixMessage m, GroupFrame* g, int32_t end, uint16_t depth) noexcept:
        """Required-field check of the group entry that ends before field `end`; 0 if it fails."""
        cdef Container* c = &self.schema.containers[g.container]
        cdef int32_t k
        if g.entries == 0 or not (self.validate & V_REQUIRED):
            return 1
        for k in range(c.n_required):
            if not self.present(c.required[k], g.ctx, g.entry_first, end, depth):
                fail(m, REQUIRED_MISSING, c.required[k])
                return 0
        return 1

    cdef int structure(self, FixMessage m) except -1:
        cdef FieldBlock b = self.block
        cdef FixSchema s = self.schema
        cdef FieldRef* f
        cdef GroupFrame* st = self.stack
        cdef GroupFrame* top
        cdef Container* c
        cdef int v = self.validate
        cdef int sp = 0, t, k
        cdef int32_t i, tag, child, cont
        cdef int64_t count
        cdef uint32_t msg_ctx
        cdef bint known = 1, in_body = 0, in_trailer = 0, member
        cdef const uint8_t* val
        if self.stamp > STAMP_RESET:
            memset(self.seen, 0, sizeof(uint32_t) * self.seen_size)
            self.stamp = 0
        msg_ctx = self.next_stamp()
        if s is None:
            for i in range(m.first, m.end):
                if self.dup(b.fields[i].tag, msg_ctx, i, m.first, 0):
                    return fail(m, DUPLICATE_TAG, b.fields[i].tag)
            return 0
        cont = s.container_for(b.base + m.type_off, m.type_len)
        if cont < 0:
            known = 0
            if v & V_MSGTYPE:
                return fail(m, BAD_MSGTYPE, 35)
            cont = s.default_container
        st[0].container = cont
        st[0].ctx = msg_ctx
        st[0].entry_first = m.first
        st[0].entries = 1
        i = m.first
        while i < m.end:
            f = &b.fields[i]
            tag = f.tag
            # Which open group does the field belong to?  Close those it is not part of.
            while sp > 0:
                top = &st[sp]
                c = &s.containers[top.container]
                if tag == c.delimiter:
                    if not self.close_entry(m, top, i, sp):
                        return 0
                    if top.entries == top.count:
                        return fail(m, BAD_GROUP_COUNT, top.count_tag)
                    top.entries += 1
                    top.ctx = self.next_stamp()
                    top.entry_first = i
                    top.last_pos = 0
                    f.flags |= F_ENTRY_START
                    break
                if tag <= s.max_tag and bit(c.members, tag):
                    if top.entries == 0:
                        return fail(m, GROUP_ORDER, tag)
                    break
                if not self.close_entry(m, top, i, sp):
                    return 0
                if top.entries != top.count:
                    return fail(m, BAD_GROUP_COUNT, top.count_tag)
                sp -= 1
            top = &st[sp]
            c = &s.containers[top.container]
            if sp == 0:
                member = tag <= s.max_tag and bit(c.members, tag)
                if not member and not ((v & V_ALLOW_USER_TAGS) and tag >= 5000):
                    if (v & V_UNKNOWN_TAGS) and (tag > s.max_tag or s.types[tag] == T_NONE):
                        return fail(m, UNKNOWN_TAG, tag)
                    if (v & V_TAGS_FOR_MSGTYPE) and known:
                        return fail(m, TAG_NOT_DEFINED, tag)
                if v & V_FIELD_ORDER:
                    if tag <= s.max_tag and bit(s.header_bits, tag):
                        if in_body or in_trailer:
                            return fail(m, OUT_OF_ORDER, tag)
                    elif tag <= s.max_tag and bit(s.trailer_bits, tag):
                        in_trailer = 1
                    elif in_trailer:
                        return fail(m, OUT_OF_ORDER, tag)
                    else:
                        in_body = 1
            if self.dup(tag, top.ctx, i, top.entry_first, sp):
                return fail(m, DUPLICATE_TAG if sp == 0 else GROUP_ORDER, tag)
            if sp > 0 and (v & V_GROUP_ORDER) and tag != c.delimiter:
                k = 0
                while k < c.n_order and c.order[k] != tag:
                    k += 1
                if k <= top.last_pos:
                    return fail(m, GROUP_ORDER, tag)
                top.last_pos = k
            f.depth = <uint16_t>sp
            if tag <= s.max_tag:
                val = b.base + f.off
                t = s.types[tag]
                if (v & V_TYPES) and t != T_NONE and not check_type(t, val, f.len):
                    return fail(m, BAD_FORMAT, tag)
                if (v & V_ENUMS) and s.enum_len[tag] and tag != 35 and not value_ok(s, tag, val, f.len):
                    return fail(m, BAD_VALUE, tag)
                if bit(s.count_bits, tag):
                    child = -1
                    for k in range(c.n_groups):
                        if c.group_tags[k] == tag:
                            child = c.group_children[k]
                            break
                    if child >= 0:
                        if parse_int_c(val, f.len, &count) != NUM_OK or count < 0:
                            return fail(m, BAD_FORMAT, tag)
                        if count > 0:
                            if sp + 1 >= self.stack_size:
                                return fail(m, GROUP_ORDER, tag)
                            sp += 1
                            top = &st[sp]
                            top.container = child
                            top.count_tag = tag
                            top.count = count
                            top.entries = 0
                            top.ctx = 0
                            top.entry_first = i + 1
                            top.last_pos = 0
            i += 1
        while sp > 0:
            top = &st[sp]
            if not self.close_entry(m, top, m.end, sp):
                return 0
            if top.entries != top.count:
                return fail(m, BAD_GROUP_COUNT, top.count_tag)
            sp -= 1
        if v & V_REQUIRED:
            c = &s.containers[cont]
            for k in range(c.n_required):
                if not self.present(c.required[k], msg_ctx, m.first, m.end, 0):
                    return fail(m, REQUIRED_MISSING, c.required[k])
        return 0


# ---------------------------------------------------------------------------------------------
# Encoder.

_KINDS = {"int": K_INT, "fixed": K_FIXED, "bytes": K_BYTES, "str": K_BYTES, "char": K_CHAR,
          "bool": K_BOOL, "timestamp": K_TIMESTAMP}


cdef class FixTemplate:
    """A message layout compiled once, so that an encoder writes a whole message in one call."""

    def __cinit__(self):
        self.tags = NULL
        self.kinds = NULL
        self.args = NULL

    def __dealloc__(self):
        free(self.tags)
        free(self.kinds)
        free(self.args)

    def __init__(self, bytes msg_type, fields):
        cdef Py_ssize_t i
        fields = list(fields)
        if not msg_type or b"\x01" in msg_type or b"=" in msg_type:
            raise ValueError(f"bad MsgType {msg_type!r}")
        self.msg_type = msg_type
        self.n = len(fields)
        self.tags = <int32_t*>malloc(sizeof(int32_t) * (self.n + 1))
        self.kinds = <uint8_t*>malloc(self.n + 1)
        self.args = <int32_t*>malloc(sizeof(int32_t) * (self.n + 1))
        if self.tags == NULL or self.kinds == NULL or self.args == NULL:
            raise MemoryError()
        for i, spec in enumerate(fields):
            tag, kind, arg = (tuple(spec) + (None,))[:3]
            if type(tag) is not int or not 0 < tag < 1000000000 or kind not in _KINDS:
                raise ValueError(f"bad template field {spec!r}")
            self.tags[i] = tag
            self.kinds[i] = _KINDS[kind]
            if kind == "fixed":
                if arg is None or not 0 <= arg <= MAX_DECIMALS:
                    raise ValueError(f"tag {tag}: fixed needs decimals 0..18")
            elif kind == "timestamp":
                arg = 3 if arg is None else arg
                if arg not in (0, 3, 6, 9):
                    raise ValueError(f"tag {tag}: timestamp digits must be 0, 3, 6 or 9")
            elif arg is not None:
                raise ValueError(f"tag {tag}: {kind} takes no argument")
            self.args[i] = arg or 0

    def __len__(self):
        return self.n


cdef class FixEncoder:
    """Builds FIX messages for one session in a reusable buffer; see fixcodec.pyi."""

    def __cinit__(self):
        self.buf = NULL
        self.open = 0

    def __dealloc__(self):
        free(self.buf)

    def __init__(self, bytes begin_string=b"FIX.4.4", sender=None, target=None, header_fields=(),
                 Py_ssize_t max_message_size=65536):
        cdef Py_ssize_t i
        if not begin_string_ok(begin_string, len(begin_string)):
            raise ValueError(f"bad BeginString {begin_string!r}")
        if not 32 <= max_message_size <= MAX_MESSAGE_SIZE:
            raise ValueError(f"max_message_size must be 32..{MAX_MESSAGE_SIZE}")
        fields = []
        if sender is not None:
            fields.append((49, sender))
        if target is not None:
            fields.append((56, target))
        fields.extend(header_fields)
        fragment = bytearray()
        for tag, value in fields:
            value = value.encode("latin-1") if isinstance(value, str) else bytes(value)
            if type(tag) is not int or tag <= 0 or not value or b"\x01" in value:
                raise ValueError(f"bad header field {tag}={value!r}")
            fragment += b"%d=%s\x01" % (tag, value)
        self.begin_string = begin_string
        self.max_message_size = max_message_size
        self.prefix = b"8=" + begin_string + b"\x01"
        self.session_fragment = bytes(fragment)
        self.body_start = len(self.prefix) + 2 + MAX_LEN_DIGITS + 1
        self.cap = 1024
        self.buf = <uint8_t*>malloc(self.cap)
        if self.buf == NULL:
            raise MemoryError()
        self.pos = self.body_start

    cdef int grow(self, Py_ssize_t extra) except -1:
        cdef Py_ssize_t need = self.pos + extra + 8
        cdef uint8_t* p
        if not self.open:
            raise ValueError("no message begun: call begin(msg_type) first")
        if need <= self.cap:
            return 0
        if need - self.body_start > self.max_message_size:
            self.open = 0
            raise ValueError(f"message exceeds max_message_size ({self.max_message_size})")
        p = <uint8_t*>realloc(self.buf, max(need, self.cap * 2))
        if p == NULL:
            self.open = 0
            raise MemoryError()
        self.buf = p
        self.cap = max(need, self.cap * 2)
        return 0

    cdef void put_tag(self, int32_t tag) noexcept:
        self.pos += write_uint(self.buf + self.pos, <uint64_t>tag)
        self.buf[self.pos] = EQ
        self.pos += 1

    cdef int begin_c(self, const uint8_t* msg_type, Py_ssize_t n) except -1:
        cdef Py_ssize_t frag = PyBytes_GET_SIZE(self.session_fragment)
        if n <= 0 or memchr(msg_type, SOH, n) != NULL or memchr(msg_type, EQ, n) != NULL:
            raise ValueError(f"bad MsgType {PyBytes_FromStringAndSize(<const char*>msg_type, n)!r}")
        self.pos = self.body_start
        self.open = 1
        self.grow(n + 5 + frag)
        memcpy(self.buf + self.pos, b"35=", 3)
        memcpy(self.buf + self.pos + 3, msg_type, n)
        self.buf[self.pos + 3 + n] = SOH
        self.pos += 4 + n
        memcpy(self.buf + self.pos, PyBytes_AS_STRING(self.session_fragment), frag)
        self.pos += frag
        return 0

    cdef int add_int_c(self, int32_t tag, int64_t value) except -1:
        if tag <= 0:
            raise ValueError(f"bad tag {tag}")
        self.grow(32)
        self.put_tag(tag)
        self.pos += write_int(self.buf + self.pos, value)
        self.buf[self.pos] = SOH
        self.pos += 1
        return 0

    cdef int add_fixed_c(self, int32_t tag, int64_t count, int decimals, int64_t step) except -1:
        cdef int64_t v
        if tag <= 0:
            raise ValueError(f"bad tag {tag}")
        if not 0 <= decimals <= MAX_DECIMALS or step < 1:
            raise ValueError("decimals must be 0..18 and step >= 1")
        if step != 1 and (count > INT64_MAX // step or count < INT64_MIN // step):
            raise OverflowError(f"tag {tag}: {count} * {step} overflows int64")
        v = count * step
        self.grow(48)
        self.put_tag(tag)
        self.pos += write_decimal(self.buf + self.pos, v, decimals)
        self.buf[self.pos] = SOH
        self.pos += 1
        return 0

    cdef int add_raw_c(self, int32_t tag, const uint8_t* value, Py_ssize_t n) except -1:
        if tag <= 0:
            raise ValueError(f"bad tag {tag}")
        if n <= 0 or memchr(value, SOH, n) != NULL:
            raise ValueError(f"tag {tag}: value must be non-empty and free of SOH")
        self.grow(n + 16)
        self.put_tag(tag)
        memcpy(self.buf + self.pos, value, n)
        self.buf[self.pos + n] = SOH
        self.pos += n + 1
        return 0

    cdef int add_timestamp_c(self, int32_t tag, int64_t ts_ns, int digits) except -1:
        cdef int y, mo, d
        cdef int64_t secs, days, sod
        cdef uint8_t* o
        if tag <= 0:
            raise ValueError(f"bad tag {tag}")
        if ts_ns < 0 or digits not in (0, 3, 6, 9):
            raise ValueError("ts_ns must be >= 0 and digits 0, 3, 6 or 9")
        self.grow(48)
        self.put_tag(tag)
        secs = ts_ns // 1000000000
        days = secs // 86400
        sod = secs % 86400
        civil_from_days(days, &y, &mo, &d)
        o = self.buf + self.pos
        write_padded(o, y, 4)
        write_padded(o + 4, mo, 2)
        write_padded(o + 6, d, 2)
        o[8] = MINUS
        write_padded(o + 9, sod // 3600, 2)
        o[11] = 58
        write_padded(o + 12, (sod // 60) % 60, 2)
        o[14] = 58
        write_padded(o + 15, sod % 60, 2)
        self.pos += 17
        if digits:
            o[17] = DOT
            write_padded(o + 18, (ts_ns % 1000000000) // POW10[9 - digits], digits)
            self.pos += 1 + digits
        self.buf[self.pos] = SOH
        self.pos += 1
        return 0

    cdef int add_field_c(self, const uint8_t* field, Py_ssize_t n) except -1:
        """Append a field this encoder wrote before (bytes [pos0, pos1) of an earlier message),
        e.g. a SendingTime shared by a batch of messages: no re-formatting."""
        self.grow(n)
        memcpy(self.buf + self.pos, field, n)
        self.pos += n
        return 0

    cdef Py_ssize_t finish_c(self) except -1:
        cdef Py_ssize_t body_len, nd, start, plen
        cdef uint8_t digits[12]
        cdef uint32_t s
        if not self.open:
            raise ValueError("no message begun: call begin(msg_type) first")
        body_len = self.pos - self.body_start
        nd = write_uint(digits, <uint64_t>body_len)
        plen = PyBytes_GET_SIZE(self.prefix)
        start = self.body_start - (plen + 3 + nd)
        memcpy(self.buf + start, PyBytes_AS_STRING(self.prefix), plen)
        self.buf[start + plen] = 57
        self.buf[start + plen + 1] = EQ
        memcpy(self.buf + start + plen + 2, digits, nd)
        self.buf[self.body_start - 1] = SOH
        s = <uint32_t>checksum(self.buf + start, self.pos - start)
        memcpy(self.buf + self.pos, b"10=", 3)
        write_padded(self.buf + self.pos + 3, s, 3)
        self.buf[self.pos + 6] = SOH
        self.pos += 7
        self.open = 0
        return start

    def begin(self, bytes msg_type):
        self.begin_c(<const uint8_t*>PyBytes_AS_STRING(msg_type), PyBytes_GET_SIZE(msg_type))

    def add_int(self, int tag, int64_t value):
        self.add_int_c(tag, value)

    def add_fixed(self, int tag, int64_t count, int decimals, int64_t step=1):
        self.add_fixed_c(tag, count, decimals, step)

    def add_bytes(self, int tag, value):
        cdef bytes b = value if type(value) is bytes else bytes(value)
        self.add_raw_c(tag, <const uint8_t*>PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b))

    def add_str(self, int tag, str value):
        cdef bytes b = value.encode("latin-1")
        self.add_raw_c(tag, <const uint8_t*>PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b))

    def add_char(self, int tag, str value):
        if len(value) != 1:
            raise ValueError(f"tag {tag}: a CHAR is one character")
        self.add_str(tag, value)

    def add_bool(self, int tag, bint value):
        self.add_raw_c(tag, <const uint8_t*>(b"Y" if value else b"N"), 1)

    def add_timestamp(self, int tag, int64_t ts_ns, int digits=3):
        self.add_timestamp_c(tag, ts_ns, digits)

    def add_data(self, int length_tag, int data_tag, bytes value):
        """A Length field and its data field; the data may contain SOH."""
        cdef Py_ssize_t n = PyBytes_GET_SIZE(value)
        if n <= 0 or data_tag <= 0:
            raise ValueError("data must be non-empty")
        self.add_int_c(length_tag, n)
        self.grow(n + 16)
        self.put_tag(data_tag)
        memcpy(self.buf + self.pos, PyBytes_AS_STRING(value), n)
        self.buf[self.pos + n] = SOH
        self.pos += n + 1

    def finish(self):
        cdef Py_ssize_t start = self.finish_c()
        return PyBytes_FromStringAndSize(<const char*>self.buf + start, self.pos - start)

    def finish_into(self, bytearray out):
        """Append the message to out (e.g. a per-loop-iteration write buffer); return its size."""
        cdef Py_ssize_t start = self.finish_c(), n = self.pos - start
        cdef Py_ssize_t old = PyByteArray_GET_SIZE(out)
        PyByteArray_Resize(out, old + n)
        memcpy(PyByteArray_AS_STRING(out) + old, self.buf + start, n)
        return n

    cdef int add_value_c(self, int kind, int32_t tag, int32_t arg, object value) except -1:
        cdef bytes b
        if kind == K_INT:
            return self.add_int_c(tag, value)
        if kind == K_FIXED:
            return self.add_fixed_c(tag, value, arg, 1)
        if kind == K_TIMESTAMP:
            return self.add_timestamp_c(tag, value, arg)
        if kind == K_BOOL:
            return self.add_raw_c(tag, <const uint8_t*>(b"Y" if value else b"N"), 1)
        if type(value) is bytes:
            b = <bytes>value
        elif type(value) is str:
            b = (<str>value).encode("latin-1")
        else:
            raise TypeError(f"tag {tag}: expected bytes or str, got {type(value).__name__}")
        if kind == K_CHAR and PyBytes_GET_SIZE(b) != 1:
            raise ValueError(f"tag {tag}: a CHAR is one character")
        return self.add_raw_c(tag, <const uint8_t*>PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b))

    def encode_template(self, FixTemplate template not None, tuple values not None):
        """One message: template's fields with these values, in order; None leaves one out."""
        cdef Py_ssize_t i, start
        cdef object v
        if len(values) != template.n:
            raise ValueError(f"{template.n} values expected, got {len(values)}")
        self.begin_c(<const uint8_t*>PyBytes_AS_STRING(template.msg_type),
                     PyBytes_GET_SIZE(template.msg_type))
        for i in range(template.n):
            v = values[i]
            if v is not None:
                self.add_value_c(template.kinds[i], template.tags[i], template.args[i], v)
        start = self.finish_c()
        return PyBytes_FromStringAndSize(<const char*>self.buf + start, self.pos - start)

    def encode(self, bytes msg_type, fields):
        """One message from (tag, value) pairs: int, bool (Y/N), bytes or str values."""
        self.begin(msg_type)
        for tag, value in fields:
            if type(value) is bool:
                self.add_bool(tag, value)
            elif type(value) is int:
                self.add_int(tag, value)
            elif type(value) is str:
                self.add_str(tag, value)
            else:
                self.add_bytes(tag, value)
        return self.finish()
