"""OrderBook.resting_orders() / restore_resting(): export in priority order, rebuild, same future.

The export is checked against the pure-Python reference book's own levels (run on the same
commands), the rebuilt book against the original: same rows, same depth, validate() passes, and
the rest of the command stream gives identical events on both.  restore_resting refuses (and
leaves the book as it was) anything the book could not have built.
"""
import random

import numpy as np
import pytest

from ordex.core.refbook import ReferenceBook
from ordex.ext.book import (COMMAND_DTYPE, FLAG_POST_ONLY, RESTING_DTYPE, Op, OrderBook, Side,
                            TimeInForce)
from ordex.perf.book_workloads import exchange_core_mix, insert_heavy

INSTRUMENTS = {0: (1, 1), 1: (5, 10), 2: (1, 3)}   # instrument: (tick, lot)


def make(cls=OrderBook, max_orders=4096):
    book = cls(max_orders=max_orders, max_instruments=4)
    for instrument, (tick, lot) in INSTRUMENTS.items():
        book.add_instrument(instrument, tick=tick, lot=lot)
    return book


def iceberg_stream(n, seed):
    """Limits (many icebergs, post-only, every STP mode, IOC/FOK), markets, cancels, reduces and
    replaces on three instruments, prices tight enough to trade and replenish."""
    rng = random.Random(seed)
    rows = np.zeros(n, dtype=COMMAND_DTYPE)
    next_id = 1
    for i in range(n):
        r = rng.random()
        inst = rng.randrange(3)
        tick, lot = INSTRUMENTS[inst]
        side = rng.choice((Side.BUY, Side.SELL))
        price = (100 + rng.randint(-6, 3) * (1 if side == Side.BUY else -1)) * tick
        qty = rng.randint(1, 30) * lot
        if r < 0.55:
            display = rng.randint(1, 5) * lot if rng.random() < 0.4 else 0
            rows[i] = (next_id, price, qty, display, rng.randint(0, 6), inst, Op.LIMIT, side,
                       rng.choice((0, 0, 0, 1, 2)), rng.randrange(5),
                       FLAG_POST_ONLY if rng.random() < 0.1 else 0, 0, 0, 0, 0)
            next_id += 1
        elif r < 0.62:
            rows[i] = (next_id, 0, qty, 0, rng.randint(0, 6), inst, Op.MARKET, side, 1,
                       rng.randrange(5), 0, 0, 0, 0, 0)
            next_id += 1
        else:
            target = rng.randint(max(1, next_id - 40), max(1, next_id - 1))
            op = rng.choice((Op.CANCEL, Op.REDUCE, Op.REPLACE, Op.REPLACE))
            rows[i] = (target, price, rng.randint(1, 20) * lot, 0, 0, 0, op, 0, 0, 0, 0, 0, 0,
                       0, 0)
    return rows


def reference_export(ref: ReferenceBook) -> list[tuple]:
    """The reference book's resting orders in priority order, as RESTING_DTYPE tuples."""
    out = []
    for inst in sorted(ref._instruments):
        levels = ref._instruments[inst].levels
        for side in (Side.BUY, Side.SELL):
            for price in sorted(levels[side], reverse=(side == Side.BUY)):
                for o in levels[side][price]:
                    out.append((o.id, o.price, o.shown, o.hidden, o.display, o.owner, inst,
                                side, o.stp, FLAG_POST_ONLY if o.post_only else 0, 0))
    return out


def workloads():
    w = exchange_core_mix(3000, seed=3, resting=400)
    ins = insert_heavy(2000, seed=4)
    return {"icebergs-stp": iceberg_stream(3000, 1),
            "exchange-core": np.concatenate([w.setup, w.main]),
            "insert-heavy": ins.main}


def depth(book):
    return [(book.depth(i, s, 1 << 20)) for i in INSTRUMENTS for s in (Side.BUY, Side.SELL)]


