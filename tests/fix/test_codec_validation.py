"""Dictionary validation against the standard FIX44.xml and FIX42.xml: one case per
SessionRejectReason, with RefTagID, and every message type of both dictionaries accepted when
built from its own definition."""
import pytest

from fixsamples import HEADER, TS, body, frame
from ordex.core import fixdict
from ordex.ext.fixcodec import REJECT_REASON, FixParser, ParseError as E

SAMPLE_VALUES = {
    "INT": b"1", "NUMINGROUP": b"1", "SEQNUM": b"1", "LENGTH": b"1", "DAYOFMONTH": b"5",
    "FLOAT": b"1.5", "PRICE": b"101.25", "QTY": b"100", "AMT": b"1000.5", "PRICEOFFSET": b"-0.5",
    "PERCENTAGE": b"0.25", "CHAR": b"x", "BOOLEAN": b"Y", "UTCTIMESTAMP": TS, "TIME": TS,
    "UTCTIMEONLY": b"12:00:00", "UTCDATEONLY": b"20240102", "UTCDATE": b"20240102",
    "LOCALMKTDATE": b"20240102", "DATE": b"20240102", "MONTHYEAR": b"202401", "DATA": b"d\x01t",
    "CURRENCY": b"USD", "EXCHANGE": b"XNYS", "COUNTRY": b"US",
}


def sample(d, tag):
    f = d.fields[tag]
    if f.enums:
        return min(f.enums)
    return SAMPLE_VALUES.get(f.type, b"x")


def required_pairs(d, members, groups, emitted=None):
    """The required fields of a definition in dictionary order; one entry per required group."""
    out = []
    lengths = {data: length for length, data in d.data_fields()}
    datas = {length: data for length, data in d.data_fields()}
    for i, m in enumerate(members):
        if not (m.required or i == 0 and emitted == "entry"):
            continue
        if m.tag in groups:
            g = groups[m.tag]
            out.append((m.tag, b"1"))
            out += required_pairs(d, g.members, g.groups, "entry")
        elif m.tag in lengths or m.tag in datas:
            data = datas.get(m.tag, m.tag)
            if (lengths[data], b"3") not in out:
                out += [(lengths[data], b"3"), (data, sample(d, data))]
        else:
            out.append((m.tag, sample(d, m.tag)))
    return out


def build(d, msg_type, drop=(), extra=()):
    msg = d.message(msg_type)
    header = [(t, v) for t, v in HEADER]
    pairs = header + required_pairs(d, msg.members, msg.groups) + list(extra)
    pairs = [p for p in pairs if p[0] not in drop]
    return frame(body((35, msg_type), *pairs), begin=d.begin_string)


def parse(d, raw, **validation):
    (m,), used = d.parser(fixdict.Validation(**validation)).parse(raw)
    assert used == len(raw) and not m.garbled, m
    return m


STRICT = dict(field_order=True, group_order=True, allow_user_tags=False)


@pytest.mark.parametrize("version", ["FIX.4.2", "FIX.4.4"])
def test_every_message_type_built_from_its_definition_is_accepted(version):
    d = fixdict.load(version)
    for msg_type in d.messages:
        m = parse(d, build(d, msg_type), **STRICT)
        assert m.ok, (msg_type, m, m.error_text, m.error_tag)


@pytest.mark.parametrize("version", ["FIX.4.2", "FIX.4.4"])
def test_each_missing_required_field_is_named(version):
    d = fixdict.load(version)
    checked = 0
    for msg_type, msg in d.messages.items():
        plain = [m.tag for m in msg.members if m.required and m.tag not in msg.groups
                 and d.fields[m.tag].type not in ("DATA", "LENGTH")]
        for tag in plain + [49, 52]:
            m = parse(d, build(d, msg_type, drop={tag}))
            assert (m.error, m.error_tag, m.reject_reason) == (E.REQUIRED_MISSING, tag, 1), msg_type
            checked += 1
    assert checked > 150


def nos(d, *extra, drop=()):
    pairs = [(11, b"C-1"), (21, b"1"), (55, b"AAPL"), (54, b"1"), (60, TS), (38, b"100"),
             (40, b"2"), (44, b"101.25")]
    pairs = HEADER + [p for p in pairs if p[0] not in drop] + list(extra)
    return frame(body((35, b"D"), *pairs), begin=d.begin_string)


@pytest.fixture(params=["FIX.4.2", "FIX.4.4"])
def d(request):
    return fixdict.load(request.param)


def expect(m, error, tag):
    assert (m.error, m.error_tag) == (error, tag), (m, m.error_text)
    assert m.reject_reason == REJECT_REASON[error]


