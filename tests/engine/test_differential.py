"""Random command streams through the compiled engine and the reference engine must agree exactly.

After every command: the same event tuples, the same state(), the same unrealized P&L at the
default mark for every account and instrument, and check_invariants() passes on both.

Commands are drawn one at a time so that cancels, replaces, links and status requests mostly name
orders that exist; operators change risk limits (SET_LIMIT, some refused), disconnect sessions,
purge ClOrdIDs (PURGE_CLORDIDS, some refused) and name target sessions for kill switches and mass cancels (read from the reference engine, which is in the same state).  Every command
kind appears, with several sessions (one throttled, the admin session, an unknown one), accounts
(one that may short, one with a position limit and few instruments) and instruments (fees, a
collar, a coarse tick and lot, fractional quantities); roughly one command in ten carries
something invalid, one in sixty a notional far beyond int64.  Short streams come from Hypothesis
(derandomize=True, so they shrink and reproduce), long ones from fixed random.Random seeds; a
failure message lists the commands that led to it.
"""
import random

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from engine_helpers import ENGINES, Ev
from ordex.core.commands import COMMAND_DTYPE, CommandKind, Flag, OrdType, Scope, Tif
from ordex.core.events import EVENT_DTYPE
from ordex.core.refdata import from_dicts
from ordex.core.refengine import ReferenceEngine

INSTRUMENTS = [
    dict(symbol="AAA", currency="USD", price_increment="0.01", qty_increment="1", band_pct="10",
         ref_max_age_s="2"),
    dict(symbol="BBB", currency="EUR", price_increment="0.01", qty_increment="1",
         maker_fee_bps="10", taker_fee_bps="25", max_notional="5"),
    dict(symbol="CRS", currency="USD", price_increment="0.01", tick="0.05", qty_increment="1",
         lot="10", min_qty="20", max_qty="50", band_pct="20", maker_fee_bps="3", taker_fee_bps="7"),
    dict(symbol="FRAC", currency="USD", price_increment="0.01", qty_increment="0.000001",
         lot="0.25", min_qty="0.25"),
]
TICK = {0: 1, 1: 1, 2: 5, 3: 1}
LOT = {0: 1, 1: 1, 2: 10, 3: 250_000}
ACCOUNTS = [
    dict(name="alice", balances={"USD": "300", "EUR": "200"}, positions={"AAA": "40", "CRS": "100"}),
    dict(name="bob", balances={"USD": "500", "EUR": "500"}, may_short=True, max_position="12"),
    dict(name="carol", balances={"USD": "8"}, positions={"FRAC": "3"}, instruments=["AAA", "FRAC"]),
]
SESSIONS = [dict(name="s0", accounts=["alice", "bob"]),
            dict(name="s1", accounts=["bob", "carol"], max_orders_per_sec=2),
            dict(name="s2", accounts=["alice", "carol"])]
PERMITTED = {0: [0, 1], 1: [1, 2], 2: [0, 2]}
ADMIN, UNKNOWN_SESSION = -1, 7
MAX_ORDERS = 12                  # small, so that the order table fills now and then

