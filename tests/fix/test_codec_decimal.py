"""FIX decimals and integers parsed straight to int64 (never through float, never rounded), and
written back by the encoder."""
import re
from datetime import datetime, timezone
from decimal import Context, Decimal, localcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fixsamples import body, frame
from ordex.ext.fixcodec import FieldError, FixEncoder, FixParser

I64_MIN, I64_MAX = -2**63, 2**63 - 1


def msg_with(value: bytes):
    (m,), _ = FixParser().parse(frame(body((35, b"0"), (44, value))))
    assert m.ok, m
    return m


def outcome(fn):
    try:
        return fn()
    except FieldError as e:
        return {"incorrect data format for value": "format",
                "more decimals than the instrument allows": "precision",
                "value not a multiple of the increment": "step",
                "value out of range": "range"}[e.text]


def reference_fixed(text: str, decimals: int, step: int):
    """What get_fixed must return, computed with exact decimal arithmetic."""
    if not re.fullmatch(r"-?([0-9]+\.?[0-9]*|\.[0-9]+)", text):
        return "format"
    with localcontext(Context(prec=200)):
        scaled = Decimal(text).scaleb(decimals)
        if scaled != scaled.to_integral_value():
            return "precision"
        v = int(scaled)
    if not I64_MIN <= v <= I64_MAX:
        return "range"
    if v % step:
        return "step"
    return v // step


@pytest.mark.parametrize("text, decimals, step, expect", [
    ("101.25", 2, 1, 10125),
    ("-101.25", 2, 1, -10125),
    ("0007.50", 2, 1, 750),
    ("101.250000", 2, 1, 10125),
    ("101.255", 2, 1, "precision"),
    ("101.25", 2, 5, 2025),
    ("101.26", 2, 5, "step"),
    ("-101.25", 2, 5, -2025),
    ("101", 2, 1, 10100),
    ("1.", 2, 1, 100),
    (".5", 2, 1, 50),
    ("-0.00", 2, 1, 0),
    ("0", 0, 1, 0),
    ("9223372036854775807", 0, 1, I64_MAX),
    ("9223372036854775808", 0, 1, "range"),
    ("-9223372036854775808", 0, 1, I64_MIN),
    ("-9223372036854775809", 0, 1, "range"),
    ("92233720368547758.07", 2, 1, I64_MAX),
    ("92233720368547758.08", 2, 1, "range"),
    ("-92233720368547758.08", 2, 1, I64_MIN),
    ("92233720368547758.07", 3, 1, "range"),
    ("99999999999999999999999999", 0, 1, "range"),
    ("0.000000000000000001", 18, 1, 1),
    ("9.223372036854775807", 18, 1, I64_MAX),
    ("9.223372036854775808", 18, 1, "range"),
    ("1.5", 0, 1, "precision"),
    ("1e5", 0, 1, "format"),
    ("+1", 0, 1, "format"),
    (" 1", 0, 1, "format"),
    ("1 ", 0, 1, "format"),
    ("-", 2, 1, "format"),
    (".", 2, 1, "format"),
    ("-.", 2, 1, "format"),
    ("1.2.3", 2, 1, "format"),
    ("1,5", 2, 1, "format"),
    ("--1", 2, 1, "format"),
    ("NaN", 2, 1, "format"),
    ("١٢", 0, 1, "format"),
])
def test_decimal_edges(text, decimals, step, expect):
    m = msg_with(text.encode())
    assert outcome(lambda: m.get_fixed(44, decimals, step)) == expect
    assert reference_fixed(text, decimals, step) == expect


@settings(max_examples=1000)
@given(st.text(alphabet="0123456789.-", max_size=25), st.integers(0, 18), st.integers(1, 1000))
def test_decimal_matches_exact_reference(text, decimals, step):
    if not text:
        return
    m = msg_with(text.encode())
    assert outcome(lambda: m.get_fixed(44, decimals, step)) == reference_fixed(text, decimals, step)


@settings(max_examples=500)
@given(st.integers(I64_MIN, I64_MAX), st.integers(0, 18), st.integers(1, 10**6))
def test_encoder_decimal_round_trip(count, decimals, step):
    enc = FixEncoder()
    enc.begin(b"0")
    if not I64_MIN <= count * step <= I64_MAX:
        with pytest.raises(OverflowError):
            enc.add_fixed(44, count, decimals, step)
        return
    enc.add_fixed(44, count, decimals, step)
    (m,), _ = FixParser().parse(enc.finish())
    text = m.get_bytes(44).decode()
    assert Decimal(text) == Decimal(count * step).scaleb(-decimals)
    assert len(text.partition(".")[2]) == decimals
    assert m.get_fixed(44, decimals, step) == count


@pytest.mark.parametrize("text, expect", [
    ("0", 0), ("-0", 0), ("007", 7), ("-42", -42), (str(I64_MAX), I64_MAX), (str(I64_MIN), I64_MIN),
    (str(I64_MAX + 1), "range"), (str(I64_MIN - 1), "range"), ("+5", "format"), ("5.0", "format"),
    ("-", "format"), ("1 2", "format"), ("0x10", "format"),
])
def test_int_edges(text, expect):
    m = msg_with(text.encode())
    assert outcome(lambda: m.get_int(44)) == expect


def test_missing_and_defaults():
    m = msg_with(b"1")
    with pytest.raises(FieldError) as e:
        m.get_int(38)
    assert (e.value.tag, e.value.reason) == (38, 1)
    assert m.get_int(38, None) is None and m.get_fixed(38, 2, default=-1) == -1
    assert m.get_bytes(38, b"") == b"" and m.get_str(38, "x") == "x"
    with pytest.raises(ValueError):
        m.get_fixed(44, 19)
    with pytest.raises(ValueError):
        m.get_fixed(44, 2, 0)


@settings(max_examples=300)
@given(st.integers(0, 2**63 - 1), st.sampled_from([0, 3, 6, 9]))
def test_timestamps_round_trip(ts_ns, digits):
    enc = FixEncoder()
    enc.begin(b"0")
    enc.add_timestamp(52, ts_ns, digits)
    (m,), _ = FixParser().parse(enc.finish())
    unit = 10 ** (9 - digits)
    assert m.get_timestamp_ns(52) == ts_ns // unit * unit
    dt = datetime.fromtimestamp(ts_ns // 10**9, timezone.utc)
    text = m.get_str(52)
    assert text[:17] == dt.strftime("%Y%m%d-%H:%M:%S")
    assert len(text) == 17 + (digits + 1 if digits else 0)


@pytest.mark.parametrize("text", ["20240230-25:00:00", "2024010-12:00:00", "20240102 12:00:00",
                                  "20240102-12:00:00.", "20240102-12:00:00.1234567890", "x"])
def test_bad_timestamps(text):
    m = msg_with(text.encode())
    assert outcome(lambda: m.get_timestamp_ns(44)) == "format"
