"""Operators' commands on both engines: SET_LIMIT (each limit changed, then enforced at its new
value), refusals that change nothing, DISCONNECT, and a target session apart from the actor for
session kill switches and mass cancels.

Standard data (engine_helpers.py): notional(p, q) = p * q cents; alice holds 100 AAA and may not
short, bob may; session S0 trades alice and bob unthrottled, S1 bob and carol at 2 orders/s; CRS
has lot 10.
"""
import numpy as np
import pytest

from engine_helpers import (AAA, ALICE, BOB, CRS, S0, S1, SELL, accepted, briefs, only, rejected,
                            unchanged)
from ordex.core.commands import (ADMIN_SESSION, COMMAND_DTYPE, CommandKind, Flag, Limit, Scope,
                                 command, target)
from ordex.core.events import EventKind as K
from ordex.core.reasons import Reason as R

SECOND = 1_000_000_000


def set_limit(eng, limit, value, *, session=ADMIN_SESSION, account=0, instrument=0,
              target_session=0, **kw):
    return eng.send(CommandKind.SET_LIMIT, session=session, status=limit, qty=value,
                    account=account, instrument=instrument, target_session=target_session,
                    clordid="adm:ops", **kw)


def applied(events, limit, value, previous):
    e = only(events, K.LIMIT_SET)
    assert (e.ord_type, e.qty, e.last_qty, e.reason, e.session) == \
        (limit, value, previous, 0, ADMIN_SESSION)
    assert e.clordid == b"adm:ops"
    return e


def refused(events, reason):
    e = only(events, K.ADMIN_REJECTED)
    assert e.reason == reason, (R(e.reason).name, R(reason).name)
    return e


def test_max_position_changed_then_enforced(eng):
    applied(set_limit(eng, Limit.MAX_POSITION, 50, account=BOB, instrument=AAA),
            Limit.MAX_POSITION, 50, 0)
    assert eng.engine.limits()[1][BOB][AAA] == 50
    assert eng.engine.limits()[1][BOB][CRS] == 0            # one (account, instrument) cell
    accepted(eng.buy(50, 100, account=BOB))
    rejected(eng.buy(1, 100, account=BOB), R.POSITION_LIMIT)
    accepted(eng.sell(50, 200, account=BOB))                 # short side: 0 - 0 - 50 = -50
    rejected(eng.sell(1, 200, account=BOB), R.POSITION_LIMIT)
    applied(set_limit(eng, Limit.MAX_POSITION, 0, account=BOB, instrument=AAA),
            Limit.MAX_POSITION, 0, 50)                        # 0: no limit any more
    accepted(eng.buy(500, 1, account=BOB))


def test_max_order_qty_changed_then_enforced(eng):
    applied(set_limit(eng, Limit.MAX_ORDER_QTY, 10, instrument=AAA), Limit.MAX_ORDER_QTY, 10, 0)
    rejected(eng.buy(11, 100), R.QTY_ABOVE_MAX)
    oid = accepted(eng.buy(10, 100))
    rejected_replace = eng.replace(oid, qty=11, price=100)
    assert briefs(rejected_replace)[0][0] == "CANCEL_REJECTED"
    assert rejected_replace[0].reason == R.QTY_ABOVE_MAX
    # CRS trades in lots of 10 (min_qty 10): the limit must be a lot multiple, at least min_qty
    before = eng.engine.state()
    refused(set_limit(eng, Limit.MAX_ORDER_QTY, 15, instrument=CRS), R.INVALID_LIMIT_VALUE)
    refused(set_limit(eng, Limit.MAX_ORDER_QTY, 5, instrument=CRS), R.INVALID_LIMIT_VALUE)
    unchanged(before, eng.engine.state())
    applied(set_limit(eng, Limit.MAX_ORDER_QTY, 20, instrument=CRS), Limit.MAX_ORDER_QTY, 20, 0)
    rejected(eng.buy(30, 100, instrument=CRS, account=BOB), R.QTY_ABOVE_MAX)
    accepted(eng.buy(20, 100, instrument=CRS, account=BOB))