def test_valid_new_order(d):
    assert parse(d, nos(d), **STRICT).ok


def test_0_unknown_tag(d):
    expect(parse(d, nos(d, (4000, b"x"))), E.UNKNOWN_TAG, 4000)
    assert parse(d, nos(d, (5001, b"x"))).ok
    expect(parse(d, nos(d, (5001, b"x")), allow_user_tags=False), E.UNKNOWN_TAG, 5001)
    assert parse(d, nos(d, (4000, b"x")), unknown_tags=False, tags_for_msg_type=False).ok


def test_1_required_missing(d):
    expect(parse(d, nos(d, drop={11})), E.REQUIRED_MISSING, 11)
    assert parse(d, nos(d, drop={11}), required_fields=False).ok


def test_2_tag_not_defined_for_message_type(d):
    expect(parse(d, nos(d, (270, b"1.5"))), E.TAG_NOT_DEFINED, 270)
    assert parse(d, nos(d, (270, b"1.5")), tags_for_msg_type=False).ok


def test_4_empty_value(d):
    expect(parse(d, nos(d, (58, b""))), E.EMPTY_VALUE, 58)


def test_5_value_not_in_enum(d):
    bad = frame(body((35, b"D"), *HEADER, (11, b"C"), (21, b"1"), (55, b"A"), (54, b"Z"), (60, TS),
                     (38, 1), (40, b"2")), begin=d.begin_string)
    expect(parse(d, bad), E.BAD_VALUE, 54)
    assert parse(d, bad, enum_values=False).ok


def test_5_multiple_value_string(d44):
    for value, ok in ((b"1", True), (b"1 2 E", True), (b"1 T", False), (b"1  2", False),
                      (b"1 ", False), (b" 1", False)):
        m = parse(d44, nos(d44, (18, value)))
        assert m.ok if ok else (m.error, m.error_tag) == (E.BAD_VALUE, 18), value


@pytest.mark.parametrize("tag, value", [(38, b"abc"), (38, b"1.2.3"), (60, b"2024"),
                                        (60, b"20241302-10:00:00"), (44, b"1e5"), (34, b"-1"),
                                        (54, b"11"), (43, b"X"), (43, b"YES")])
def test_6_incorrect_data_format(d, tag, value):
    if (tag, d.begin_string) == (34, b"FIX.4.2"):
        pytest.skip("FIX 4.2 types MsgSeqNum as INT, which may be negative")
    pairs = [(t, value if t == tag else v) for t, v in HEADER]
    if tag not in dict(HEADER):
        pairs.append((tag, value))
    base = [(11, b"C"), (21, b"1"), (55, b"A"), (54, b"1"), (60, TS), (38, b"1"), (40, b"2")]
    raw = frame(body((35, b"D"), *pairs, *[p for p in base if p[0] != tag]), begin=d.begin_string)
    expect(parse(d, raw), E.BAD_FORMAT, tag)
    assert parse(d, raw, value_types=False, enum_values=False).ok


def test_11_invalid_msg_type(d):
    raw = frame(body((35, b"ZZ"), *HEADER, (58, b"hi")), begin=d.begin_string)
    expect(parse(d, raw), E.BAD_MSGTYPE, 35)
    assert parse(d, raw, msg_type=False).ok


def test_13_duplicate_tag(d):
    expect(parse(d, nos(d, (55, b"MSFT"))), E.DUPLICATE_TAG, 55)
    expect(parse(d, nos(d, (20000, b"a"), (20000, b"b"))), E.DUPLICATE_TAG, 20000)
    expect(parse(d, nos(d, (34, b"8")), **{k: False for k in ("required_fields",)}),
           E.DUPLICATE_TAG, 34)


def test_14_out_of_order(d):
    raw = nos(d, (115, b"ONBEHALF"))
    assert parse(d, raw).ok
    expect(parse(d, raw, field_order=True), E.OUT_OF_ORDER, 115)
    raw = nos(d, (93, b"3"), (89, b"sig"), (58, b"late"))
    expect(parse(d, raw, field_order=True), E.OUT_OF_ORDER, 58)


def parties(*pairs):
    return nos(fixdict.load("FIX.4.4"), (453, str(sum(1 for t, _ in pairs if t == 448)).encode()), *pairs)


def test_15_group_entry_must_start_with_its_delimiter(d44):
    expect(parse(d44, parties((447, b"D"), (448, b"X"))), E.GROUP_ORDER, 447)
    expect(parse(d44, parties((448, b"X"), (447, b"D"), (447, b"D"))), E.GROUP_ORDER, 447)


