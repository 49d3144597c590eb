"""ext/ouch_out.OuchReplies' guards (its bytes are checked against the struct encoders in
test_ouch_encoders.py): a schema layout the C writers cannot honour is refused at construction,
and arrays that do not line up are refused before anything is written; encode_one_user writes
what encode writes, and declines (None, nothing changed) whatever it does not handle."""
import collections

import numpy as np
import pytest

from ordex.core.events import EVENT_DTYPE, EventKind
from ordex.core.lifecycle import OrderState
from ordex.core.reasons import Reason
from ordex.ext.ouch_in import OrderTerms, QuoteSides
from ordex.ext.ouch_out import (ACCEPTED, CANCEL_REJECT, CANCELED, EXECUTED, REPLACED,
                                OuchReplies, first_session)
from ordex.gateway.binary import schema
from ordex.gateway.binary.ouch_codec import (CANCEL_LUT, ECHO_DTYPE, REJECT_LUT, TERMINAL,
                                             _Codecs)
from ordex.gateway.binary.wire import WireInstruments


class _Ref:
    instruments = []


def layouts(dialect="nasdaq"):
    codecs = _Codecs(dialect, WireInstruments(_Ref()))
    return {m: schema.framed_dtype("ouch", "server", lo.message.name, dialect)
            for m, lo in codecs.out.items()}


def make(lay):
    return OuchReplies(lay, np.array([100]), np.array([b"MSFT"], dtype="S8"), REJECT_LUT,
                       CANCEL_LUT, TERMINAL)


@pytest.mark.parametrize("dialect", schema.DIALECTS)
def test_every_dialect_is_accepted(dialect):
    make(layouts(dialect))


def test_a_field_of_another_width_is_refused():
    lay = layouts()
    acc = lay[ACCEPTED]
    lay[ACCEPTED] = np.dtype([(k, ">u8" if k == "Quantity" else acc.fields[k][0])
                              for k in acc.names])
    with pytest.raises(ValueError, match="Quantity"):
        make(lay)


def test_an_unknown_field_is_refused():
    lay = layouts()
    cxr = lay[CANCEL_REJECT]
    lay[CANCEL_REJECT] = np.dtype([(k, cxr.fields[k][0]) for k in cxr.names] + [("Extra", ">u4")])
    with pytest.raises(ValueError, match="Extra"):
        make(lay)