# No "explain" phase: it re-runs failing examples many times, and the failure message already
# lists the commands.
SETTINGS = settings(derandomize=True, database=None, deadline=None, max_examples=120,
                    phases=[Phase.explicit, Phase.generate, Phase.shrink],
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def refdata():
    return from_dicts(INSTRUMENTS, ACCOUNTS, SESSIONS, {"USD": "0.01", "EUR": "0.01"})


class Stream:
    """Draws commands against the current state of the reference engine.

    `choose(options)` and `integer(low, high)` come from Hypothesis for short streams (so that
    failures shrink) or from a seeded random.Random for long ones (Hypothesis's buffer is small)."""

    def __init__(self, choose, integer, ref):
        self.pick, self.integer, self.ref = choose, integer, ref
        self.seq = 0
        self.ts = 1_000_000_000
        self.clordids = {}           # session -> clordids used so far
        self.n = 0

    def chance(self, one_in):
        return self.integer(0, one_in - 1) == 0

    def live(self):
        return self.ref.state()[2]   # (id, session, account, instrument, side, ord_type, ...)

    def clordid(self, session):
        used = self.clordids.setdefault(session, [])
        if used and self.chance(25):
            return self.pick(used)                          # a duplicate
        self.n += 1
        cid = f"k{self.n}"
        used.append(cid)
        return cid

    def price(self, instrument, side=1):
        """Buyers bid a little above where sellers ask, so books cross often; now and then a
        price far enough away to meet the collar."""
        tick = TICK[instrument]
        base = self.integer(98, 103) if side == 1 else self.integer(97, 102)
        if self.chance(20):
            base = self.pick([70, 130])
        return base * tick

    def qty(self, instrument):
        return self.integer(1, 6) * LOT[instrument]

    def target(self, row):
        """Fields naming an existing order: by id, by (session, clordid), or something else."""
        how = self.pick(["id", "id", "clordid", "stale", "junk"])
        if how == "id" and row is not None:
            return dict(order_id=row[0])
        if how == "clordid" and row is not None:
            return dict(orig_clordid=row[16].decode(), session=row[1])
        if how == "stale":
            used = [c for cs in self.clordids.values() for c in cs]
            return dict(orig_clordid=self.pick(used)) if used else dict(order_id=999)
        return dict(order_id=self.integer(-2, 60))

    def session_for(self, account=None):
        if self.chance(25):
            return self.pick([ADMIN, UNKNOWN_SESSION])
        sessions = [s for s, accts in PERMITTED.items() if account is None or account in accts]
        return self.pick(sessions or [0, 1, 2])

    def new_order(self):
        account = self.pick([0, 1, 2]) if not self.chance(40) else self.pick([-1, 5])
        session = self.session_for(account)
        instrument = self.pick([0, 0, 3] if account == 2 else [0, 0, 1, 2, 3])
        if self.chance(60):
            instrument = self.pick([9, 1])
        inst = instrument if instrument in TICK else 0
        side = self.pick([1, 2]) if not self.chance(60) else self.pick([0, 3])
        ord_type = self.pick([OrdType.LIMIT] * 6 + [OrdType.MARKET, OrdType.STOP, OrdType.STOP_LIMIT])
        tif = self.pick([Tif.GTC, Tif.GTC, Tif.DAY, Tif.IOC, Tif.FOK, Tif.GTD])
        f = dict(kind=CommandKind.NEW_ORDER, session=session, account=account,
                 instrument=instrument, side=side, ord_type=ord_type, tif=tif,
                 qty=self.qty(inst), clordid=self.clordid(session))
        if ord_type in (OrdType.LIMIT, OrdType.STOP_LIMIT):
            f["price"] = self.price(inst, side)
        if ord_type in (OrdType.STOP, OrdType.STOP_LIMIT):
            f["stop_price"] = self.price(inst, 3 - side)
        if tif == Tif.GTD:
            f["expire_ts_ns"] = self.ts + self.integer(1, 6) * 250_000_000
        if self.chance(6):
            f["display"] = LOT[inst] * self.integer(1, 3)
        if self.chance(5):
            f["flags"] = Flag.POST_ONLY
        if self.chance(5):
            f["stp"] = self.pick([1, 2, 3, 4, 4, 4])
        rows = self.live()
        if rows and self.chance(5):
            row = self.pick(list(rows))
            f["flags"] = f.get("flags", 0) | self.pick([Flag.OCO, Flag.OTO])
            f["link"] = row[0]
            if self.chance(2):                              # make the link valid more often
                f["account"] = row[2]
                f["session"] = self.session_for(row[2])
                f["clordid"] = self.clordid(f["session"])
                if f["flags"] & Flag.OTO:
                    f["ord_type"], f["stop_price"] = OrdType.LIMIT, 0
                    f["price"] = self.price(inst, side)
        if self.chance(12):                                 # one invalid field
            bad = self.pick(["price", "qty", "stop_price", "tif", "ord_type", "stp", "display",
                             "expire_ts_ns", "link"])
            f[bad] = {"price": self.pick([-1, 0, 3 if TICK[inst] > 1 else -5, 2 ** 40 * TICK[inst]]),
                      "qty": self.pick([0, -1, LOT[inst] + 1 if LOT[inst] > 1 else -3,
                                        10 ** 6 * LOT[inst], 2 ** 40 * LOT[inst]]),
                      "stop_price": self.pick([-1, 7]),
                      "tif": self.pick([2, 5, 9]),
                      "ord_type": self.pick([0, 5]),
                      "stp": 5,
                      "display": self.pick([-1, 10 ** 6 * LOT[inst]]),
                      "expire_ts_ns": self.ts,
                      "link": 12345}[bad]
            if bad == "link":
                f["flags"] = f.get("flags", 0) | Flag.OCO
        if self.chance(60):                                 # a notional far beyond int64
            f["qty"] = 2 ** 40 * LOT[inst]
            if f["ord_type"] in (OrdType.LIMIT, OrdType.STOP_LIMIT):
                f["price"] = 2 ** 40 * TICK[inst]
        return f

    def cancel_or_replace(self, kind):
        rows = self.live()
        row = self.pick(list(rows)) if rows and not self.chance(6) else None
        f = dict(kind=kind, session=row[1] if row is not None else self.session_for())
        if row is not None and self.chance(8):
            f["session"] = ADMIN
        f.update(self.target(row))
        f["clordid"] = self.clordid(f["session"])
        if kind == CommandKind.REPLACE:
            inst = row[3] if row is not None else 0
            side, ord_type, cum = (row[4], row[5], row[10]) if row is not None else (1, OrdType.LIMIT, 0)
            f["qty"] = cum + self.integer(-1, 6) * LOT[inst]
            if ord_type in (OrdType.LIMIT, OrdType.STOP_LIMIT):
                f["price"] = row[7] if row is not None and self.chance(2) else self.price(inst, side)
            if ord_type in (OrdType.STOP, OrdType.STOP_LIMIT):
                f["stop_price"] = self.price(inst, 3 - side)
            if self.chance(12):
                f["price"] = self.pick([0, -3, 1 + TICK[inst] * 50])
        return f

    def quote(self):
        """A QUOTE: mostly requoting a live order of its session (by clordid, sometimes by id) on
        the same account / instrument / side, so that most are changed in place; else a finished,
        unknown or absent previous side, another side or instrument, qty 0, bad fields."""
        rows = [r for r in self.live() if r[1] in PERMITTED]
        day = [r for r in rows if r[5] == OrdType.LIMIT and r[6] == Tif.DAY]   # quote sides
        row = self.pick(day if day and not self.chance(4) else rows) \
            if rows and not self.chance(5) else None
        if row is not None:
            session, account, inst, side = row[1], row[2], row[3], row[4]
            how = self.pick(["clordid"] * 5 + ["id", "stale", "none"])
            prev = ({"clordid": dict(orig_clordid=row[16].decode()), "id": dict(order_id=row[0]),
                     "none": {}}.get(how) or self.target(None))
        else:
            account = self.pick([0, 1, 2])
            session = self.session_for(account)
            inst = self.pick([0, 0, 3] if account == 2 else [0, 1, 2, 3])
            side = self.pick([1, 2])
            prev = self.target(None) if self.chance(2) else {}
        if self.chance(8):
            side = 3 - side
        if self.chance(10):
            inst = self.pick([0, 1, 2, 3, 9])
        qty = 0 if self.chance(8) else self.integer(1, 6) * LOT.get(inst, 1)
        f = dict(kind=CommandKind.QUOTE, session=session, account=account, instrument=inst,
                 side=side, price=self.price(inst if inst in TICK else 0, side), qty=qty,
                 clordid=self.clordid(session), **prev)
        if self.chance(6):
            f["flags"] = Flag.POST_ONLY
        if self.chance(8):
            f["stp"] = self.pick([1, 2, 4])
        if self.chance(12):
            bad = self.pick(["price", "qty", "account", "side"])
            f[bad] = {"price": self.pick([-1, 0, 3 if TICK.get(inst, 1) > 1 else -5]),
                      "qty": self.pick([-1, 10 ** 6 * LOT.get(inst, 1)]),
                      "account": self.pick([-1, 5]), "side": self.pick([0, 3])}[bad]
        return f

    def target_session(self, none=3):
        """target_session (session id + 1): mostly none (0), else a session, the admin or junk."""
        if self.integer(0, none) != 0:
            return 0
        return self.pick([1, 2, 3, 0, -5, 9, 2 ** 31 - 1, -(2 ** 31)])

    def set_limit(self):
        """A SET_LIMIT, mostly valid, from the admin session; values near the ones that bite."""
        limit = self.pick([1, 1, 2, 2, 3, 3, 4, 4, 5, 6, 6, 0, 9])
        inst = self.pick([0, 1, 2, 3, 3, 9, -1])
        lot = LOT.get(inst, 1)
        value = {1: self.pick([0, 0, 3, 12, 40]) * lot,
                 2: self.pick([0, 0, 2, 4, 6]) * lot + self.pick([0, 0, 1]),
                 3: self.pick([0, 0, 300, 2000, 50000]), 4: self.pick([0, 50, 500, 2000, 10001]),
                 5: self.pick([0, 10 ** 8, 2 * 10 ** 9, 10 ** 10, 10 ** 10]),
                 6: self.pick([0, 0, 1, 2, 5])}.get(limit, 5)
        if self.chance(15):
            value = self.pick([-1, 2 ** 62])
        return dict(kind=CommandKind.SET_LIMIT, session=self.pick([ADMIN] * 8 + [0, 7]),
                    status=limit, account=self.pick([0, 1, 2, 2, 5]), instrument=inst,
                    target_session=self.pick([1, 2, 3, 2, 0, 7]), qty=value, clordid=f"l{self.seq}")

    def command(self):
        kind = self.pick(["new"] * 16 + ["cancel"] * 3 + ["replace"] * 4 + ["quote"] * 5
                         + ["reference"] * 2
                         + ["status"] * 2 + ["mass", "kill", "timer", "request", "unknown",
                                             "limit", "disconnect", "purge"])
        if kind == "new":
            f = self.new_order()
        elif kind == "cancel":
            f = self.cancel_or_replace(CommandKind.CANCEL)
        elif kind == "replace":
            f = self.cancel_or_replace(CommandKind.REPLACE)
        elif kind == "quote":
            f = self.quote()
        elif kind == "mass":
            f = dict(kind=CommandKind.MASS_CANCEL, session=self.session_for(),
                     scope=self.pick([1, 2, 3, 4, 4, 0, 5]), account=self.pick([0, 1, 2, -1, 6]),
                     instrument=self.pick([-1, -1, 0, 1, 2, 3, 8]), clordid=f"m{self.seq}",
                     target_session=self.target_session())
        elif kind == "status":
            f = dict(kind=CommandKind.SET_STATUS, instrument=self.pick([0, 1, 2, 3, 9]),
                     status=self.pick([0] * 8 + [1, 2, 2, 3]))
        elif kind == "reference":
            inst = self.pick([0, 0, 2, 3, 9])
            f = dict(kind=CommandKind.REFERENCE_PRICE, instrument=inst,
                     price=self.price(inst if inst in TICK else 0) if not self.chance(10) else 0)
        elif kind == "kill":
            f = dict(kind=CommandKind.KILL_SWITCH, scope=self.pick([Scope.ACCOUNT, Scope.SESSION, 3]),
                     account=self.pick([0, 1, 2, 4]), session=self.pick([0, 1, 2, ADMIN, 5]),
                     flags=Flag.ON if self.chance(6) else 0, target_session=self.target_session())
        elif kind == "limit":
            f = self.set_limit()
        elif kind == "disconnect":
            f = dict(kind=CommandKind.DISCONNECT, session=self.pick([ADMIN] * 4 + [0, 5]),
                     target_session=self.target_session(none=1), clordid=f"d{self.seq}")
        elif kind == "purge":
            f = dict(kind=CommandKind.PURGE_CLORDIDS, session=self.pick([ADMIN] * 4 + [0, 5]),
                     clordid=f"p{self.seq}")
        elif kind == "timer":
            f = dict(kind=CommandKind.TIMER)
        elif kind == "request":
            rows = self.live()
            row = self.pick(list(rows)) if rows else None
            f = dict(kind=CommandKind.STATUS_REQUEST,
                     session=row[1] if row is not None and not self.chance(5) else self.session_for())
            f.update(self.target(row))
        else:
            f = dict(kind=self.pick([0, 10, 255]))
        self.seq += 1
        self.ts += self.pick([0, 0, 1, 50_000_000, 250_000_000, 400_000_000, 1_000_000_000])
        row = np.zeros(1, dtype=COMMAND_DTYPE)
        for k, v in dict(f, seq=self.seq, ts_ns=self.ts).items():
            row[k] = v.encode() if isinstance(v, str) else v
        return row


def describe(history):
    names = COMMAND_DTYPE.names
    lines = []
    for row in history:
        d = {n: row[n].item() for n in names if row[n].item() not in (0, b"")}
        lines.append(repr(d))
    return "\n".join(lines)


def first_difference(a, b, path="state"):
    """A short pointer to where two nested tuples differ."""
    if isinstance(a, tuple) and isinstance(b, tuple):
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return first_difference(x, y, f"{path}[{i}]")
        return f"{path}: lengths {len(a)} vs {len(b)}"
    return f"{path}: reference {a!r} vs compiled {b!r}"


def run_stream(choose, integer, steps, max_orders=MAX_ORDERS):
    rd = refdata()
    ref = ReferenceEngine(rd, max_orders=max_orders)
    cmp = ENGINES["compiled"]()(rd, max_orders=max_orders)
    stream = Stream(choose, integer, ref)
    history = []
    for _ in range(steps):
        row = stream.command()
        history.append(row[0].copy())
        n_ref, n_cmp = ref.apply(row), cmp.apply(row.copy())
        ev_ref, ev_cmp = ref.take_events(), cmp.take_events()
        if ev_ref != ev_cmp or n_ref != n_cmp:
            detail = [f"  reference {Ev(*e)}" for e in ev_ref] + [f"  compiled  {Ev(*e)}" for e in ev_cmp]
            raise AssertionError("events differ after:\n" + describe(history) + "\n" + "\n".join(detail))
        s_ref, s_cmp = ref.state(), cmp.state()
        if s_ref != s_cmp:
            raise AssertionError("state differs after:\n" + describe(history) + "\n"
                                 + first_difference(s_ref, s_cmp))
        marks = [(a, i) for a in range(len(ACCOUNTS)) for i in range(len(INSTRUMENTS))]
        pnl_ref = [ref.unrealized_pnl(a, i) for a, i in marks]
        pnl_cmp = [cmp.unrealized_pnl(a, i) for a, i in marks]
        if pnl_ref != pnl_cmp:
            raise AssertionError("unrealized P&L differs after:\n" + describe(history)
                                 + f"\n  reference {pnl_ref}\n  compiled  {pnl_cmp}")
        ref.check_invariants()
        cmp.check_invariants()
    assert ref.state_hash() == cmp.state_hash()
    assert ref.clordids() == cmp.clordids()          # state() holds only their number
    return history


@SETTINGS
@given(st.data())
def test_random_streams_agree(data):
    run_stream(lambda options: data.draw(st.sampled_from(options)),
               lambda low, high: data.draw(st.integers(low, high)), steps=60)


@pytest.mark.parametrize("first_seed", range(0, 60, 10))
def test_long_random_streams_agree(first_seed):
    """Long streams reach states short ones do not (full order tables, stop cascades on deep
    books, accounts run dry); seeded random.Random, since Hypothesis's buffer is too small.  Half
    of them have room for deep books."""
    for seed in range(first_seed, first_seed + 10):
        rnd = random.Random(seed)
        try:
            run_stream(rnd.choice, rnd.randint, steps=500, max_orders=MAX_ORDERS if seed % 2 else 400)
        except AssertionError as e:
            raise AssertionError(f"seed {seed}: {e}") from None


def test_events_array_matches_take_events():
    rd = refdata()
    for make in (ReferenceEngine, ENGINES["compiled"]()):
        e = make(rd, max_orders=MAX_ORDERS)
        rows = np.zeros(3, dtype=COMMAND_DTYPE)
        rows["seq"] = [1, 2, 3]
        rows["ts_ns"] = 10
        rows["kind"] = CommandKind.NEW_ORDER
        rows["session"], rows["account"], rows["instrument"] = 0, 1, 0
        rows["side"] = [2, 1, 1]
        rows["ord_type"], rows["tif"] = OrdType.LIMIT, Tif.GTC
        rows["price"], rows["qty"] = 100, 5
        rows["clordid"] = [b"a", b"b", b"a"]
        assert e.apply(rows) == len(e.events_array())
        arr = e.events_array()
        assert arr.dtype == EVENT_DTYPE
        assert [tuple(r) for r in arr.tolist()] == e.take_events()
        assert len(e.events_array()) == 0
