"""The encoder: precomputed session header, BodyLength/CheckSum filled in, bad values refused
with the encoder left usable, templates equal to field-by-field encoding."""
import pytest

from fixsamples import TS_NS, checksum_ok, sf_encode, sf_parse_all
from ordex.ext.fixcodec import FixEncoder, FixParser, FixTemplate


def test_session_header_fragment_and_trailer():
    enc = FixEncoder(b"FIX.4.2", sender=b"ORDEX", target="CLIENT1", header_fields=[(57, b"DESK")])
    enc.begin(b"0")
    enc.add_int(34, 5)
    raw = enc.finish()
    assert raw == sf_encode(b"FIX.4.2", b"0", [(49, b"ORDEX"), (56, b"CLIENT1"), (57, b"DESK"),
                                               (34, b"5")])
    assert checksum_ok(raw)


def test_buffer_is_reused_across_messages_of_any_size():
    enc = FixEncoder()
    for n in (1, 5000, 3, 20000, 2):
        enc.begin(b"B")
        enc.add_bytes(58, b"x" * n)
        raw = enc.finish()
        assert sf_parse_all(raw)[0][3] == (58, b"x" * n) and checksum_ok(raw)


def test_ints_at_the_int64_edges():
    enc = FixEncoder()
    raw = enc.encode(b"0", [(1, -2**63), (2, 2**63 - 1), (3, 0), (4, -1)])
    (m,), _ = FixParser().parse(raw)
    assert [m.get_int(t) for t in (1, 2, 3, 4)] == [-2**63, 2**63 - 1, 0, -1]
    with pytest.raises(OverflowError):
        enc.add_int(5, 2**63)


@pytest.mark.parametrize("call", [
    lambda e: e.add_int(0, 1),
    lambda e: e.add_int(-3, 1),
    lambda e: e.add_bytes(58, b""),
    lambda e: e.add_bytes(58, b"a\x01b"),
    lambda e: e.add_str(58, "a\x01"),
    lambda e: e.add_char(54, "12"),
    lambda e: e.add_fixed(44, 1, 19),
    lambda e: e.add_fixed(44, 1, 2, 0),
    lambda e: e.add_fixed(44, 2**62, 2, 4),
    lambda e: e.add_timestamp(52, -1),
    lambda e: e.add_timestamp(52, 0, 2),
    lambda e: e.add_data(95, 96, b""),
    lambda e: e.add_bytes(58, b"x" * 70000),
])
def test_bad_values_are_refused_and_the_encoder_stays_usable(call):
    enc = FixEncoder()
    enc.begin(b"D")
    enc.add_int(34, 1)
    with pytest.raises((ValueError, OverflowError)):
        call(enc)
    raw = enc.encode(b"0", [(34, 2)])
    assert sf_parse_all(raw)[0][2:4] == [(35, b"0"), (34, b"2")]


def test_misuse_is_an_error():
    enc = FixEncoder()
    with pytest.raises(ValueError):
        enc.add_int(34, 1)
    with pytest.raises(ValueError):
        enc.finish()
    with pytest.raises(ValueError):
        enc.begin(b"")
    with pytest.raises(ValueError):
        enc.begin(b"A\x01")
    enc.begin(b"D")
    enc.begin(b"0")            # a new begin abandons the unfinished message
    assert sf_parse_all(enc.finish())[0][2] == (35, b"0")
    with pytest.raises(ValueError):
        FixEncoder(b"FIX4.4")
    with pytest.raises(ValueError):
        FixEncoder(sender=b"A\x01B")
    with pytest.raises(ValueError):
        FixEncoder(max_message_size=10)


def test_finish_into_appends():
    enc = FixEncoder()
    out = bytearray(b"prev")
    enc.begin(b"0")
    n = enc.finish_into(out)
    enc.begin(b"1")
    enc.add_bytes(112, b"T")
    n2 = enc.finish_into(out)
    assert out[:4] == b"prev" and len(out) == 4 + n + n2
    assert [m.msg_type for m in FixParser().feed(bytes(out[4:]))] == [b"0", b"1"]


EXEC_TEMPLATE = FixTemplate(b"8", [
    (34, "int"), (52, "timestamp", 3), (37, "bytes"), (11, "str"), (17, "bytes"), (150, "char"),
    (39, "char"), (55, "bytes"), (54, "char"), (38, "fixed", 0), (44, "fixed", 2),
    (32, "fixed", 0), (31, "fixed", 2), (151, "fixed", 0), (14, "fixed", 0), (6, "fixed", 4),
    (60, "timestamp", 6), (43, "bool"),
])


def test_template_equals_field_by_field():
    values = (9, TS_NS, b"O-1", "C-1", b"E-1", "F", b"1", b"AAPL", "1", 100, 10125, 40, 10125, 60,
              40, 1012500, TS_NS, False)
    a = FixEncoder(sender=b"S", target=b"T")
    fast = a.encode_template(EXEC_TEMPLATE, values)
    b = FixEncoder(sender=b"S", target=b"T")
    b.begin(b"8")
    b.add_int(34, 9)
    b.add_timestamp(52, TS_NS, 3)
    for tag, v in ((37, b"O-1"), (11, b"C-1"), (17, b"E-1"), (150, b"F"), (39, b"1"), (55, b"AAPL"),
                   (54, b"1")):
        b.add_bytes(tag, v)
    for tag, v, d in ((38, 100, 0), (44, 10125, 2), (32, 40, 0), (31, 10125, 2), (151, 60, 0),
                      (14, 40, 0), (6, 1012500, 4)):
        b.add_fixed(tag, v, d)
    b.add_timestamp(60, TS_NS, 6)
    b.add_bool(43, False)
    assert fast == b.finish()
    (m,), _ = FixParser().parse(fast)
    assert m.get_fixed(6, 2) == 10125 and m.get_bool(43) is False


def test_template_none_leaves_a_field_out():
    values = (9, TS_NS, b"O-1", "C-1", b"E-1", "0", b"0", b"AAPL", "1", 100, 10125, None, None, 100,
              0, 0, TS_NS, None)
    (m,), _ = FixParser().parse(FixEncoder().encode_template(EXEC_TEMPLATE, values))
    assert 32 not in m and 31 not in m and 43 not in m and m.get_int(14) == 0


@pytest.mark.parametrize("values", [
    (1,) * 3,                                                    # wrong arity
    (9, TS_NS, b"O", "C", b"E", "FF", b"1", b"A", "1", 1, 1, 1, 1, 1, 1, 1, TS_NS, True),  # char
    (9, TS_NS, 5, "C", b"E", "F", b"1", b"A", "1", 1, 1, 1, 1, 1, 1, 1, TS_NS, True),      # bytes
    ("9", TS_NS, b"O", "C", b"E", "F", b"1", b"A", "1", 1, 1, 1, 1, 1, 1, 1, TS_NS, True),  # int
])
def test_template_bad_values(values):
    enc = FixEncoder()
    with pytest.raises((ValueError, TypeError)):
        enc.encode_template(EXEC_TEMPLATE, values)
    assert sf_parse_all(enc.encode(b"0", [(34, 1)]))[0][2] == (35, b"0")


@pytest.mark.parametrize("spec", [[(0, "int")], [(1, "float")], [(44, "fixed")], [(44, "fixed", 19)],
                                  [(52, "timestamp", 2)], [(1, "int", 3)], [("1", "int")]])
def test_template_bad_specs(spec):
    with pytest.raises(ValueError):
        FixTemplate(b"D", spec)
