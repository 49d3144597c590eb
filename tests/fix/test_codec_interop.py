"""simplefix as the independent codec: what one writes, the other reads, field for field."""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixsamples import (EXEC_REPORT_44, FRAME_TAGS, MD_SNAPSHOT_42, MD_SNAPSHOT_44, NEW_ORDER_42,
                        NEW_ORDER_44, SIMPLEFIX_RAW_TAGS, checksum_ok, sf_encode, sf_parse_all)
from ordex.ext.fixcodec import FixEncoder, FixParser, ParseError

tags = st.integers(1, 99999).filter(lambda t: t not in FRAME_TAGS and t not in SIMPLEFIX_RAW_TAGS)
values = st.binary(min_size=1, max_size=40).filter(lambda v: b"\x01" not in v)
msg_types = st.sampled_from([b"0", b"D", b"8", b"W", b"AE", b"U1", b"ZZZ"])
begins = st.sampled_from([b"FIX.4.2", b"FIX.4.4", b"FIXT.1.1"])


@st.composite
def messages(draw):
    pairs = draw(st.lists(st.tuples(tags, values), max_size=30, unique_by=lambda p: p[0]))
    return draw(begins), draw(msg_types), pairs


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(messages())
def test_simplefix_encodes_we_parse(msg):
    begin, msg_type, pairs = msg
    raw = sf_encode(begin, msg_type, pairs)
    parsed, consumed = FixParser().parse(raw)
    assert consumed == len(raw)
    assert len(parsed) == 1 and parsed[0].ok, parsed
    m = parsed[0]
    assert m.fields() == sf_parse_all(raw)[0]
    assert m.msg_type == msg_type and m.raw == raw
    for tag, value in pairs:
        assert m.get_bytes(tag) == value


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(messages())
def test_we_encode_simplefix_parses_byte_identical(msg):
    begin, msg_type, pairs = msg
    raw = FixEncoder(begin).encode(msg_type, pairs)
    assert raw == sf_encode(begin, msg_type, pairs)
    assert checksum_ok(raw)
    (fields,) = sf_parse_all(raw)
    assert fields[2:-1] == [(35, msg_type)] + list(pairs)


@pytest.mark.parametrize("sample, msg_type", [
    (NEW_ORDER_44, b"D"), (EXEC_REPORT_44, b"8"), (MD_SNAPSHOT_44, b"W")])
def test_real_world_shapes_fix44_both_ways(d44, sample, msg_type):
    raw = sf_encode(b"FIX.4.4", msg_type, sample)
    ours = FixEncoder(b"FIX.4.4").encode(msg_type, sample)
    assert ours == raw
    (m,), _ = d44.parser().parse(raw)
    assert m.error == ParseError.OK, (m, m.error_text, m.error_tag)
    assert m.fields() == sf_parse_all(raw)[0]


def test_new_order_single_groups_and_typed_access(d44):
    raw = sf_encode(b"FIX.4.4", b"D", NEW_ORDER_44)
    (m,), _ = d44.parser().parse(raw)
    assert m.ok
    assert m.get_int(34) == 7
    assert m.get_fixed(44, 2) == 10125 and m.get_fixed(38, 0) == 100
    assert m.get_char(54) == "1" and m.get_str(55) == "AAPL"
    parties = m.group(453)
    assert [p.get_bytes(448) for p in parties] == [b"BROKER1", b"TRADER7"]
    assert [p.get_int(452) for p in parties] == [1, 11]
    assert parties[0].group(802) == []
    (sub,) = parties[1].group(802)
    assert sub.get_bytes(523) == b"desk-a" and sub.get_int(803) == 2
    # Group fields are not message-level fields, and the nested group is not the entry's field.
    assert 448 not in m and 523 not in parties[1]
    assert m.get_int(453) == 2


def test_market_data_snapshot_entries(d44):
    raw = FixEncoder(b"FIX.4.4").encode(b"W", MD_SNAPSHOT_44)
    (m,), _ = d44.parser().parse(raw)
    assert m.ok, m
    entries = m.group(268)
    assert [(e.get_char(269), e.get_fixed(270, 2), e.get_int(271), e.get_int(290, None))
            for e in entries] == [("0", 10124, 300, 1), ("0", 10123, 500, 2),
                                  ("1", 10126, 200, 1), ("2", 10125, 40, None)]
    assert 270 not in m


@pytest.mark.parametrize("sample, msg_type", [(NEW_ORDER_42, b"D"), (MD_SNAPSHOT_42, b"W")])
def test_real_world_shapes_fix42(d42, sample, msg_type):
    raw = sf_encode(b"FIX.4.2", msg_type, sample)
    (m,), _ = d42.parser().parse(raw)
    assert m.ok, (m, m.error_text, m.error_tag)
    assert m.fields() == sf_parse_all(raw)[0]
    if msg_type == b"W":
        assert [e.get_fixed(270, 2) for e in m.group(268)] == [9949, 9951]


def test_raw_data_field_with_soh_both_ways(d44):
    """News(B): LinesOfText entries carry EncodedTextLen/EncodedText, whose data may hold SOH."""
    data = b"bin\x01ary=\x01data"
    head = [(49, b"A"), (56, b"B"), (34, b"1"), (52, b"20240102-13:45:10"), (148, b"headline"),
            (33, b"2"), (58, b"line one")]
    raw = sf_encode(b"FIX.4.4", b"B", head + [(354, str(len(data)).encode()), (355, data),
                                              (58, b"line two")])
    enc = FixEncoder(b"FIX.4.4")
    enc.begin(b"B")
    for t, v in head:
        enc.add_bytes(t, v)
    enc.add_data(354, 355, data)
    enc.add_bytes(58, b"line two")
    assert enc.finish() == raw
    (m,), _ = d44.parser().parse(raw)
    assert m.ok, m
    lines = m.group(33)
    assert [e.get_bytes(58) for e in lines] == [b"line one", b"line two"]
    assert lines[0].get_bytes(355) == data and 355 not in lines[1]
    assert m.fields() == sf_parse_all(raw)[0]
