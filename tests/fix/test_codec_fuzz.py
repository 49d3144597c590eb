"""Hostile input: random bytes and mutated valid messages never crash the parser, every byte is
accounted for exactly once, and whatever comes back is a message or an error, never both."""
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixsamples import EXEC_REPORT_44, MD_SNAPSHOT_44, NEW_ORDER_44, checksum_ok, sf_encode
from ordex.core import fixdict
from ordex.ext.fixcodec import REJECT_REASON, FieldError, FixParser, ParseError as E

SAMPLES = [sf_encode(b"FIX.4.4", b"D", NEW_ORDER_44), sf_encode(b"FIX.4.4", b"8", EXEC_REPORT_44),
           sf_encode(b"FIX.4.4", b"W", MD_SNAPSHOT_44)]
HEAD = b"8=FIX.4.4\x019="
FUZZ = settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))


def parsers():
    d = fixdict.load("FIX.4.4")
    return [FixParser(max_message_size=512), d.parser(max_message_size=512),
            d.parser(fixdict.Validation(field_order=True, group_order=True, allow_user_tags=False),
                     max_message_size=512),
            d.parser(fixdict.Validation.off(), max_message_size=512)]


def exercise(m):
    """Every accessor on every tag of the message and its groups: values or FieldError only."""
    assert 0 <= m.error < E.N_PARSE_ERRORS
    assert REJECT_REASON[m.error] == m.reject_reason
    if m.garbled:
        assert m.fields() == [] or m.error == E.BAD_BEGIN_STRING
        return
    raw = m.raw
    assert checksum_ok(raw) and raw.startswith(b"8=FIX") and m.msg_type
    views = [m]
    for tag in set(m.tags()) | {34, 44, 99999}:
        for v in list(views):
            for getter in (v.get_int, v.get_bytes, v.get_str, v.get_char, v.get_bool,
                           v.get_timestamp_ns):
                try:
                    getter(tag)
                except FieldError as e:
                    assert e.reason in (1, 5, 6)
            try:
                v.get_fixed(tag, 4, 5)
            except FieldError as e:
                assert e.reason in (1, 5, 6)
            if m.ok and len(views) < 50:
                try:
                    views.extend(v.group(tag))
                except ValueError:
                    pass
    for tag, value in m.fields():
        assert tag > 0 and value and value in raw


def run(parser, data):
    held = parser.pending
    out = parser.feed(data)
    for m in out:
        exercise(m)
    assert sum(len(m.raw) for m in out) + parser.pending == held + len(data)
    return out


@FUZZ
@given(st.binary(max_size=400), st.booleans())
def test_random_bytes(data, with_head):
    for p in parsers():
        run(p, (HEAD if with_head else b"") + data)


@st.composite
def mutated(draw):
    raw = bytearray(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "dup", "truncate", "set"]))
        i = draw(st.integers(0, len(raw) - 1))
        if op == "flip":
            raw[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            raw[i:i] = draw(st.sampled_from([b"\x01", b"=", b"0", b"-", b".", b"8=FIX.4.4\x01", b"\xff"]))
        elif op == "delete":
            del raw[i:i + draw(st.integers(1, 8))]
        elif op == "dup":
            j = draw(st.integers(i, min(len(raw), i + 30)))
            raw[j:j] = raw[i:j]
        elif op == "truncate":
            del raw[i:]
        else:
            raw[i] = draw(st.sampled_from(b"\x01=0123456789.-AZ"))
        if not raw:
            raw += b"8"
    return bytes(raw)


@FUZZ
@given(mutated())
def test_mutated_messages(data):
    """A mutated message, then good ones.  A broken BodyLength may hold the stream until that
    many bytes arrived (as in any FIX engine), but never beyond max_message_size: after that
    the good messages come through."""
    good = SAMPLES[1]
    assert 3 * len(good) > 512
    for p in parsers():
        out = run(p, data)
        later = run(p, good * 3)
        assert later[-1].ok and later[-1].raw == good


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(mutated(), st.lists(st.integers(0, 2000), max_size=8))
def test_mutated_messages_in_chunks(data, cuts):
    data = data + SAMPLES[1] * 3
    cuts = sorted(c for c in cuts if c <= len(data))
    chunks = [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]
    for p in parsers():
        out = []
        for c in chunks:
            out.extend(p.feed(c))
        for m in out:
            exercise(m)
        assert sum(len(m.raw) for m in out) + p.pending == len(data)
        assert out[-1].ok and out[-1].raw == SAMPLES[1]
