"""FIX tag=value codec (compiled; see fixcodec.pxd for the C layout).

This docstring is the contract; tests/fix checks it against simplefix, an independent codec.

Parsing: FixParser(schema=None, *, validate=0, max_message_size=65536, begin_string=None)
    parse(buf, start=0, end=None) -> (messages, consumed)
        buf is bytes, bytearray or memoryview holding part of a TCP stream.  Every complete frame
        in buf[start:end] becomes a FixMessage; consumed counts the bytes they (and any garbage)
        took, so the caller keeps buf[start+consumed:] and appends the next chunk to it.  bytes
        are used in place; other buffers are copied once per call.
    feed(chunk) -> messages
        The same with the carry-over kept inside the parser (at most max_message_size bytes).
    Framing, in order:
      * A frame starts with "8=FIX".  Bytes before it are reported as one GARBAGE message and
        skipped (garbage_bytes counts them); a trailing prefix of "8=FIX" waits for more bytes.
      * 8=<FIX.n.m|FIXT.n.m> first, 9=<decimal> second, then BodyLength bytes, then exactly
        "10=" + 3 digits + SOH, with CheckSum = sum of all bytes before "10=" mod 256.  A frame
        whose BodyLength exceeds max_message_size is TOO_LARGE as soon as 9= is read.
      * A frame whose header is broken (BAD_BEGIN_STRING, BAD_BODY_LENGTH, TOO_LARGE,
        BODY_LENGTH_MISMATCH, BAD_CHECKSUM) is reported and skipped up to the next "8=FIX" after
        its first byte; a CHECKSUM_MISMATCH or NO_MSGTYPE frame is skipped whole.  These
        "garbled" messages (m.garbled) carry no fields: the FIX session ignores them.
      * A sound frame whose BeginString is not the parser's begin_string (default: the schema's)
        is BAD_BEGIN_STRING with its fields: the session answers with a Logout.
    Fields of a sound frame: the body starts with 35=<MsgType>.  Each field is <tag>=<value>SOH
    with tag a positive decimal without leading zeros (else BAD_TAG) and a non-empty value (else
    EMPTY_VALUE).  With a schema, a Length field (e.g. 95 RawDataLength) must be followed by its
    data field holding exactly that many bytes, which may include SOH (else BAD_DATA_LENGTH).
    The first error wins (error, error_tag = RefTagID); well-formed fields around a bad one are
    kept so that MsgSeqNum stays readable.  Then, if the fields are sound:
      * Without a schema: a repeated tag is DUPLICATE_TAG; there are no groups.
      * With a schema: fields are assigned to repeating groups of the MsgType's definition
        (header groups included).  A NumInGroup field opens a group whose entries each start
        with the delimiter; a member field before the first delimiter, or repeated within an
        entry, is GROUP_ORDER; more or fewer entries than NumInGroup is BAD_GROUP_COUNT
        (error_tag = the NumInGroup tag); a malformed NumInGroup is BAD_FORMAT.  A repeated tag
        outside groups is DUPLICATE_TAG.  A field not in the open group closes it.
      * Validation (flags from Validate, see ordex.core.fixdict.Validation): BAD_MSGTYPE (11),
        UNKNOWN_TAG (0), TAG_NOT_DEFINED (2), BAD_FORMAT by field type (6), BAD_VALUE by enum (5),
        OUT_OF_ORDER header/trailer placement (14), GROUP_ORDER by dictionary order (15), and
        last REQUIRED_MISSING (1), per group entry when the entry closes and for the message at
        the end.  REJECT_REASON[error] is the SessionRejectReason, -1 when none applies.

FixMessage / FixEntry field access (message level, or one group entry; nested groups excluded):
    get_int, get_fixed, get_bytes, get_str (Latin-1), get_char, get_bool, get_timestamp_ns take a
    tag and an optional default returned when the tag is absent.  Absent without default, or
    malformed, raises FieldError with .tag and .reason (1 missing, 6 format, 5 out of range /
    precision / off the increment).
    get_fixed(tag, decimals, step=1): a FIX decimal as an int64 count of step * 10**-decimals,
    e.g. "101.25" -> 10125 with decimals=2; "101.255" is an error with decimals=2 ("101.250" is
    not); "101.25" with decimals=2, step=5 -> 2025 ("101.26" is off the grid).  Never rounds;
    [-]digits[.digits], at least one digit; int64 overflow is an error.
    group(count_tag) -> list of FixEntry (needs a schema).  fields() -> [(tag, bytes)] in wire
    order including nested groups; tags(); len() = number of such fields.

Encoding: FixEncoder(begin_string=b"FIX.4.4", sender=None, target=None, header_fields=(),
                     max_message_size=65536)
    begin(msg_type) writes 35=<msg_type> and the session's precomputed header fragment
    (49=sender, 56=target, header_fields); add_* append fields; finish() fills in 8=, 9= and
    10= and returns the frame as bytes; finish_into(bytearray) appends it instead.  Values are
    checked: tag > 0, non-empty, no SOH (except add_data).  add_fixed(tag, count, decimals,
    step=1) writes count*step with exactly `decimals` decimals.  add_timestamp(tag, ts_ns,
    digits=3) writes a UTCTimestamp with 0, 3, 6 or 9 fraction digits.  encode_template(t, values)
    writes a whole message from a FixTemplate in one call (None values are left out).
"""
from enum import IntEnum
from typing import Any, Iterable, Sequence

REJECT_REASON: tuple[int, ...]
ERROR_TEXT: tuple[str, ...]
TYPE_CODES: dict[str, int]

