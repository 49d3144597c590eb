"""Random command sequences run on the reference and the compiled book must agree exactly.

After every command: the same result, the same events, both books pass validate(), and the same
observable state (depth, best prices, every order).  Commands are drawn one at a time, so that
cancels, reduces and replaces mostly name live orders (picked from the reference book); prices
and quantities come from narrow ranges so that orders cross often, and about one command in eight
carries one invalid field.  Seeded (derandomize=True) so a failure reproduces on every run.
"""
import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ordex.core.refbook import COMMAND_DTYPE, FLAG_POST_ONLY, Op, ReferenceBook

INSTRUMENTS = {0: (1, 1), 1: (5, 10), 2: (1, 3)}   # instrument: (tick, lot)
UNKNOWN_INSTRUMENT = 5
MAX_ID = 40
ORDER_KEYS = ("id", "instrument", "side", "price", "shown", "hidden", "leaves", "display",
              "owner", "stp")

SETTINGS = settings(derandomize=True, database=None, deadline=None, max_examples=200,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def make(cls, max_orders=1 << 12):
    book = cls(max_orders=max_orders, max_instruments=8)
    for instrument, (tick, lot) in INSTRUMENTS.items():
        book.add_instrument(instrument, tick=tick, lot=lot)
    return book


def compiled_book(max_orders=1 << 12):
    from ordex.ext.book import OrderBook
    return make(OrderBook, max_orders)


def reference_book(max_orders=1 << 12):
    return make(ReferenceBook, max_orders)


def _grid(draw, step, low, high):
    return draw(st.integers(low, high)) * step


def _price(draw, tick, side):
    """Buyers bid a little higher than sellers ask, so that books cross often."""
    return _grid(draw, tick, 19, 23) if side == 1 else _grid(draw, tick, 17, 21)


def _invalid(draw, step):
    """A value that fails the price or quantity checks: not positive, or off the grid."""
    off_grid = [step + 1] if step > 1 else []
    return draw(st.sampled_from([0, -step] + off_grid))


def draw_command(draw, ref):
    """One command; `ref` (the reference book, in the same state as the book under test) is used
    only to aim changes at live orders."""
    live = sorted(oid for oid in range(1, MAX_ID + 1) if ref.order(oid) is not None)
    kind = draw(st.sampled_from(["limit"] * 6 + ["market"] + ["cancel"] + ["reduce"] * 2
                                + ["replace"] * 3))
    fault = draw(st.integers(0, 7)) == 0
    if kind in ("cancel", "reduce", "replace"):
        if live and draw(st.integers(0, 9)):
            order_id = draw(st.sampled_from(live))
            tick, lot = INSTRUMENTS[ref.order(order_id)["instrument"]]
            leaves = ref.order(order_id)["leaves"] // lot
            side = ref.order(order_id)["side"]
        else:
            order_id = draw(st.integers(1, MAX_ID))
            tick, lot, leaves, side = 1, 1, 6, 1
        if kind == "cancel":
            return ("cancel", dict(order_id=order_id))
        new_qty = _grid(draw, lot, 1, max(leaves + 1, 2))
        if kind == "reduce":
            return ("reduce", dict(order_id=order_id,
                                   new_qty=_invalid(draw, lot) if fault else new_qty))
        new_price = _price(draw, tick, side)
        if fault:
            if draw(st.booleans()):
                new_price = _invalid(draw, tick)
            else:
                new_qty = _invalid(draw, lot)
        return ("replace", dict(order_id=order_id, new_price=new_price, new_qty=new_qty))

    instrument = draw(st.sampled_from(sorted(INSTRUMENTS)))
    tick, lot = INSTRUMENTS[instrument]
    side = draw(st.sampled_from([1, 2]))
    fields = dict(instrument=instrument, order_id=draw(st.integers(1, MAX_ID)), side=side,
                  qty=_grid(draw, lot, 1, 6), owner=draw(st.sampled_from([0, 1, 1, 2])),
                  stp=draw(st.sampled_from([0, 0, 1, 2, 3, 4])))
    if kind == "market":
        fields.update(protection=_price(draw, tick, side) if draw(st.booleans()) else 0,
                      tif=draw(st.sampled_from([0, 1, 1, 2])))
        price_field = "protection"
    else:
        fields.update(price=_price(draw, tick, side), tif=draw(st.sampled_from([0, 0, 0, 1, 2])),
                      post_only=draw(st.integers(0, 5)) == 0,
                      display=draw(st.sampled_from([0, 0, 0, lot, 2 * lot])))
        price_field = "price"
    if fault:
        bad = draw(st.sampled_from(["instrument", "side", "tif", "stp", "price", "qty"]
                                   + ["display"] * (kind == "limit")))
        if bad == "instrument":
            fields["instrument"] = draw(st.sampled_from([UNKNOWN_INSTRUMENT, -1]))
        elif bad == "side":
            fields["side"] = draw(st.sampled_from([0, 3, 255]))
        elif bad == "tif":
            fields["tif"] = draw(st.sampled_from([3, 255]))
        elif bad == "stp":
            fields["stp"] = draw(st.sampled_from([5, 255]))
        elif bad == "price":
            # A market order's protection of 0 means "none", which is valid.
            fields[price_field] = _invalid(draw, tick) or (-tick if kind == "market" else 0)
        elif bad == "qty":
            fields["qty"] = _invalid(draw, lot)
        else:
            fields["display"] = draw(st.sampled_from([-lot, lot + 1]))
    return (kind, fields)


@st.composite
def command_sequences(draw, max_orders=1 << 12):
    """20-80 commands, drawn against a reference book that follows along to know the live ids."""
    ref = reference_book(max_orders)
    cmds = []
    for _ in range(draw(st.integers(20, 80))):
        cmds.append(draw_command(draw, ref))
        apply(ref, cmds[-1])
    return cmds


def apply(book, command):
    name, kwargs = command
    return getattr(book, name)(**kwargs)


def state(book):
    return (
        book.order_count,
        [(book.best_bid(i), book.best_ask(i), book.depth(i, 1, 50), book.depth(i, 2, 50))
         for i in INSTRUMENTS],
        {oid: None if book.order(oid) is None else {k: book.order(oid)[k] for k in ORDER_KEYS}
         for oid in range(1, MAX_ID + 1)},
    )


def run_both(cmds, max_orders):
    ref, book = reference_book(max_orders), compiled_book(max_orders)
    for step, command in enumerate(cmds):
        where = f"step {step}, {command}"
        assert apply(book, command) == apply(ref, command), where
        assert book.take_events() == ref.take_events(), where
        ref.validate()
        book.validate()
        assert state(book) == state(ref), where


@SETTINGS
@given(command_sequences())
def test_random_sequences_agree(cmds):
    run_both(cmds, max_orders=1 << 12)


@settings(SETTINGS, max_examples=100)
@given(command_sequences(max_orders=4))
def test_random_sequences_agree_with_a_tiny_pool(cmds):
    run_both(cmds, max_orders=4)


def to_rows(cmds, junk=None):
    """The per-call commands as COMMAND_DTYPE rows.  Fields a call does not take are 0, or with
    `junk` (a random.Random) random values, which execute() must ignore just the same; flag bits
    other than post-only are junk too."""
    rows = np.zeros(len(cmds), dtype=COMMAND_DTYPE)
    if junk is not None:
        for name in ("instrument", "side", "price", "qty", "owner", "tif", "stp"):
            info = np.iinfo(rows.dtype[name])
            rows[name] = [junk.randint(info.min, info.max) for _ in cmds]
        rows["flags"] = [junk.randint(0, 255) for _ in cmds]
        rows["display"] = [junk.randint(-5, 5) for _ in cmds]
    for i, (name, kw) in enumerate(cmds):
        row = rows[i:i + 1]
        if junk is not None and name == "market":
            row["display"] = 0  # validated like a limit's (a new-order field), so not junk
        row["order_id"] = kw["order_id"]
        if name in ("limit", "market"):
            row["op"] = Op.LIMIT if name == "limit" else Op.MARKET
            row["instrument"], row["side"], row["qty"] = kw["instrument"], kw["side"], kw["qty"]
            row["tif"], row["owner"], row["stp"] = kw["tif"], kw["owner"], kw["stp"]
            if name == "limit":
                row["price"], row["display"] = kw["price"], kw["display"]
                other_bits = int(row["flags"][0]) & ~FLAG_POST_ONLY
                row["flags"] = other_bits | (FLAG_POST_ONLY if kw["post_only"] else 0)
            else:
                row["price"] = kw["protection"]
        elif name == "cancel":
            row["op"] = Op.CANCEL
        elif name == "reduce":
            row["op"], row["qty"] = Op.REDUCE, kw["new_qty"]
        else:
            row["op"], row["price"], row["qty"] = Op.REPLACE, kw["new_price"], kw["new_qty"]
    rows["result"] = -1
    return rows


def per_call(book, cmds):
    results = [apply(book, c) for c in cmds]
    return results, book.take_events()


def batch(book, cmds, junk=None):
    rows = to_rows(cmds, junk)
    appended = book.execute(rows)
    events = book.take_events()
    assert appended == len(events)
    return rows["result"].tolist(), events


@settings(SETTINGS, max_examples=100)
@given(command_sequences())
def test_batch_execute_matches_per_call(cmds):
    for new_book in (compiled_book, reference_book):
        expected = per_call(new_book(), cmds)
        for junk in (None, random.Random(len(cmds))):
            book = new_book()
            assert batch(book, cmds, junk) == expected, (new_book.__name__, junk is not None)
            book.validate()



def bulk_commands(seed, n):
    """Long sequences over wide price ranges and random 64-bit ids: many levels and many live
    orders, so ladders grow and shrink and the id index sees collisions and deletions."""
    rng = random.Random(seed)
    maybe_live = []      # ids sent as limits and not cancelled; some have traded away since
    cmds = []
    for _ in range(n):
        roll = rng.random()
        if maybe_live and roll < 0.35:
            oid = rng.choice(maybe_live)
            kind = rng.choice(["cancel", "reduce", "replace"])
            if kind == "cancel":
                cmds.append(("cancel", dict(order_id=oid)))
                maybe_live.remove(oid)
            elif kind == "reduce":
                cmds.append(("reduce", dict(order_id=oid, new_qty=rng.randint(1, 20))))
            else:
                cmds.append(("replace", dict(order_id=oid, new_price=rng.randint(900, 1100),
                                             new_qty=rng.randint(1, 40))))
            continue
        instrument = rng.choice([0, 2])
        lot = INSTRUMENTS[instrument][1]
        side = rng.choice([1, 2])
        lots = rng.choice([1, 2, 3, 5, 8, 13, 40])
        fields = dict(instrument=instrument, side=side, qty=lots * lot,
                      order_id=rng.randint(-(1 << 63), (1 << 63) - 1) if roll < 0.95
                      else rng.choice(maybe_live or [0]),
                      owner=rng.choice([0, 0, 1, 2]), stp=rng.choice([0, 0, 1, 2, 3, 4]))
        if rng.random() < 0.05:
            cmds.append(("market", dict(fields, protection=0, tif=rng.choice([0, 1, 2]))))
            continue
        # Sellers mostly sit above buyers, so that the book grows deep between crossings.
        spread = rng.randint(1, 80)
        price = 1000 + (spread if side == 2 else -spread)
        if rng.random() < 0.1:
            price = rng.randint(900, 1100)
        cmds.append(("limit", dict(fields, price=price, tif=rng.choice([0, 0, 0, 0, 1, 2]),
                                   post_only=rng.random() < 0.1,
                                   display=rng.choice([0, 0, 0, lots // 3 * lot]))))
        maybe_live.append(fields["order_id"])
    return cmds


def full_state(book, ids):
    return (
        book.order_count,
        [(book.depth(i, 1, 1 << 20), book.depth(i, 2, 1 << 20)) for i in INSTRUMENTS],
        {oid: None if book.order(oid) is None else {k: book.order(oid)[k] for k in ORDER_KEYS}
         for oid in ids},
    )


@pytest.mark.parametrize("seed,max_orders", [(0, 1 << 12), (1, 1 << 12), (2, 700), (3, 700)])
def test_long_random_sequences_agree(seed, max_orders):
    """With 700 slots the pool runs full: exhaustion, slot reuse and a densely loaded id index."""
    cmds = bulk_commands(seed, 4000)
    ref, book = reference_book(max_orders), compiled_book(max_orders)
    for step, command in enumerate(cmds):
        where = f"seed {seed} step {step}, {command}"
        assert apply(book, command) == apply(ref, command), where
        assert book.take_events() == ref.take_events(), where
        if step % 500 == 0:
            ref.validate()
            book.validate()
            assert book.order_count == ref.order_count, where
    ref.validate()
    book.validate()
    ids = {kw["order_id"] for _, kw in cmds}
    assert full_state(book, ids) == full_state(ref, ids)
    assert max(len(ref.depth(i, s, 1 << 20)) for i in INSTRUMENTS for s in (1, 2)) > 40