def test_arrays_that_do_not_line_up_are_refused():
    enc = make(layouts())
    ev = np.zeros(3, dtype=EVENT_DTYPE)
    echo = np.zeros(3, dtype=ECHO_DTYPE)
    msg = np.full(3, ACCEPTED, dtype=np.uint8)
    with pytest.raises(ValueError, match="one entry per event"):
        enc.encode(ev, msg[:2], np.zeros(3, np.int64), echo, np.zeros(3, np.int64))
    with pytest.raises(TypeError, match="EVENT_DTYPE"):
        enc.encode(np.zeros(3, np.int64), msg, np.zeros(3, np.int64), echo, np.zeros(3, np.int64))
    data, ends, count = enc.encode(ev, msg, np.arange(3), echo, np.zeros(3, np.int64))
    assert count == 3 and ends.tolist() == [len(data) // 3 * k for k in (1, 2, 3)]


def test_order_terms_behave_like_the_dict_they_replace():
    import copy
    import random

    from ordex.ext.ouch_in import OrderTerms
    rnd = random.Random(5)
    terms, model = OrderTerms(), {}
    for step in range(30_000):                  # beyond the first capacity: growth and rehash
        ref = rnd.randrange(1, 8000)
        op = rnd.random()
        if op < 0.5:
            value = (rnd.randrange(3), rnd.randrange(100), rnd.randrange(1, 9))
            terms[ref] = value
            model[ref] = value
        elif op < 0.8:
            assert terms.pop(ref, None) == model.pop(ref, None)
        else:
            assert terms.get(ref) == model.get(ref) and (ref in terms) == (ref in model)
    assert len(terms) == len(model) and dict(terms) == model and terms == model
    refs = np.array(sorted(model)[::2], dtype=np.int64)
    terms.pop_many(np.concatenate([refs, [-1, 10**9]]))
    for r in refs.tolist():
        del model[r]
    terms.put_many([1, 2], [0, 0], [5, 6], [7, 8])
    model.update({1: (0, 5, 7), 2: (0, 6, 8)})
    assert terms == model and copy.deepcopy(terms) == model
    with pytest.raises(KeyError):
        terms[10**9]


# -- encode_one_user: the gateway's one-call path ------------------------------------------------
DAY = 1_000_000_000_000


def one_order_events(session=7, seq=5):
    """An order accepted and partly filled, then a fill ending another order, for `session`."""
    ev = np.zeros(3, dtype=EVENT_DTYPE)
    ev["seq"], ev["ts_ns"], ev["session"], ev["instrument"] = seq, DAY + 123, session, 0
    ev["kind"] = [EventKind.NEW, EventKind.TRADE, EventKind.TRADE]
    ev["state"] = [OrderState.NEW, OrderState.PARTIALLY_FILLED, OrderState.FILLED]
    ev["clordid"] = [b"0000000042", b"0000000042", b"0000000041"]
    ev["side"], ev["qty"], ev["price"], ev["order_id"] = 1, 100, 99, [9, 9, 8]
    ev["last_qty"], ev["last_px"], ev["exec_id"], ev["liquidity"] = 10, 98, [0, 31, 31], [0, 2, 1]
    echo = np.zeros(1, dtype=ECHO_DTYPE)
    echo["src"], echo["clordid"], echo["display"] = b"O", b"CLIENT-42     ", b"Y"
    echo["capacity"], echo["ise"], echo["cross"] = b"P", b"N", b"N"
    return ev, echo


def terms_of(*refs):
    t = OrderTerms()
    for r in refs:
        t[r] = (0, 99, 100)
    return t


def test_encode_one_user_writes_what_encode_writes_and_drops_ended_orders():
    enc = make(layouts())
    ev, echo = one_order_events()
    terms = terms_of(41, 42)
    packets, count, last = enc.encode_one_user(ev, 7, echo, 5, DAY, 2 * DAY, terms, True)
    msg = np.array([ACCEPTED, EXECUTED, EXECUTED], dtype=np.uint8)
    want, _, want_count = enc.encode(ev, msg, np.array([42, 42, 41]), np.repeat(echo, 3),
                                     ev["ts_ns"] - DAY)
    assert (packets, count, last) == (want, want_count, 5)
    assert 42 in terms and 41 not in terms          # the FILLED order's terms are gone
    assert first_session(ev) == 7 and first_session(ev[:0]) == -1


@pytest.mark.parametrize("case", ["other session", "seq outside echo", "before the day",
                                  "trade when not allowed", "kind with no plain reply",
                                  "clordid not digits", "instrument out of range"])
def test_encode_one_user_declines_without_changing_anything(case):
    enc = make(layouts())
    ev, echo = one_order_events()
    session, first, lo, trades = 7, 5, DAY, True
    if case == "other session":
        ev["session"][2] = 8
    elif case == "seq outside echo":
        first = 6
    elif case == "before the day":
        lo = DAY + 1000
    elif case == "trade when not allowed":
        trades = False
    elif case == "kind with no plain reply":
        ev["kind"][2] = EventKind.CANCEL_REJECTED
    elif case == "clordid not digits":
        ev["clordid"][2] = b"mass-cancel-3"
    elif case == "instrument out of range":
        ev["instrument"][2] = 1
    terms = terms_of(41, 42)
    assert enc.encode_one_user(ev, session, echo, first, lo, lo + DAY, terms, trades) is None
    assert 41 in terms and 42 in terms


def test_encode_one_user_refuses_bad_arrays():
    enc = make(layouts())
    ev, echo = one_order_events()
    with pytest.raises(TypeError, match="EVENT_DTYPE"):
        enc.encode_one_user(np.zeros(3, np.int64), 7, echo, 5, DAY, 2 * DAY, OrderTerms(), True)
    with pytest.raises(TypeError, match="ECHO_DTYPE"):
        enc.encode_one_user(ev, 7, np.zeros(1, np.int64), 5, DAY, 2 * DAY, OrderTerms(), True)
    with pytest.raises(TypeError, match="one-dimensional"):
        enc.encode_one_user(ev.reshape(3, 1), 7, echo, 5, DAY, 2 * DAY, OrderTerms(), True)
    with pytest.raises(TypeError):
        enc.encode_one_user(ev, 7, echo, 5, DAY, 2 * DAY, None, True)


# -- encode_one_user with quote sides and Mass Quote Acks ----------------------------------------
def quote_events():
    """A Mass Quote's two rows (seq 5 and 6): the bid replaced (43 -> 45), the ask cancelled
    (44, a withdrawal); then an order's rows (seq 7)."""
    ev = np.zeros(3, dtype=EVENT_DTYPE)
    ev["seq"], ev["ts_ns"], ev["session"], ev["instrument"] = [5, 6, 7], DAY + 50, 7, 0
    ev["ts_ns"][1] = DAY + 60
    ev["kind"] = [EventKind.REPLACED, EventKind.CANCELLED, EventKind.NEW]
    ev["state"] = [OrderState.NEW, OrderState.CANCELLED, OrderState.NEW]
    ev["clordid"] = [b"0000000045Q", b"0000000044Q6", b"0000000046"]
    ev["orig_clordid"] = [b"0000000043Q", b"0000000044Q", b""]
    ev["side"], ev["qty"], ev["price"], ev["order_id"] = [1, 2, 1], 10, 99, [9, 8, 7]
    echo = np.zeros(3, dtype=ECHO_DTYPE)
    echo["src"] = [b"q", b"X", b"O"]
    echo["clordid"], echo["display"] = b" " * 14, b"Y"
    echo["capacity"], echo["ise"], echo["cross"] = b"A", b"N", b"N"
    return ev, echo


def quote_state():
    quotes = QuoteSides()
    quotes.set_side(0, 1, 45)
    quotes.set_side(0, 2, 44)
    acks = collections.deque([(6, 11, 2), (8, 12, 1)])   # the second is for a later batch
    return terms_of(43, 44, 45, 46), quotes, acks


def ack_packet(t, quote_id, status, reason, entries):
    return b"ACK" + repr((t, quote_id, status, reason, entries)).encode()


def test_encode_one_user_answers_a_mass_quote_and_places_its_ack():
    enc = make(layouts())
    ev, echo = quote_events()
    terms, quotes, acks = quote_state()
    packets, count, last = enc.encode_one_user(ev, 7, echo, 5, DAY, 2 * DAY, terms, True,
                                               quotes, acks, ack_packet)
    msg = np.array([REPLACED, CANCELED, ACCEPTED], dtype=np.uint8)
    want, ends, n = enc.encode(ev, msg, np.array([45, 44, 46]), echo, ev["ts_ns"] - DAY)
    cut = int(ends[1])          # the ack after the quote's last row (seq 6), with its time
    want = want[:cut] + ack_packet(60, 11, b"A", 0, 2) + want[cut:]
    assert (packets, count, last) == (want, n + 1, 7)
    assert list(acks) == [(8, 12, 1)]
    assert sorted(k for k, _ in terms.items()) == [45, 46]    # 43 replaced, 44 cancelled
    assert quotes.side(0, 1) == 45 and quotes.side(0, 2) is None and 44 not in quotes


@pytest.mark.parametrize("case", ["ack before the batch", "reduction refused below filled",
                                  "out of seq order", "no ack writer"])
def test_encode_one_user_declines_a_quote_batch_without_changing_anything(case):
    enc = make(layouts())
    ev, echo = quote_events()
    terms, quotes, acks = quote_state()
    writer = ack_packet
    if case == "ack before the batch":
        acks.appendleft((4, 10, 1))
    elif case == "reduction refused below filled":
        ev["kind"][1], ev["reason"][1] = EventKind.CANCEL_REJECTED, Reason.QTY_NOT_ABOVE_FILLED
        echo["src"][1] = b"x"
    elif case == "out of seq order":
        ev["seq"] = [6, 5, 7]
    elif case == "no ack writer":
        writer = None
    before = (sorted(terms.items()), quotes.side(0, 1), quotes.side(0, 2), list(acks))
    assert enc.encode_one_user(ev, 7, echo, 5, DAY, 2 * DAY, terms, True, quotes, acks,
                               writer) is None
    assert (sorted(terms.items()), quotes.side(0, 1), quotes.side(0, 2), list(acks)) == before
