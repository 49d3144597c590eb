"""Framing over a TCP stream: message boundaries, partial frames, arbitrary chunk splits,
resynchronisation past garbage, and the framing errors of the FIX session protocol."""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixsamples import (EXEC_REPORT_44, MD_SNAPSHOT_44, NEW_ORDER_44, SIMPLEFIX_RAW_TAGS, body,
                        frame, sf_encode)
from ordex.core import fixdict
from ordex.ext.fixcodec import REJECT_REASON, FixParser, ParseError as E


def parser44():
    """The samples have repeating groups, so stream tests parse with the FIX 4.4 schema."""
    return fixdict.load("FIX.4.4").parser()


GOOD = frame(body((35, b"0"), (49, b"A"), (56, b"B"), (34, 2), (52, b"20240102-13:45:10")))
SAMPLES = [sf_encode(b"FIX.4.4", b"D", NEW_ORDER_44), sf_encode(b"FIX.4.4", b"8", EXEC_REPORT_44),
           sf_encode(b"FIX.4.4", b"W", MD_SNAPSHOT_44), GOOD]
garbage = st.binary(min_size=1, max_size=30).filter(lambda g: b"8" not in g)


def feed_all(parser, chunks):
    out = []
    for c in chunks:
        out.extend(parser.feed(c))
    return out


def summary(msgs):
    return [(m.error, m.raw) for m in msgs if m.error != E.GARBAGE]


@st.composite
def streams(draw):
    parts = []
    for _ in range(draw(st.integers(1, 6))):
        if draw(st.booleans()) and draw(st.booleans()):
            parts.append(draw(garbage))
        parts.append(draw(st.sampled_from(SAMPLES)))
    data = b"".join(parts)
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=12)))
    chunks = [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]
    return data, chunks


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(streams())
def test_any_chunk_split_gives_the_same_messages(s):
    data, chunks = s
    whole = parser44().feed(data)
    pieces = parser44()
    split = feed_all(pieces, chunks)
    assert summary(split) == summary(whole)
    assert all(m.ok for m in split if m.error != E.GARBAGE)
    assert sum(len(m.raw) for m in split) == len(data) and pieces.pending == 0
    assert [m.fields() for m in split if m.ok] == [m.fields() for m in whole if m.ok]


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(streams(), st.sampled_from([bytes, bytearray, memoryview]))
def test_parse_with_caller_kept_buffer(s, kind):
    """parse() reports bytes consumed; the caller keeps the rest and appends the next chunk."""
    data, chunks = s
    parser, buf, out = parser44(), bytearray(), []
    for c in chunks:
        buf += c
        msgs, used = parser.parse(kind(buf))
        out.extend(msgs)
        del buf[:used]
    assert not buf
    assert summary(out) == summary(parser44().feed(data))


def test_every_split_of_one_message():
    raw = SAMPLES[0]
    for cut in range(len(raw)):
        p = parser44()
        first = p.feed(raw[:cut])
        assert first == [] and p.pending == cut
        (m,) = p.feed(raw[cut:])
        assert m.ok and m.raw == raw and p.pending == 0


def test_byte_by_byte():
    p = parser44()
    data = b"".join(SAMPLES)
    got = feed_all(p, [data[i:i + 1] for i in range(len(data))])
    assert [m.raw for m in got] == SAMPLES


def test_partial_frame_is_not_consumed():
    raw = SAMPLES[1]
    for cut in (1, 4, 5, 12, 14, len(raw) - 1):
        msgs, used = FixParser().parse(raw[:cut])
        assert (msgs, used) == ([], 0)


def test_start_and_end_select_a_window():
    data = b"xx" + GOOD + GOOD
    msgs, used = FixParser().parse(data, 2, 2 + len(GOOD) + 5)
    assert [m.raw for m in msgs] == [GOOD] and used == len(GOOD)


def test_messages_survive_later_parses():
    p = parser44()
    (first,) = p.feed(SAMPLES[1])
    expect = first.fields()
    for _ in range(3):
        p.feed(SAMPLES[0] + SAMPLES[2])
    assert first.fields() == expect


def test_messages_do_not_alias_a_mutable_input():
    buf = bytearray(GOOD)
    (m,), _ = FixParser().parse(buf)
    buf[:] = b"\x00" * len(buf)
    assert m.get_bytes(49) == b"A"


def test_garbage_is_reported_and_skipped():
    p = FixParser()
    msgs = p.feed(b"hello world" + GOOD)
    assert [m.error for m in msgs] == [E.GARBAGE, E.OK]
    assert msgs[0].raw == b"hello world" and p.garbage_bytes == 11
    assert msgs[0].garbled and msgs[0].reject_reason == -1


def test_trailing_start_prefix_waits_for_more():
    p = FixParser()
    msgs = p.feed(b"junk8=FI")
    assert [m.raw for m in msgs] == [b"junk"] and p.pending == 4
    assert [m.raw for m in p.feed(GOOD[4:])] == [GOOD]