def test_max_notional_changed_then_enforced(eng):
    applied(set_limit(eng, Limit.MAX_NOTIONAL, 1000, instrument=AAA), Limit.MAX_NOTIONAL, 1000, 0)
    rejected(eng.buy(10, 101), R.NOTIONAL_ABOVE_MAX)          # 1010 cents
    accepted(eng.buy(10, 100))                                # 1000
    rejected(eng.sell(10, 101), R.NOTIONAL_ABOVE_MAX)


def test_collar_changed_then_enforced(eng):
    eng.reference(AAA, 1000)
    accepted(eng.buy(1, 5000, account=BOB))                   # no collar by default
    applied(set_limit(eng, Limit.COLLAR_BPS, 1000, instrument=AAA), Limit.COLLAR_BPS, 1000, 0)
    rejected(eng.buy(1, 1101, account=BOB), R.PRICE_OUTSIDE_COLLAR)
    accepted(eng.buy(1, 1100, account=BOB))
    refused(set_limit(eng, Limit.COLLAR_BPS, 10001, instrument=AAA), R.INVALID_LIMIT_VALUE)
    assert eng.engine.limits()[0][AAA][2] == 1000


def test_reference_age_changed_then_enforced(eng):
    eng.reference(AAA, 1000, ts_ns=10 * SECOND)
    accepted(eng.buy(1, ts_ns=12 * SECOND))                   # 2 s old: default limit is 5 s
    # (nothing to buy: its remainder is cancelled, and no trade refreshes the reference)
    applied(set_limit(eng, Limit.REF_MAX_AGE, SECOND, instrument=AAA), Limit.REF_MAX_AGE,
            SECOND, 5 * SECOND)
    rejected(eng.buy(1), R.NO_FRESH_REFERENCE)


def test_throttle_changed_then_enforced(eng):
    ts = 10 * SECOND
    applied(set_limit(eng, Limit.THROTTLE, 2, target_session=target(S0), ts_ns=ts),
            Limit.THROTTLE, 2, 0)
    assert eng.engine.state()[7][S0] == (False, 2 * SECOND, ts)   # starts full
    accepted(eng.buy(1, 100))
    accepted(eng.buy(1, 100))
    rejected(eng.buy(1, 100), R.THROTTLED)
    applied(set_limit(eng, Limit.THROTTLE, 0, target_session=target(S0)), Limit.THROTTLE, 0, 2)
    assert eng.engine.state()[7][S0] == (False, 0, 0)             # unthrottled keeps zeros
    for _ in range(5):
        accepted(eng.buy(1, 100))
    # S1 (2/s, full): lowered to 1/s, the bucket is cut to its new capacity
    applied(set_limit(eng, Limit.THROTTLE, 1, target_session=target(S1)), Limit.THROTTLE, 1, 2)
    accepted(eng.buy(1, 100, session=S1, account=BOB))
    rejected(eng.buy(1, 100, session=S1, account=BOB), R.THROTTLED)
    accepted(eng.buy(1, 100, session=S1, account=BOB, ts_ns=ts + SECOND))