class ParseError(IntEnum):
    OK: int
    GARBAGE: int
    BAD_BEGIN_STRING: int
    BAD_BODY_LENGTH: int
    BODY_LENGTH_MISMATCH: int
    TOO_LARGE: int
    BAD_CHECKSUM: int
    CHECKSUM_MISMATCH: int
    NO_MSGTYPE: int
    BAD_TAG: int
    EMPTY_VALUE: int
    DUPLICATE_TAG: int
    BAD_DATA_LENGTH: int
    BAD_GROUP_COUNT: int
    GROUP_ORDER: int
    UNKNOWN_TAG: int
    TAG_NOT_DEFINED: int
    REQUIRED_MISSING: int
    BAD_VALUE: int
    BAD_FORMAT: int
    OUT_OF_ORDER: int
    BAD_MSGTYPE: int
    N_PARSE_ERRORS: int

class Validate(IntEnum):
    V_REQUIRED: int
    V_UNKNOWN_TAGS: int
    V_TAGS_FOR_MSGTYPE: int
    V_ENUMS: int
    V_TYPES: int
    V_FIELD_ORDER: int
    V_GROUP_ORDER: int
    V_MSGTYPE: int
    V_ALLOW_USER_TAGS: int
    V_ALL: int

class FieldType(IntEnum):
    T_NONE: int
    T_STRING: int
    T_INT: int
    T_UINT: int
    T_DAYOFMONTH: int
    T_FLOAT: int
    T_CHAR: int
    T_BOOLEAN: int
    T_UTCTIMESTAMP: int
    T_UTCTIMEONLY: int
    T_DATE: int
    T_MONTHYEAR: int
    T_DATA: int
    T_MULTI: int

class FieldError(ValueError):
    tag: int
    reason: int
    text: str

class FixSchema:
    begin_string: bytes
    max_tag: int
    max_depth: int
    msg_types: dict[bytes, int]
    def __init__(self, begin_string: bytes, max_tag: int, types: bytes,
                 data_of_len: Iterable[tuple[int, int]], enums: dict[int, list[bytes]],
                 header_tags: Iterable[int], trailer_tags: Iterable[int],
                 containers: Sequence[tuple[list[int], list[int], list[int], list[tuple[int, int]], int]],
                 messages: dict[bytes, int], default_container: int) -> None: ...
    def field_type(self, tag: int) -> int: ...

class FieldView:
    def has(self, tag: int) -> bool: ...
    def __contains__(self, tag: int) -> bool: ...
    def get_int(self, tag: int, default: Any = ...) -> int: ...
    def get_fixed(self, tag: int, decimals: int, step: int = 1, default: Any = ...) -> int: ...
    def get_bytes(self, tag: int, default: Any = ...) -> bytes: ...
    def get_str(self, tag: int, default: Any = ...) -> str: ...
    def get_char(self, tag: int, default: Any = ...) -> str: ...
    def get_bool(self, tag: int, default: Any = ...) -> bool: ...
    def get_timestamp_ns(self, tag: int, default: Any = ...) -> int: ...
    def group(self, count_tag: int) -> list[FixEntry]: ...
    def fields(self) -> list[tuple[int, bytes]]: ...
    def tags(self) -> list[int]: ...
    def __len__(self) -> int: ...

class FixEntry(FieldView): ...

class FixMessage(FieldView):
    error: int
    error_tag: int
    @property
    def ok(self) -> bool: ...
    @property
    def garbled(self) -> bool: ...
    @property
    def reject_reason(self) -> int: ...
    @property
    def error_text(self) -> str: ...
    @property
    def msg_type(self) -> bytes: ...
    @property
    def raw(self) -> bytes: ...

class FixParser:
    schema: FixSchema | None
    validate: int
    max_message_size: int
    begin_string: bytes | None
    garbage_bytes: int
    need: int
    def __init__(self, schema: FixSchema | None = None, *, validate: int = 0,
                 max_message_size: int = 65536, begin_string: bytes | None = None) -> None: ...
    def parse(self, buf: bytes | bytearray | memoryview, start: int = 0,
              end: int | None = None) -> tuple[list[FixMessage], int]: ...
    def feed(self, chunk: bytes | bytearray | memoryview) -> list[FixMessage]: ...
    @property
    def pending(self) -> int: ...

class FixTemplate:
    """A message layout compiled once: msg_type and (tag, kind[, decimals]) per field, kind one
    of "int", "fixed" (decimals), "bytes", "str", "char", "bool", "timestamp" (digits)."""
    msg_type: bytes
    def __init__(self, msg_type: bytes, fields: Sequence[tuple]) -> None: ...
    def __len__(self) -> int: ...

class FixEncoder:
    begin_string: bytes
    max_message_size: int
    def __init__(self, begin_string: bytes = b"FIX.4.4", sender: bytes | str | None = None,
                 target: bytes | str | None = None,
                 header_fields: Iterable[tuple[int, bytes | str]] = (),
                 max_message_size: int = 65536) -> None: ...
    def begin(self, msg_type: bytes) -> None: ...
    def add_int(self, tag: int, value: int) -> None: ...
    def add_fixed(self, tag: int, count: int, decimals: int, step: int = 1) -> None: ...
    def add_bytes(self, tag: int, value: bytes | bytearray | memoryview) -> None: ...
    def add_str(self, tag: int, value: str) -> None: ...
    def add_char(self, tag: int, value: str) -> None: ...
    def add_bool(self, tag: int, value: bool) -> None: ...
    def add_timestamp(self, tag: int, ts_ns: int, digits: int = 3) -> None: ...
    def add_data(self, length_tag: int, data_tag: int, value: bytes) -> None: ...
    def finish(self) -> bytes: ...
    def finish_into(self, out: bytearray) -> int: ...
    def encode(self, msg_type: bytes, fields: Iterable[tuple[int, int | bool | bytes | str]]) -> bytes: ...
    def encode_template(self, template: FixTemplate, values: tuple) -> bytes: ...
