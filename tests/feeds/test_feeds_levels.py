"""The compiled building blocks against obviously-correct Python: the level book, decimal and
timestamp parsing."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ordex.ext.itch_levels import EventBuffer, LevelBook, parse_decimal, parse_iso8601


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.sampled_from([1, -1]), st.integers(1, 40),
                          st.integers(-5, 50)), max_size=300))
def test_level_book_matches_a_dict(ops):
    book, ref = LevelBook(), {}
    for inst, side, price, qty in ops:
        old = book.set(inst, side, price, qty)
        assert old == ref.get((inst, side), {}).get(price, 0)
        lv = ref.setdefault((inst, side), {})
        if qty > 0:
            lv[price] = qty
        else:
            lv.pop(price, None)
        for (i, s), levels in ref.items():
            want = sorted(levels.items(), reverse=s > 0)
            assert [(p, q) for p, q, _ in book.depth(i, s)] == want
        top = book.top(inst)
        bids, asks = ref.get((inst, 1), {}), ref.get((inst, -1), {})
        assert top[0] == (max(bids) if bids else 0) and top[2] == (min(asks) if asks else 0)
        assert book.crossed(inst) == bool(bids and asks and max(bids) >= min(asks))


def test_level_book_add_counts_orders():
    b = LevelBook()
    assert b.add(0, 1, 100, 5) == 5 and b.add(0, 1, 100, 7) == 12
    assert b.depth(0, 1) == [(100, 12, 2)]
    assert b.add(0, 1, 100, -5, -1) == 7 and b.add(0, 1, 100, -7, -1) == 0
    assert b.depth(0, 1) == [] and b.instruments() == []
    with pytest.raises(ValueError):
        b.set(-1, 1, 1, 1)


@settings(max_examples=300, deadline=None)
@given(st.decimals(min_value=Decimal("-1e9"), max_value=Decimal("1e9"), places=6,
                   allow_nan=False, allow_infinity=False), st.integers(0, 9))
def test_parse_decimal_is_exact(value, scale):
    text = format(value, "f")
    exact = value.scaleb(scale)
    if exact == exact.to_integral_value():
        assert parse_decimal(text, scale) == int(exact)
    else:
        with pytest.raises(ValueError, match="more decimals"):
            parse_decimal(text, scale)


@pytest.mark.parametrize("text", ["", "-", ".", "1.2.3", "1e5", "0x10", " 1", "1,0", "--1",
                                  "99999999999999999999"])
def test_parse_decimal_rejects(text):
    with pytest.raises(ValueError):
        parse_decimal(text, 2)


def test_parse_decimal_refuses_floats():
    with pytest.raises(ValueError):
        parse_decimal(0.1, 2)
    assert parse_decimal(7, 3) == 7000 and parse_decimal(b"0.35130000", 4) == 3513


@settings(max_examples=200, deadline=None)
@given(st.datetimes(min_value=dt.datetime(1971, 1, 1), max_value=dt.datetime(2200, 1, 1)))
def test_parse_iso8601_matches_datetime(when):
    when = when.replace(tzinfo=dt.timezone.utc)
    delta = when - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    ns = (delta.days * 86400 + delta.seconds) * 10**9 + delta.microseconds * 1000
    assert parse_iso8601(when.isoformat().replace("+00:00", "Z")) == ns
    assert parse_iso8601(when.isoformat()) == ns


@pytest.mark.parametrize("text", ["2021-04-17", "2021-13-01T00:00:00Z", "2021-04-17T16:43:37",
                                  "2021-04-17T16:43:37+02:00", "x" * 30, "2021-04-17T1a:43:37Z"])
def test_parse_iso8601_rejects(text):
    with pytest.raises(ValueError):
        parse_iso8601(text)


def test_event_buffer_grows_only_on_reserve():
    b = EventBuffer(8)
    for i in range(8):
        assert b.append(instrument=0, kind=1, price=i)
    assert not b.append(instrument=0, kind=1)
    b.reserve(100)
    assert b.capacity >= 108 and b.append(instrument=0, kind=1)
    assert b.take()["price"].tolist()[:8] == list(range(8)) and len(b) == 0