@pytest.mark.parametrize("fields, reason", [
    (dict(session=S0, limit=Limit.MAX_NOTIONAL, value=5), R.NOT_ADMIN),
    (dict(session=7, limit=Limit.MAX_NOTIONAL, value=5), R.NOT_ADMIN),
    (dict(limit=0, value=5), R.UNKNOWN_LIMIT),
    (dict(limit=9, value=5), R.UNKNOWN_LIMIT),
    (dict(limit=Limit.MAX_POSITION, value=5, account=3), R.UNKNOWN_ACCOUNT),
    (dict(limit=Limit.MAX_POSITION, value=5, account=-1), R.UNKNOWN_ACCOUNT),
    (dict(limit=Limit.MAX_POSITION, value=5, instrument=4), R.UNKNOWN_INSTRUMENT),
    (dict(limit=Limit.MAX_NOTIONAL, value=5, instrument=-1), R.UNKNOWN_INSTRUMENT),
    (dict(limit=Limit.THROTTLE, value=5, target_session=0), R.UNKNOWN_SESSION),
    (dict(limit=Limit.THROTTLE, value=5, target_session=target(2)), R.UNKNOWN_SESSION),
    (dict(limit=Limit.THROTTLE, value=5, target_session=target(ADMIN_SESSION)), R.UNKNOWN_SESSION),
    (dict(limit=Limit.MAX_NOTIONAL, value=-1), R.INVALID_LIMIT_VALUE),
    (dict(limit=Limit.THROTTLE, value=-3, target_session=target(S1)), R.INVALID_LIMIT_VALUE),
    (dict(limit=Limit.MAX_POSITION, value=-1, account=ALICE), R.INVALID_LIMIT_VALUE),
])
def test_refused_set_limit_changes_nothing(eng, fields, reason):
    fields = dict(fields)
    limit, value = fields.pop("limit"), fields.pop("value")
    before, limits = eng.engine.state(), eng.engine.limits()
    e = refused(set_limit(eng, limit, value, **fields), reason)
    assert (e.ord_type, e.qty, e.session) == (limit, value, fields.get("session", ADMIN_SESSION))
    assert e.other_order_id == fields.get("target_session", 0) - 1
    unchanged(before, eng.engine.state())
    assert eng.engine.limits() == limits


def test_disconnect_is_an_event_for_the_gateways_and_changes_nothing(eng):
    accepted(eng.buy(1, 100, session=S1, account=BOB))
    before = eng.engine.state()
    e = only(eng.send(CommandKind.DISCONNECT, session=ADMIN_SESSION, target_session=target(S1),
                      clordid="adm:ops"), K.DISCONNECT)
    assert (e.session, e.other_order_id, e.reason, e.clordid) == (S1, S1, R.DISCONNECT, b"adm:ops")
    unchanged(before, eng.engine.state())
    refused(eng.send(CommandKind.DISCONNECT, session=S0, target_session=target(S1)), R.NOT_ADMIN)
    refused(eng.send(CommandKind.DISCONNECT, session=ADMIN_SESSION, target_session=0),
            R.UNKNOWN_SESSION)
    refused(eng.send(CommandKind.DISCONNECT, session=ADMIN_SESSION, target_session=target(5)),
            R.UNKNOWN_SESSION)
    unchanged(before, eng.engine.state())


def test_admin_mass_cancel_names_its_target_and_reports_to_itself(eng):
    mine = accepted(eng.buy(1, 100, session=S0, account=BOB))
    theirs = accepted(eng.buy(1, 100, session=S1, account=BOB))
    events = eng.send(CommandKind.MASS_CANCEL, session=ADMIN_SESSION, scope=Scope.SESSION,
                      target_session=target(S1), instrument=-1, clordid="adm:ops")
    assert briefs(events)[0][:2] == ("CANCELLED", theirs)
    done = events[-1]
    assert (done.kind, done.qty, done.session) == (K.MASS_CANCEL_DONE, 1, ADMIN_SESSION)
    assert eng.engine.order(mine) is not None
    # a trading session's target_session is not read: its session mass cancel is its own
    other = accepted(eng.buy(1, 100, session=S1, account=BOB, ts_ns=3 * SECOND))
    events = eng.send(CommandKind.MASS_CANCEL, session=S0, scope=Scope.SESSION,
                      target_session=target(S1), instrument=-1)
    assert [e.order_id for e in events[:-1]] == [mine] and events[-1].session == S0
    assert eng.engine.order(other) is not None
    # an admin command without a target (as before the field) names no session: 0 cancelled
    events = eng.send(CommandKind.MASS_CANCEL, session=ADMIN_SESSION, scope=Scope.SESSION,
                      instrument=-1)
    assert [(e.kind, e.qty) for e in events] == [(K.MASS_CANCEL_DONE, 0)]
    assert eng.engine.order(other) is not None
    # an unknown target: nothing at all
    assert eng.send(CommandKind.MASS_CANCEL, session=ADMIN_SESSION, scope=Scope.SESSION,
                    target_session=target(6), instrument=-1) == []


