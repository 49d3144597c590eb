"""ext/ouch_out.OuchReplies' guards (its bytes are checked against the struct encoders in
test_ouch_encoders.py): a schema layout the C writers cannot honour is refused at construction,
and arrays that do not line up are refused before anything is written."""
import numpy as np
import pytest

from ordex.core.events import EVENT_DTYPE
from ordex.ext.ouch_out import ACCEPTED, CANCEL_REJECT, OuchReplies
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