def cases():
    b0 = body((35, b"0"), (49, b"A"), (56, b"B"), (34, 2))
    yield "body length short", frame(b0, body_length=len(b0) - 1), E.BODY_LENGTH_MISMATCH
    yield "body length long", frame(b0, body_length=len(b0) + 3), E.BODY_LENGTH_MISMATCH
    yield "checksum wrong", frame(b0, checksum=(sum(frame(b0)[:-7]) + 1) % 256), E.CHECKSUM_MISMATCH
    yield "checksum letters", frame(b0)[:-4] + b"1A3\x01", E.BAD_CHECKSUM
    yield "checksum two digits", frame(b0)[:-4] + b"12\x01", E.BAD_CHECKSUM
    yield "checksum four digits", frame(b0)[:-1] + b"0\x01", E.BAD_CHECKSUM
    yield "no BodyLength", b"8=FIX.4.4\x01" + b0 + b"10=000\x01", E.BAD_BODY_LENGTH
    yield "BodyLength letters", b"8=FIX.4.4\x019=1x\x01" + b0 + b"10=000\x01", E.BAD_BODY_LENGTH
    yield "BodyLength negative", b"8=FIX.4.4\x019=-5\x01" + b0 + b"10=000\x01", E.BAD_BODY_LENGTH
    yield "BodyLength empty", b"8=FIX.4.4\x019=\x01" + b0 + b"10=000\x01", E.BAD_BODY_LENGTH
    yield "BodyLength 10 digits", b"8=FIX.4.4\x019=0000000001\x01", E.BAD_BODY_LENGTH
    yield "BeginString junk", b"8=FIXY\x01" + frame(b0)[10:], E.BAD_BEGIN_STRING
    yield "BeginString endless", b"8=FIX.4.4444444444444444444\x019=5\x01", E.BAD_BEGIN_STRING
    yield "MsgType not third", frame(body((49, b"A"), (35, b"0"), (56, b"B"))), E.NO_MSGTYPE
    yield "MsgType empty", frame(b"35=\x0149=A\x01"), E.NO_MSGTYPE
    yield "MsgType bad tag", frame(b"3x=0\x0149=A\x01"), E.NO_MSGTYPE
    yield "empty body", frame(b""), E.NO_MSGTYPE
    yield "too large", frame(b0 + b"58=" + b"x" * 300 + b"\x01"), E.TOO_LARGE


@pytest.mark.parametrize("name, bad, error", list(cases()), ids=[c[0] for c in cases()])
def test_framing_errors_are_reported_then_the_stream_resumes(name, bad, error):
    p = FixParser(max_message_size=256)
    msgs = p.feed(bad + GOOD)
    assert msgs[0].error == error, msgs
    assert msgs[0].garbled and msgs[0].reject_reason == -1 and msgs[0].fields() == []
    assert msgs[-1].ok and msgs[-1].raw == GOOD
    assert all(m.error == E.GARBAGE for m in msgs[1:-1])
    assert sum(len(m.raw) for m in msgs) == len(bad) + len(GOOD)


def test_too_large_is_known_from_the_header_alone():
    p = FixParser(max_message_size=1024)
    (m,) = p.feed(b"8=FIX.4.4\x019=5000\x01")
    assert m.error == E.TOO_LARGE and p.pending == 0


def test_wrong_version_of_a_sound_frame_keeps_fields():
    raw = frame(body((35, b"0"), (49, b"A"), (56, b"B"), (34, 9)), begin=b"FIX.4.2")
    (m,), _ = FixParser(begin_string=b"FIX.4.4").parse(raw)
    assert m.error == E.BAD_BEGIN_STRING and m.get_int(34) == 9
    (m,), _ = FixParser().parse(raw)
    assert m.ok


def field_cases():
    yield b"abc=1\x01", E.BAD_TAG, 0
    yield b"035=1\x01", E.BAD_TAG, 35
    yield b"0=1\x01", E.BAD_TAG, 0
    yield b"1234567890=1\x01", E.BAD_TAG, 0
    yield b"55x=1\x01", E.BAD_TAG, 55
    yield b"55\x01", E.BAD_TAG, 55
    yield b"=5\x01", E.BAD_TAG, 0
    yield b"55=\x01", E.EMPTY_VALUE, 55
    yield b"55=A\x0155=B\x01", E.DUPLICATE_TAG, 55
    yield b"49=C\x01", E.DUPLICATE_TAG, 49
    yield b"10=000\x01", E.DUPLICATE_TAG, 10


@pytest.mark.parametrize("bad, error, tag", list(field_cases()))
def test_field_errors_name_the_tag_and_keep_the_other_fields(bad, error, tag):
    raw = frame(b"35=D\x0149=A\x01" + bad + b"56=B\x0134=12\x01")
    (m,), used = FixParser().parse(raw)
    assert used == len(raw)
    assert (m.error, m.error_tag) == (error, tag)
    assert not m.garbled and m.reject_reason == REJECT_REASON[error] >= 0
    assert m.get_int(34) == 12 and m.msg_type == b"D"


@pytest.mark.parametrize("bad, tag", [
    (b"95=5\x0196=abc\x01", 95),          # data shorter than its length
    (b"95=2\x0196=abc\x01", 95),          # longer
    (b"95=x\x0196=abc\x01", 95),          # length not a number
    (b"95=0\x0196=abc\x01", 95),
    (b"95=3\x0158=abc\x01", 95),          # not followed by its data field
    (b"95=3\x01", 95),                    # at the end of the body
])
def test_data_length_errors(d44, bad, tag):
    raw = frame(b"35=B\x0149=A\x0156=B\x0134=1\x0152=20240102-13:45:10\x01148=h\x01" + bad)
    (m,), _ = d44.parser().parse(raw)
    assert (m.error, m.error_tag, m.reject_reason) == (E.BAD_DATA_LENGTH, tag, 5)


def test_tags_outside_the_simplefix_raw_list_need_no_length():
    assert 58 not in SIMPLEFIX_RAW_TAGS