def test_admin_session_kill_switch_names_its_target(eng):
    oid = accepted(eng.buy(1, 100, session=S1, account=BOB))
    events = eng.send(CommandKind.KILL_SWITCH, session=ADMIN_SESSION, scope=Scope.SESSION,
                      target_session=target(S1), flags=Flag.ON, clordid="adm:ops")
    assert briefs(events) == [("CANCELLED", oid, 4, 0, 0, 0, R.KILL_SWITCH_CANCEL)]
    assert eng.engine.state()[7][S1][0] is True and eng.engine.state()[7][S0][0] is False
    rejected(eng.buy(1, 100, session=S1, account=BOB, ts_ns=3 * SECOND), R.SESSION_KILL_SWITCH)
    # S0 cannot switch S1 off: its target_session is not read, the switch is its own
    eng.send(CommandKind.KILL_SWITCH, session=S0, scope=Scope.SESSION, target_session=target(S1))
    assert eng.engine.state()[7][S1][0] is True and eng.engine.state()[7][S0][0] is False
    eng.send(CommandKind.KILL_SWITCH, session=ADMIN_SESSION, scope=Scope.SESSION,
             target_session=target(S1))
    assert eng.engine.state()[7][S1][0] is False


def test_replaying_limit_changes_gives_the_same_events_and_state(engine_cls):
    from engine_helpers import refdata
    rows = [command(CommandKind.REFERENCE_PRICE, instrument=AAA, price=1000),
            command(CommandKind.SET_LIMIT, session=ADMIN_SESSION, status=Limit.COLLAR_BPS,
                    instrument=AAA, qty=200),
            command(CommandKind.NEW_ORDER, session=S0, account=BOB, instrument=AAA, side=SELL,
                    ord_type=2, tif=1, price=1030, qty=5, clordid="a"),
            command(CommandKind.NEW_ORDER, session=S0, account=BOB, instrument=AAA, side=SELL,
                    ord_type=2, tif=1, price=1010, qty=5, clordid="b"),
            command(CommandKind.SET_LIMIT, session=ADMIN_SESSION, status=Limit.THROTTLE,
                    target_session=target(S0), qty=1),
            command(CommandKind.NEW_ORDER, session=S0, account=ALICE, instrument=AAA, side=1,
                    ord_type=2, tif=1, price=1010, qty=5, clordid="c"),
            command(CommandKind.NEW_ORDER, session=S0, account=ALICE, instrument=AAA, side=1,
                    ord_type=2, tif=1, price=1010, qty=5, clordid="d"),
            command(CommandKind.SET_LIMIT, session=ADMIN_SESSION, status=Limit.MAX_POSITION,
                    account=BOB, instrument=AAA, qty=3),
            command(CommandKind.DISCONNECT, session=ADMIN_SESSION, target_session=target(S1))]
    stream = np.concatenate(rows)
    stream["seq"] = np.arange(1, len(stream) + 1)
    stream["ts_ns"] = SECOND
    assert stream.dtype == COMMAND_DTYPE
    runs = []
    for _ in range(2):
        e = engine_cls(refdata(), max_orders=64)
        for i in range(len(stream)):
            e.apply(stream[i:i + 1].copy())
        runs.append((e.take_events(), e.state_hash(), e.limits()))
    assert runs[0] == runs[1]
    kinds = [ev[18] for ev in runs[0][0]]
    assert kinds.count(K.LIMIT_SET) == 3 and K.TRADE in kinds and K.DISCONNECT in kinds
    reasons = [ev[17] for ev in runs[0][0] if ev[18] == K.REJECTED]
    assert reasons == [R.PRICE_OUTSIDE_COLLAR, R.THROTTLED]
