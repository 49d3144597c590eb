"""QUOTE: a market maker's requote of one side (ext/engine.pyi, QUOTE), on both engines.

qty is the side's new open quantity; a live previous side is changed in place (one REPLACED event,
same order id); a side that is no longer live (filled, cancelled) makes the quote a new LIMIT DAY
order; qty 0 is a CANCEL; a refused requote cancels the previous side, so no quote stays at its
old terms."""
from engine_helpers import AAA, ALICE, BBB, BOB, BUY, S0, S1, SELL, Ev  # noqa: F401
from ordex.core.commands import CommandKind, Flag, OrdType, Tif
from ordex.core.events import EventKind as K
from ordex.core.lifecycle import OrderState as St
from ordex.core.reasons import Reason as R


def quote(eng, side, qty, price, *, prev="", account=BOB, instrument=AAA, session=S0,
          clordid=None, **fields):
    return eng.send(CommandKind.QUOTE, session=session, account=account, instrument=instrument,
                    side=side, qty=qty, price=price, orig_clordid=prev,
                    clordid=clordid or eng.next_clordid(), **fields)


def kinds(events):
    return [K(e.kind).name for e in events]


def test_live_side_is_replaced_in_place(eng):
    (new,) = quote(eng, BUY, 10, 100, clordid="q1")
    assert (K(new.kind), new.ord_type, new.tif, new.leaves) == (K.NEW, OrdType.LIMIT, Tif.DAY, 10)
    (rep,) = quote(eng, BUY, 7, 101, prev="q1", clordid="q2")
    assert K(rep.kind) == K.REPLACED
    assert (rep.order_id, rep.price, rep.qty, rep.leaves, rep.cum_qty) == \
        (new.order_id, 101, 7, 7, 0)
    assert (rep.clordid, rep.orig_clordid) == (b"q2", b"q1")
    o = eng.engine.order(new.order_id)
    assert (o["price"], o["leaves"], o["clordid"]) == (101, 7, b"q2")
    assert eng.engine.state()[3][AAA][0] == ((101, 7, 1),)              # one bid, new terms
    # the next requote names the current clordid; both old and new resolve to the order
    (rep2,) = quote(eng, BUY, 3, 101, prev="q2", clordid="q3")
    assert (K(rep2.kind), rep2.order_id, rep2.leaves) == (K.REPLACED, new.order_id, 3)


def test_filled_out_side_becomes_a_new_order(eng):
    (new,) = quote(eng, SELL, 5, 100, clordid="a1")
    eng.buy(5, 100, account=ALICE)                                     # fills the ask
    assert eng.engine.order(new.order_id) is None
    events = quote(eng, SELL, 4, 102, prev="a1", clordid="a2")
    assert kinds(events) == ["NEW"]
    assert events[0].order_id > new.order_id and events[0].leaves == 4
    assert events[0].clordid == b"a2"


def test_cancelled_side_becomes_a_new_order(eng):
    (new,) = quote(eng, BUY, 5, 99, clordid="b1")
    eng.cancel(orig_clordid="b1")
    events = quote(eng, BUY, 6, 98, prev="b1", clordid="b2")
    assert kinds(events) == ["NEW"] and events[0].order_id != new.order_id
    assert eng.engine.state()[3][AAA][0] == ((98, 6, 1),)


def test_no_previous_side_is_a_new_order(eng):
    events = quote(eng, BUY, 5, 99)
    assert kinds(events) == ["NEW"]


def test_qty_zero_is_a_cancel(eng):
    (new,) = quote(eng, BUY, 5, 99, clordid="c1")
    (cxl,) = quote(eng, BUY, 0, 0, prev="c1", clordid="c2")
    assert (K(cxl.kind), cxl.order_id, R(cxl.reason)) == (K.CANCELLED, new.order_id, R.USER_CANCEL)
    assert (cxl.clordid, cxl.orig_clordid) == (b"c2", b"c1")            # as a CANCEL's
    assert eng.engine.order(new.order_id) is None
    (rej,) = quote(eng, BUY, 0, 0, prev="c1", clordid="c3")             # already gone
    assert (K(rej.kind), R(rej.reason)) == (K.CANCEL_REJECTED, R.ORDER_DONE)


def test_partially_filled_side_gets_the_new_open_quantity(eng):
    (new,) = quote(eng, SELL, 10, 100, clordid="p1")
    eng.buy(4, 100, account=ALICE)
    (rep,) = quote(eng, SELL, 10, 101, prev="p1", clordid="p2")
    assert K(rep.kind) == K.REPLACED
    assert (rep.order_id, rep.cum_qty, rep.leaves, rep.qty) == (new.order_id, 4, 10, 14)
    assert St(rep.state) == St.PARTIALLY_FILLED
    assert eng.engine.state()[3][AAA][1] == ((101, 10, 1),)