@pytest.mark.parametrize("name", ["icebergs-stp", "exchange-core", "insert-heavy"])
def test_export_is_priority_order_and_a_rebuild_behaves_the_same(name):
    rows = workloads()[name]
    book, ref = make(), make(ReferenceBook)
    hiddens = 0
    for cut in range(0, len(rows), len(rows) // 6):
        exported = book.resting_orders()
        assert exported.dtype == RESTING_DTYPE
        assert exported.tolist() == reference_export(ref)
        hiddens += int((exported["hidden"] > 0).sum())
        rebuilt = make()
        assert rebuilt.restore_resting_array(exported) == len(exported)
        rebuilt.validate()
        assert rebuilt.event_count == 0, "restoring must not emit events"
        assert rebuilt.resting_orders().tolist() == exported.tolist()
        assert depth(rebuilt) == depth(book)
        rest = rows[cut:].copy()
        original = make()
        original.restore_resting_array(exported)
        original.execute(rest.copy())
        rebuilt.execute(rest)
        assert rebuilt.take_events() == original.take_events()
        rebuilt.validate()
        step = rows[cut:cut + len(rows) // 6].copy()
        book.execute(step)
        ref.execute(step.copy())
        book.clear_events()
        ref.clear_events()
    if name == "icebergs-stp":
        assert hiddens, "no iceberg reserve was ever exported"


def test_rebuild_continues_like_the_book_it_was_exported_from():
    """The original book itself (not a second rebuild) against its rebuild, on a stream that
    trades through icebergs: the same events prove the same priorities and reserves."""
    rows = iceberg_stream(4000, 2)
    book = make()
    book.execute(rows[:2000].copy())
    book.clear_events()
    rebuilt = make()
    rebuilt.restore_resting_array(book.resting_orders())
    book.execute(rows[2000:].copy())
    rebuilt.execute(rows[2000:].copy())
    events = book.take_events()
    assert rebuilt.take_events() == events
    assert any(e[7] == 6 for e in events), "the stream should replenish icebergs"


@pytest.fixture
def populated():
    book = make()
    book.limit(0, 1, Side.BUY, 100, 10)
    book.limit(0, 2, Side.SELL, 105, 10)
    book.clear_events()
    return book


@pytest.mark.parametrize("kwargs,message", [
    (dict(instrument=3), "unknown instrument 3"),
    (dict(instrument=-1), "unknown instrument"),
    (dict(side=0), "neither BUY nor SELL"),
    (dict(side=257), "neither BUY nor SELL"),
    (dict(price=0), "not a positive multiple"),
    (dict(instrument=1, price=102, shown=10), "not a positive multiple of the tick 5"),
    (dict(shown=0), "impossible quantities"),
    (dict(hidden=-1), "impossible quantities"),
    (dict(shown=2**62, hidden=2**62), "impossible quantities"),
    (dict(instrument=1, price=100, shown=15), "off the lot 10"),
    (dict(shown=5, hidden=5), "do not fit display"),
    (dict(shown=6, hidden=5, display=5), "do not fit display"),
    (dict(stp=5), "stp 5"),
    (dict(flags=2), "flags 2"),
    (dict(order_id=1), "duplicate order id"),
    (dict(price=105), "would cross the best opposite price 105"),
    (dict(side=Side.SELL, price=100), "would cross the best opposite price 100"),
])
def test_restore_refuses_what_the_book_could_not_hold(populated, kwargs, message):
    args = dict(instrument=0, order_id=9, side=Side.BUY, price=101, shown=5, hidden=0,
                display=0, owner=0, stp=0, flags=0)
    args.update(kwargs)
    before = populated.resting_orders().tolist()
    with pytest.raises(ValueError, match=message):
        populated.restore_resting(**args)
    assert populated.resting_orders().tolist() == before
    populated.validate()


def test_restore_refuses_a_full_pool_and_bad_arrays():
    book = make(max_orders=2)
    book.restore_resting(0, 1, Side.BUY, 100, 5)
    book.restore_resting(0, 2, Side.BUY, 100, 5, hidden=10, display=5, owner=3, stp=1)
    with pytest.raises(ValueError, match="pool of 2 orders is full"):
        book.restore_resting(0, 3, Side.BUY, 99, 5)
    with pytest.raises(TypeError):
        book.restore_resting(0, 3, Side.BUY, 99.0, 5)
    with pytest.raises(TypeError, match="RESTING_DTYPE"):
        book.restore_resting_array(np.zeros(2, dtype=COMMAND_DTYPE))
    assert [tuple(r)[:6] for r in book.resting_orders()] == [(1, 100, 5, 0, 0, 0),
                                                              (2, 100, 5, 10, 5, 3)]


def test_a_bad_row_is_named_and_the_rows_before_it_stay():
    rows = np.zeros(3, dtype=RESTING_DTYPE)
    rows[0] = (1, 100, 5, 0, 0, 0, 0, Side.BUY, 0, 0, 0)
    rows[1] = (2, 99, 5, 0, 0, 0, 0, Side.BUY, 0, 0, 0)
    rows[2] = (3, 98, 5, 0, 0, 0, 0, 9, 0, 0, 0)
    book = make()
    with pytest.raises(ValueError, match="row 2: resting order 3"):
        book.restore_resting_array(rows)
    assert book.order_count == 2
    book.validate()


def test_level_order_within_a_price_is_the_restore_order():
    book = make()
    for oid in (5, 3, 9):
        book.restore_resting(0, oid, Side.SELL, 110, 4)
    book.market(0, 100, Side.BUY, 12)
    fills = [e[1] for e in book.take_events() if e[7] == 2]
    assert fills == [5, 3, 9]
