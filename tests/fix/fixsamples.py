"""Shared helpers for the FIX codec tests: simplefix as the independent codec, and
real-world-shaped messages (pairs after 8/9/35, in wire order)."""
from __future__ import annotations

import simplefix
import simplefix.parser

SOH = b"\x01"
TS = b"20240102-13:45:10.123"
TS_NS = 1704203110123000000
# Tags simplefix treats as Length/data pairs: random-tag messages avoid them, because a schema-less
# parser (rightly) does not know them.
SIMPLEFIX_RAW_TAGS = frozenset(simplefix.parser.RAW_LEN_TAGS) | frozenset(simplefix.parser.RAW_DATA_TAGS)
FRAME_TAGS = frozenset({8, 9, 10, 35})


def sf_encode(begin: bytes, msg_type: bytes, pairs) -> bytes:
    m = simplefix.FixMessage()
    m.append_pair(8, begin)
    m.append_pair(35, msg_type)
    for tag, value in pairs:
        m.append_pair(tag, value)
    return m.encode()


def sf_parse_all(data: bytes) -> list[list[tuple[int, bytes]]]:
    p = simplefix.FixParser()
    p.append_buffer(data)
    out = []
    while (m := p.get_message()) is not None:
        out.append([(int(t), bytes(v)) for t, v in m.pairs])
    return out


def checksum_ok(raw: bytes) -> bool:
    return raw[-7:-4] == b"10=" and sum(raw[:-7]) % 256 == int(raw[-4:-1])


def frame(body: bytes, begin: bytes = b"FIX.4.4", checksum: int | None = None,
          body_length: int | None = None) -> bytes:
    """A frame around body (which starts with 35= and ends with SOH), correct unless told."""
    head = b"8=" + begin + SOH + b"9=%d" % (len(body) if body_length is None else body_length) + SOH
    cs = sum(head + body) % 256 if checksum is None else checksum
    return head + body + b"10=%03d" % cs + SOH


def body(*pairs) -> bytes:
    return b"".join(b"%d=%s\x01" % (t, v if isinstance(v, bytes) else str(v).encode()) for t, v in pairs)


HEADER = [(49, b"CLIENT1"), (56, b"ORDEX"), (34, b"7"), (52, TS)]

NEW_ORDER_44 = HEADER + [
    (11, b"ORD-20240102-0001"), (1, b"ACC-42"),
    (453, b"2"), (448, b"BROKER1"), (447, b"D"), (452, b"1"),
    (448, b"TRADER7"), (447, b"D"), (452, b"11"), (802, b"1"), (523, b"desk-a"), (803, b"2"),
    (21, b"1"), (55, b"AAPL"), (54, b"1"), (60, TS), (38, b"100"), (40, b"2"), (44, b"101.25"),
    (59, b"0"),
]

EXEC_REPORT_44 = HEADER + [
    (37, b"O-1001"), (11, b"ORD-20240102-0001"), (17, b"E-5001"), (150, b"F"), (39, b"1"),
    (55, b"AAPL"), (54, b"1"), (38, b"100"), (44, b"101.25"), (32, b"40"), (31, b"101.25"),
    (151, b"60"), (14, b"40"), (6, b"101.25"), (60, TS),
]

MD_SNAPSHOT_44 = HEADER + [
    (262, b"MDREQ-1"), (55, b"AAPL"), (268, b"4"),
    (269, b"0"), (270, b"101.24"), (271, b"300"), (290, b"1"),
    (269, b"0"), (270, b"101.23"), (271, b"500"), (290, b"2"),
    (269, b"1"), (270, b"101.26"), (271, b"200"), (290, b"1"),
    (269, b"2"), (270, b"101.25"), (271, b"40"),
]

NEW_ORDER_42 = HEADER + [
    (11, b"ORD-1"), (21, b"1"), (55, b"IBM"), (54, b"2"), (60, TS), (38, b"250"), (40, b"2"),
    (44, b"99.5"), (59, b"0"),
]

MD_SNAPSHOT_42 = HEADER + [
    (55, b"IBM"), (268, b"2"),
    (269, b"0"), (270, b"99.49"), (271, b"1000"),
    (269, b"1"), (270, b"99.51"), (271, b"700"),
]