def test_crossing_requote_trades(eng):
    eng.sell(3, 101, account=ALICE)
    (new,) = quote(eng, BUY, 5, 100, clordid="x1")
    events = quote(eng, BUY, 5, 101, prev="x1", clordid="x2")
    assert kinds(events) == ["REPLACED", "TRADE", "TRADE"]
    assert events[1].order_id == new.order_id and events[1].last_qty == 3
    assert eng.engine.order(new.order_id)["leaves"] == 2
    assert eng.engine.state()[3][AAA][0] == ((101, 2, 1),)


def test_risk_reject_cancels_the_previous_side(make_engine):
    eng = make_engine(account_overrides={"bob": {"balances": {"USD": "20", "EUR": "0"}}})
    (new,) = quote(eng, BUY, 10, 100, clordid="r1")                    # holds 10.00 of 20.00
    # 15 at 1.00 needs 15.00: affordable once the previous side's hold is freed
    (rep,) = quote(eng, BUY, 15, 100, prev="r1", clordid="r2")
    assert K(rep.kind) == K.REPLACED
    events = quote(eng, BUY, 30, 100, prev="r2", clordid="r3")          # 30.00: too much
    assert kinds(events) == ["CANCELLED", "REJECTED"]
    cxl, rej = events
    assert (cxl.order_id, cxl.clordid, cxl.orig_clordid) == (new.order_id, b"r2", b"r3")
    assert R(rej.reason) == R.INSUFFICIENT_BUYING_POWER and rej.clordid == b"r3"
    assert rej.order_id > new.order_id
    assert eng.engine.order(new.order_id) is None
    assert eng.engine.state()[3][AAA] == ((), ())
    assert eng.engine.account(BOB)["cash"]["USD"] == (2000, 0)         # nothing held


def test_post_only_requote_that_would_cross_is_refused(eng):
    eng.sell(3, 101, account=ALICE)
    (new,) = quote(eng, BUY, 5, 100, clordid="o1", flags=Flag.POST_ONLY)
    events = quote(eng, BUY, 5, 101, prev="o1", clordid="o2", flags=Flag.POST_ONLY)
    assert kinds(events) == ["CANCELLED", "REJECTED"]
    assert R(events[1].reason) == R.POST_ONLY_WOULD_TAKE
    assert eng.engine.state()[3][AAA][0] == ()


def test_duplicate_clordid_changes_nothing(eng):
    (new,) = quote(eng, BUY, 5, 100, clordid="d1")
    before = eng.engine.state()
    (rej,) = quote(eng, BUY, 6, 101, prev="d1", clordid="d1")
    assert (K(rej.kind), R(rej.reason), rej.order_id) == (K.REJECTED, R.DUPLICATE_CLORDID, 0)
    after = eng.engine.state()
    assert after[2] == before[2] and after[3] == before[3]


def test_other_instrument_or_side_cancels_and_enters_new(eng):
    (new,) = quote(eng, BUY, 5, 100, clordid="s1")
    events = quote(eng, SELL, 5, 105, prev="s1", clordid="s2")
    assert kinds(events) == ["CANCELLED", "NEW"]
    assert events[0].order_id == new.order_id and events[1].order_id != new.order_id
    events = quote(eng, SELL, 5, 105, prev="s2", clordid="s3", instrument=BBB)
    assert kinds(events) == ["CANCELLED", "NEW"] and events[1].instrument == BBB


def test_time_priority_follows_the_replace_rules(eng):
    """Same price and a smaller open quantity keeps the side's place; anything else, an
    identical requote included, goes to the back of the level."""
    (first,) = quote(eng, BUY, 5, 100, clordid="t1")
    (other,) = eng.buy(5, 100, account=ALICE)
    quote(eng, BUY, 4, 100, prev="t1", clordid="t2")                   # reduce: keeps priority
    fills = [e for e in eng.sell(1, 100, account=ALICE) if K(e.kind) == K.TRADE]
    assert fills[1].order_id == first.order_id
    quote(eng, BUY, 3, 100, prev="t2", clordid="t3")                   # same terms: to the back
    fills = [e for e in eng.sell(1, 100, account=ALICE) if K(e.kind) == K.TRADE]
    assert fills[1].order_id == other.order_id


def test_kill_switch_and_halt_refuse_and_cancel(eng):
    (new,) = quote(eng, BUY, 5, 100, clordid="h1")
    eng.status(AAA, 1)
    events = quote(eng, BUY, 5, 101, prev="h1", clordid="h2")
    assert kinds(events) == ["CANCELLED", "REJECTED"]
    assert R(events[1].reason) == R.INSTRUMENT_HALTED


def test_throttle_counts_quotes(make_engine):
    eng = make_engine()
    quote(eng, BUY, 5, 100, session=S1, clordid="u1")
    quote(eng, BUY, 5, 101, session=S1, prev="u1", clordid="u2")
    events = quote(eng, BUY, 5, 102, session=S1, prev="u2", clordid="u3")   # 2 per second
    assert kinds(events) == ["CANCELLED", "REJECTED"] and R(events[1].reason) == R.THROTTLED
