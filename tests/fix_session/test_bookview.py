"""The compiled durable book view behind FIX market data (ext/bookview) against a small,
obviously-correct pure-Python reference, on seeded random book event streams."""
import random
from collections import defaultdict

import numpy as np
import pytest

from ordex.ext.book import EVENT_DTYPE, EventKind as B
from ordex.ext.bookview import BookView


class ReferenceView:
    """Levels as dicts price -> [qty, count]; orders as [instrument, side, price, shown, hidden]."""

    def __init__(self, n):
        self.levels = [({}, {}) for _ in range(n)]
        self.orders = {}

    def _shown(self, inst, side, price, delta, count_delta=0):
        book = self.levels[inst][side - 1]
        lvl = book.setdefault(price, [0, 0])
        lvl[0] += delta
        lvl[1] += count_delta
        if lvl[1] == 0:
            del book[price]

    def apply(self, events):
        changed, trades = defaultdict(set), []
        for ev in events:
            kind, oid, qty = int(ev["kind"]), int(ev["order_id"]), int(ev["qty"])
            if kind == B.RESTED:
                inst, side, price = int(ev["instrument"]), int(ev["side"]), int(ev["price"])
                self.orders[oid] = [inst, side, price, qty, int(ev["leaves"]) - qty]
                self._shown(inst, side, price, qty, 1)
                changed[inst].add((side, price))
                continue
            if kind == B.FILL:
                trades.append((int(ev["instrument"]), int(ev["price"]), qty))
                oid = int(ev["other_id"])
            o = self.orders.get(oid)
            if o is None:
                continue
            if kind == B.FILL:
                o[3] -= qty
                done = int(ev["other_leaves"]) == 0
                if done:
                    del self.orders[oid]
                self._shown(o[0], o[1], o[2], -qty, -1 if done else 0)
            elif kind in (B.CANCELLED, B.REPLACED):
                del self.orders[oid]
                self._shown(o[0], o[1], o[2], -o[3], -1)
            elif kind == B.REDUCED:
                hidden = min(qty, o[4])
                o[4] -= hidden
                o[3] -= qty - hidden
                self._shown(o[0], o[1], o[2], -(qty - hidden))
            elif kind == B.REPLENISHED:
                o[3], o[4] = qty, int(ev["leaves"]) - qty
                self._shown(o[0], o[1], o[2], qty)
            else:
                continue
            changed[o[0]].add((o[1], o[2]))
        return dict(changed), trades


def random_stream(rng, n, n_inst, lo=95, hi=105):
    ev = np.zeros(n, dtype=EVENT_DTYPE)
    live, next_id = [], 1
    for e in ev:
        r = rng.random()
        if r < 0.4 or not live:
            shown = rng.randint(1, 5)
            e["kind"], e["order_id"], e["instrument"] = B.RESTED, next_id, rng.randrange(n_inst)
            e["side"], e["price"] = rng.choice((1, 2)), rng.randint(lo, hi)
            e["qty"], e["leaves"] = shown, shown + rng.choice((0, 0, 3))
            live.append(next_id)
            next_id += 1
        else:
            oid = rng.choice(live + [10**9])                 # sometimes an unknown order
            kind = rng.choice((B.FILL, B.FILL, B.CANCELLED, B.REPLACED, B.REDUCED,
                               B.REPLENISHED, B.REJECTED))
            e["kind"], e["qty"], e["price"] = kind, rng.randint(1, 3), rng.randint(95, 105)
            e["instrument"] = rng.randrange(n_inst)
            if kind == B.FILL:
                e["other_id"], e["order_id"] = oid, next_id + 10**6
                e["other_leaves"] = rng.choice((0, 1, 2))
            else:
                e["order_id"], e["leaves"] = oid, rng.randint(3, 6)
            if kind in (B.CANCELLED, B.REPLACED) or (kind == B.FILL and e["other_leaves"] == 0):
                if oid in live:
                    live.remove(oid)
    return ev


@pytest.mark.parametrize("seed", range(20))
def test_compiled_view_matches_the_reference(seed):
    rng = random.Random(seed)
    n_inst = 3
    ref, view = ReferenceView(n_inst), BookView(n_inst)
    for _ in range(30):
        # odd seeds: thousands of price levels (the level maps grow)
        hi = 105 if seed % 2 == 0 else 5000
        batch = (random_stream(rng, rng.randint(1, 400), n_inst, hi=hi) if seed
                 else np.zeros(0, EVENT_DTYPE))
        collect = rng.random() < 0.7
        changed, trades = view.apply(batch, collect)
        want_changed, want_trades = ref.apply(batch)
        if collect:
            assert (changed, trades) == (want_changed, want_trades)
        else:
            assert (changed, trades) == ({}, [])
        for inst in range(n_inst):
            for side in (1, 2):
                book = ref.levels[inst][side - 1]
                want = sorted(((p, q, c) for p, (q, c) in book.items()), reverse=side == 1)
                assert view.depth(inst, side) == want
                assert view.depth(inst, side, 2) == want[:2]
                for price in range(94, 107):
                    lvl = book.get(price)
                    assert view.level(inst, side, price) == (tuple(lvl) if lvl else None)
        assert view.order_count == len(ref.orders)


def test_bad_input_is_refused():
    view = BookView(1)
    ev = np.zeros(1, dtype=EVENT_DTYPE)
    ev["kind"], ev["instrument"], ev["side"], ev["order_id"], ev["qty"] = B.RESTED, 5, 1, 1, 1
    with pytest.raises(ValueError, match="instrument 5"):
        view.apply(ev)
    with pytest.raises(TypeError):
        view.apply(np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError):
        view.level(0, 3, 100)
    assert view.order_count == 0