def test_15_group_fields_in_dictionary_order(d44):
    raw = parties((448, b"X"), (452, b"1"), (447, b"D"))
    assert parse(d44, raw).ok
    expect(parse(d44, raw, group_order=True), E.GROUP_ORDER, 447)


def test_16_numingroup_count(d44):
    raw = nos(d44, (453, b"2"), (448, b"X"), (447, b"D"))
    expect(parse(d44, raw), E.BAD_GROUP_COUNT, 453)
    raw = nos(d44, (453, b"1"), (448, b"X"), (448, b"Y"))
    expect(parse(d44, raw), E.BAD_GROUP_COUNT, 453)
    raw = nos(d44, (453, b"1"), (448, b"X"), (802, b"2"), (523, b"a"), (58, b"t"))
    expect(parse(d44, raw), E.BAD_GROUP_COUNT, 802)
    expect(parse(d44, nos(d44, (453, b"x"), (448, b"X"))), E.BAD_FORMAT, 453)
    expect(parse(d44, nos(d44, (453, b"-1"), (448, b"X"))), E.BAD_FORMAT, 453)
    assert parse(d44, nos(d44, (453, b"0"))).ok


def test_group_entry_required_fields(d42):
    """FIX 4.2 W: each NoMDEntries entry requires MDEntryPx (270)."""
    pairs = HEADER + [(55, b"IBM"), (268, b"2"), (269, b"0"), (270, b"99.5"), (269, b"1")]
    m = parse(d42, frame(body((35, b"W"), *pairs), begin=b"FIX.4.2"))
    expect(m, E.REQUIRED_MISSING, 270)


def test_nested_groups_and_message_fields_after_them(d44):
    raw = nos(d44, (453, b"2"), (448, b"A"), (802, b"2"), (523, b"a1"), (803, b"1"), (523, b"a2"),
              (448, b"B"), (447, b"D"), (58, b"after the group"))
    m = parse(d44, raw, **STRICT)
    assert m.ok, m
    a, b = m.group(453)
    assert [s.get_bytes(523) for s in a.group(802)] == [b"a1", b"a2"]
    assert b.group(802) == [] and b.get_char(447) == "D"
    assert m.get_str(58) == "after the group"


def test_header_group_in_any_message(d44):
    raw = frame(body((35, b"0"), *HEADER, (627, b"2"), (628, b"HOP1"), (629, TS), (628, b"HOP2")))
    m = parse(d44, raw, **STRICT)
    assert m.ok, m
    assert [h.get_bytes(628) for h in m.group(627)] == [b"HOP1", b"HOP2"]


def test_validation_off_keeps_structure_only(d44):
    p = d44.parser(fixdict.Validation.off())
    raw = nos(d44, (270, b"x"), (4000, b"y"), drop={11, 54})
    (m,), _ = p.parse(raw)
    assert m.ok
    (m,), _ = p.parse(nos(d44, (55, b"again")))
    expect(m, E.DUPLICATE_TAG, 55)


def test_groups_need_a_schema():
    (m,), _ = FixParser().parse(nos(fixdict.load("FIX.4.4")))
    with pytest.raises(ValueError):
        m.group(453)


def test_dictionary_model(d44, d42):
    assert d44.begin_string == b"FIX.4.4" and d42.begin_string == b"FIX.4.2"
    assert d44.tag("MsgSeqNum") == 34 and d44.fields[54].enums[b"1"] == "BUY"
    nos44 = d44.message(b"D")
    assert nos44.name == "NewOrderSingle" and nos44.category == "app"
    assert {11, 54, 60, 40} <= set(nos44.required) and 55 not in nos44.required
    assert d44.message(b"W").groups[268].delimiter == 269
    assert (95, 96) in d44.data_fields() and (93, 89) in d42.data_fields()
    assert d44.schema() is d44.schema()


def test_dictionary_errors(tmp_path, monkeypatch):
    bad = tmp_path / "bad.xml"
    bad.write_text("<fix major='4' minor='4'><header/><trailer/><messages>"
                   "<message name='X' msgtype='X'><field name='Nope' required='Y'/></message>"
                   "</messages><fields/></fix>")
    with pytest.raises(fixdict.DictionaryError, match="Nope"):
        fixdict.FixDictionary(bad)
    with pytest.raises(fixdict.DictionaryError):
        fixdict.FixDictionary(tmp_path / "missing.xml")
    with pytest.raises(ValueError):
        fixdict.load("FIX.9.9")
    monkeypatch.setenv(fixdict.ENV_DIR, str(tmp_path))
    assert fixdict.dictionary_dir() == tmp_path
