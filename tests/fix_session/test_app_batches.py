"""The FIX application's compiled batch paths (ext/fixorders, ext/fixreports): order entry
messages -> engine command rows, runs of plain in-sequence messages, engine events ->
ExecutionReports; and, end to end, a pipelined burst answered exactly as the same messages sent
one at a time.  Messages are built and read with simplefix, an independent codec."""
import asyncio
import calendar
import dataclasses
import time

import numpy as np
import pytest
import simplefix

from fixclient import FixClient
from ordex.core.commands import COMMAND_DTYPE, CommandKind, Flag, OrdType, Scope, Tif
from ordex.core.events import EVENT_DTYPE, EventKind
from ordex.core.lifecycle import OrderState
from ordex.ext.fixcodec import FieldError, FixEncoder, FixParser
from ordex.ext.fixorders import ORDER_ENTRY_TYPES, OrderTranslator, in_sequence_run
from ordex.ext.fixreports import ReportWriter, SessionOut
from ordex.gateway import config as config_mod
from ordex.gateway.fix import application as appmod
from ordex.gateway.fix.gateway import FixGateway
from ordex.gateway.server import Server

# two instruments: MSFT on a 0.01 grid, XYZ with price step 5 (0.05) and 6 quantity decimals
SYMBOLS = {b"MSFT": 0, b"XYZ": 1}
GRIDS = [(2, 1, 0, 1), (2, 5, 6, 1)]
ACCOUNTS = {b"ACC1": 3, b"ACC2": 4}


def translator():
    return OrderTranslator(SYMBOLS, GRIDS, ACCOUNTS, {7: 4},
                           {k: int(v) for k, v in appmod.ORD_TYPE_IN.items()},
                           {k: int(v) for k, v in appmod.TIF_IN.items()})


def fix(msg_type, pairs, seq=1, sender="CL", target="EX", sending_ns=None):
    m = simplefix.FixMessage()
    m.append_pair(8, "FIX.4.4", header=True)
    m.append_pair(35, msg_type, header=True)
    m.append_pair(49, sender, header=True)
    m.append_pair(56, target, header=True)
    m.append_pair(34, seq, header=True)
    m.append_utc_timestamp(52, time.time() if sending_ns is None else sending_ns / 1e9,
                           precision=3, header=True)
    for tag, value in pairs:
        m.append_pair(tag, value)
    return m.encode()


def parse(*frames):
    msgs, _ = FixParser().parse(b"".join(frames))
    return msgs


def translate(frames, sid=1):
    msgs = parse(*frames)
    rows = np.zeros(len(msgs) + 3, dtype=COMMAND_DTYPE)
    rows[:] = np.frombuffer(b"\xff" * rows.nbytes, dtype=COMMAND_DTYPE)   # must be zeroed
    accepted, errors = [], []
    n = translator().translate(sid, msgs, 0, len(msgs), rows, 1, accepted, errors)
    return rows[1:1 + n], accepted, errors, msgs


NEW = [(11, "A1"), (1, "ACC1"), (55, "MSFT"), (54, "1"), (38, "10"), (40, "2"), (44, "150.25"),
       (59, "1")]


def new(**changes):
    fields = dict(NEW)
    for k, v in changes.items():
        tag = int(k[1:])
        if v is None:
            fields.pop(tag, None)
        else:
            fields[tag] = v
    return fix("D", list(fields.items()))


def test_new_order_single_becomes_one_zeroed_row_on_the_grid():
    rows, accepted, errors, msgs = translate([new(), new(t11="A2", t55="XYZ", t38="0.5",
                                                      t44="10.05", t59="6", t126="20301122-10:00:00",
                                                      t18="1 6", t111="0.25")])
    assert errors == [] and accepted == msgs
    expect = np.zeros(2, dtype=COMMAND_DTYPE)
    expect[0] = expect[1] = (0, 0, 0, 15025, 0, 10, 0, 0, 0, 1, 3, 0, CommandKind.NEW_ORDER, 1,
                             OrdType.LIMIT, Tif.GTC, 0, 0, 0, 0, b"A1", b"") + (
        (0,) * (len(COMMAND_DTYPE.names) - 22))
    expect[1]["clordid"], expect[1]["instrument"] = b"A2", 1
    expect[1]["price"], expect[1]["qty"], expect[1]["display"] = 201, 500000, 250000  # 10.05 / 0.05
    expect[1]["tif"], expect[1]["flags"] = Tif.GTD, Flag.POST_ONLY
    expect[1]["expire_ts_ns"] = calendar.timegm((2030, 11, 22, 10, 0, 0)) * 10**9
    assert rows.tobytes() == expect.tobytes()          # padding included


@pytest.mark.parametrize("change, why", [
    ({"t11": None}, (FieldError, 1, 11)),
    ({"t11": "X" * 25}, ("ClOrdID longer than 24 characters", 99)),
    ({"t55": "NOPE"}, ("unknown symbol", 1)),
    ({"t55": None}, ("unknown symbol", 1)),
    ({"t40": None}, (FieldError, 1, 40)),
    ({"t40": "9"}, ("unsupported OrdType", 11)),
    ({"t40": "22"}, ("unsupported OrdType", 11)),
    ({"t59": "5"}, ("unsupported TimeInForce", 11)),
    ({"t54": None}, (FieldError, 1, 54)),
    ({"t1": None}, ("Account(1) is required for this session", 15)),
    ({"t1": "NOPE"}, ("unknown account", 15)),
    ({"t44": None}, (FieldError, 1, 44)),
    ({"t44": "1x0"}, (FieldError, 6, 44)),
    ({"t44": "150.255"}, (FieldError, 5, 44)),
    ({"t55": "XYZ", "t44": "10.01"}, (FieldError, 5, 44)),       # off the 0.05 step
    ({"t38": "99999999999999999999"}, (FieldError, 5, 38)),
    ({"t38": "1.5"}, (FieldError, 5, 38)),
    ({"t111": "x"}, (FieldError, 6, 111)),
    ({"t40": "3", "t44": None}, (FieldError, 1, 99)),
    ({"t59": "6"}, (FieldError, 1, 126)),
    ({"t59": "6", "t126": "2030"}, (FieldError, 6, 126)),
    # the first problem in the documented order is the one reported
    ({"t55": "NOPE", "t40": "9", "t1": "NOPE"}, ("unknown symbol", 1)),
    ({"t40": "9", "t59": "5"}, ("unsupported OrdType", 11)),
    ({"t1": "NOPE", "t44": "1x0"}, ("unknown account", 15)),
])
def test_new_order_single_refused_at_the_gateway(change, why):
    rows, accepted, errors, msgs = translate([new(), new(**change), new(t11="A3")])
    assert [bytes(c) for c in rows["clordid"]] == [b"A1", b"A3"]     # the others go on
    assert accepted == [msgs[0], msgs[2]]
    (index, err), = errors
    assert index == 1
    if why[0] is FieldError:
        assert isinstance(err, FieldError) and (err.reason, err.tag) == why[1:]
    else:
        assert err == why


def test_a_session_with_one_account_may_leave_account_out():
    rows, _, errors, _ = translate([new(t1=None)], sid=7)
    assert errors == [] and rows["account"][0] == 4


def test_cancel_replace_status_and_mass_cancel_rows():
    frames = [
        fix("F", [(11, "C1"), (41, "A1"), (37, "42"), (55, "MSFT"), (54, "1")]),
        fix("F", [(11, "C2"), (41, "A1"), (37, "not-ours"), (55, "MSFT"), (54, "1")]),
        fix("G", [(11, "R1"), (41, "A1"), (55, "XYZ"), (54, "1"), (38, "2.5"), (40, "2"),
                  (44, "10.10")]),
        fix("G", [(11, "R2"), (41, "A1"), (55, "MSFT"), (54, "1"), (38, "3"), (40, "2")]),
        fix("H", [(11, "A1"), (55, "MSFT"), (54, "1")]),
        fix("q", [(11, "M1"), (530, "1"), (55, "XYZ"), (1, "ACC2")]),
        fix("q", [(11, "M2"), (530, "7")]),
    ]
    rows, _, errors, _ = translate(frames)
    assert errors == []
    got = [(r["kind"], bytes(r["clordid"]), bytes(r["orig_clordid"]), r["order_id"], r["price"],
            r["qty"], r["instrument"], r["scope"], r["account"]) for r in rows]
    assert got == [
        (CommandKind.CANCEL, b"C1", b"A1", 42, 0, 0, 0, 0, 0),
        (CommandKind.CANCEL, b"C2", b"A1", 0, 0, 0, 0, 0, 0),
        (CommandKind.REPLACE, b"R1", b"A1", 0, 202, 2500000, 0, 0, 0),
        (CommandKind.REPLACE, b"R2", b"A1", 0, 0, 3, 0, 0, 0),
        (CommandKind.STATUS_REQUEST, b"", b"A1", 0, 0, 0, 0, 0, 0),
        (CommandKind.MASS_CANCEL, b"M1", b"", 0, 0, 0, 1, Scope.ACCOUNT, 4),
        (CommandKind.MASS_CANCEL, b"M2", b"", 0, 0, 0, -1, Scope.SESSION, 0),
    ]


@pytest.mark.parametrize("frame, why", [
    (fix("F", [(11, "C1"), (55, "MSFT")]), (FieldError, 1, 41)),
    (fix("F", [(11, "C1"), (41, "A1"), (37, "99999999999999999999")]), (FieldError, 5, 37)),
    (fix("G", [(11, "R1"), (41, "A1"), (55, "NOPE"), (38, "1")]), ("unknown symbol", 1)),
    (fix("G", [(11, "R1"), (41, "A1"), (55, "MSFT")]), (FieldError, 1, 38)),
    (fix("H", [(55, "MSFT")]), (FieldError, 1, 11)),
    (fix("q", [(11, "M1")]), (FieldError, 1, 530)),
    (fix("q", [(11, "M1"), (530, "9")]),
     ("MassCancelRequestType must be 1 (security) or 7 (all)", 99)),
    (fix("q", [(11, "M1"), (530, "1"), (55, "NOPE")]), ("unknown symbol", 1)),
    (fix("q", [(11, "M1"), (530, "7"), (1, "NOPE")]), ("unknown account", 15)),
])
def test_requests_refused_at_the_gateway(frame, why):
    rows, _, errors, _ = translate([frame])
    (_, err), = errors
    assert len(rows) == 0
    if why[0] is FieldError:
        assert isinstance(err, FieldError) and (err.reason, err.tag) == why[1:]
    else:
        assert err == why


def test_translate_refuses_what_is_not_order_entry_and_short_arrays():
    t = translator()
    msgs = parse(fix("D", NEW), fix("V", [(262, "x")]))
    with pytest.raises(ValueError, match="not order entry"):
        t.translate(1, msgs, 0, 2, np.zeros(2, dtype=COMMAND_DTYPE), 0, [], [])
    with pytest.raises(ValueError, match="too short"):
        t.translate(1, msgs, 0, 1, np.zeros(1, dtype=COMMAND_DTYPE), 1, [], [])
    with pytest.raises(TypeError):
        t.translate(1, msgs, 0, 1, np.zeros(4, dtype=np.int64), 0, [], [])


def test_in_sequence_run_stops_at_anything_the_session_must_look_at():
    now = time.time_ns()
    ok = [fix("D", NEW, seq=s) for s in (5, 6, 7)]

    def run(*frames, tolerance_ns=10**9, start=0):
        return in_sequence_run(parse(*frames), start, 5, b"CL", b"EX", tolerance_ns, now,
                               ORDER_ENTRY_TYPES)
    assert run(*ok) == 3
    assert run(*ok, start=1) == 0                                   # 6 is not expected (5)
    assert run(ok[0], fix("D", NEW, seq=7)) == 1                    # gap
    assert run(ok[0], fix("0", [], seq=6)) == 1                     # admin message
    assert run(ok[0], fix("V", [(262, "r")], seq=6)) == 1           # not batched by the app
    assert run(ok[0], fix("D", NEW, seq=6, sender="XX")) == 1       # CompID
    assert run(ok[0], fix("D", NEW, seq=6, target="XX")) == 1
    late = fix("D", NEW, seq=6, sending_ns=now - 5 * 10**9)
    assert run(ok[0], late) == 1                                    # SendingTime
    assert run(ok[0], late, tolerance_ns=0) == 2                    # not checked
    garbled = ok[1][:-4] + b"000\x01"                               # bad checksum
    assert run(ok[0], garbled) == 1


class _Store:
    def __init__(self, next_sender):
        self.next_sender = next_sender


class _Session:
    """What SessionOut needs from a FixSession."""

    def __init__(self, next_sender=10, now_ns=1_800_000_000_123_456_789):
        self.store = _Store(next_sender)
        self.now_ns = now_ns
        self.batches = []

    def _clock(self):
        return self.now_ns

    def send_batch(self, first_seq, count, frames, records, offsets):
        assert first_seq == self.store.next_sender
        self.store.next_sender += count
        self.batches.append((first_seq, count, frames, records,
                             np.frombuffer(offsets, dtype=np.int64).tolist()))


def writer():
    texts, ord_rej = appmod._reason_tables()
    return ReportWriter([b"MSFT", b"XYZ"], GRIDS, [b"ACC0", b"ACC1"],
                        {int(k): v for k, v in appmod.EXEC_TYPE_44.items()},
                        {int(k): v for k, v in appmod.EXEC_TYPE_42.items()},
                        appmod.ORD_STATUS, appmod.ORD_TYPE_OUT, appmod.TIF_OUT, texts, ord_rej)


def events(*rows):
    ev = np.zeros(len(rows), dtype=EVENT_DTYPE)
    for e, fields in zip(ev, rows):
        for k, v in fields.items():
            e[k] = v
    return ev


def read_frames(data):
    p = simplefix.FixParser()
    p.append_buffer(data)
    out = []
    while (m := p.get_message()) is not None:
        out.append([(int(t), v) for t, v in m.pairs])
    return out


TRADE = dict(kind=EventKind.TRADE, session=0, account=1, instrument=1, exec_id=77, order_id=5,
             clordid=b"A1", state=OrderState.PARTIALLY_FILLED, side=2, ord_type=OrdType.LIMIT,
             tif=Tif.DAY, qty=3_000_000, price=201, last_px=200, last_qty=1_000_000,
             leaves=2_000_000, cum_qty=1_000_000, avg_px=200, ts_ns=1_700_000_000_000_001_000)


def test_execution_reports_of_a_batch_go_out_as_one_run_per_session():
    s44, s42 = _Session(10), _Session(3)
    outs = [SessionOut(s44, FixEncoder(b"FIX.4.4", "EX", "CL"), False),
            SessionOut(s42, FixEncoder(b"FIX.4.2", "EX", "CL42"), True)]
    rej = dict(kind=EventKind.REJECTED, session=1, account=7, instrument=9, exec_id=78,
               state=OrderState.REJECTED, side=1, reason=113, ts_ns=1_700_000_000_000_000_000)
    other = []
    writer().write(events(TRADE, rej, dict(TRADE, session=0, exec_id=79)), outs, [],
                   lambda ev, i: other.append(i), False)
    assert other == []
    (first, count, frames, records, offsets), = s44.batches
    assert (first, count) == (10, 2) and s44.store.next_sender == 12
    a, b = read_frames(frames)
    assert a == [(8, b"FIX.4.4"), (9, a[1][1]), (35, b"8"), (49, b"EX"), (56, b"CL"),
                 (34, b"10"), (52, b"20270115-08:00:00.123"), (37, b"5"), (11, b"A1"),
                 (17, b"77"), (150, b"F"), (39, b"1"), (1, b"ACC1"), (55, b"XYZ"), (54, b"2"),
                 (38, b"3.000000"), (40, b"2"), (44, b"10.05"), (59, b"0"), (31, b"10.00"),
                 (32, b"1.000000"), (151, b"2.000000"), (14, b"1.000000"), (6, b"10.00"),
                 (60, b"20231114-22:13:20.000001"), (10, a[-1][1])]
    assert dict(b)[34] == b"11" and dict(b)[17] == b"79"
    # the store gets the same frames as records (u32 length, u64 MsgSeqNum, frame)
    n0 = frames.index(b"8=FIX.4.4", 1)
    assert offsets == [0, 12 + n0]
    assert records == (n0.to_bytes(4, "little") + (10).to_bytes(8, "little") + frames[:n0]
                       + (len(frames) - n0).to_bytes(4, "little") + (11).to_bytes(8, "little")
                       + frames[n0:])
    (first, count, frames, _, _), = s42.batches
    (r,) = read_frames(frames)
    got = dict(r)
    # FIX 4.2: ExecTransType; unknown instrument and account: "?" and no Account(1)
    assert (first, got[20], got[150], got[39], got[37], got[11], got[55], got[103]) == (
        3, b"0", b"8", b"8", b"NONE", b"NONE", b"?", b"6")
    assert got[58] == b"duplicate clordid" and 1 not in got and got[60] == b"20231114-22:13:20.000"


def test_other_events_come_in_order_after_what_went_before_and_drop_copies():
    trader, drop = _Session(1), _Session(1)
    outs = [SessionOut(trader, FixEncoder(b"FIX.4.4", "EX", "CL"), False), None,
            SessionOut(drop, FixEncoder(b"FIX.4.2", "EX", "DC"), True)]
    seen = []

    def other(ev, i):
        seen.append((i, int(ev[i]["kind"]), trader.store.next_sender))
    batch = events(dict(TRADE, account=0), dict(kind=EventKind.CANCEL_REJECTED, session=0),
                   dict(TRADE), dict(TRADE, kind=EventKind.CANCELLED, session=1),
                   dict(TRADE, session=2, clordid=b"OWN"))
    writer().write(batch, outs, [(2, b"\x00\x01")], other, True)
    # the cancel reject comes after the first report was handed over; the CANCELLED event is
    # only shown (track=True: its request is answered), its report and the one before are sent
    # together afterwards
    assert seen == [(1, EventKind.CANCEL_REJECTED, 2), (3, EventKind.CANCELLED, 2)]
    assert [(f, c) for f, c, *_ in trader.batches] == [(1, 1), (2, 1)]
    # drop copy: account 1's reports of other sessions (not account 0's), and its own event's
    # report once
    copies = [read_frames(b[2]) for b in drop.batches]
    assert [[dict(m)[11] for m in c] for c in copies] == [[b"A1", b"A1", b"OWN"]]
    assert [dict(m)[20] for m in copies[0]] == [b"0"] * 3          # in FIX 4.2 form


EXTRA = '''
[[fix.session]]
name = "C42"
begin_string = "FIX.4.2"
sender_comp_id = "ORDEX"
target_comp_id = "CL42"
accounts = ["DEMO2"]
'''


def scenario(suffix, four_two):
    """Orders, cancels, replaces, status and mass cancels, good and bad, for the demo config."""
    def d(cl, **kw):
        f = {11: cl, 1: "DEMO1", 55: "MSFT", 54: "1", 38: "10", 40: "2", 44: "150.00", 59: "1"}
        for k, v in kw.items():
            if v is None:
                f.pop(int(k[1:]), None)
            else:
                f[int(k[1:])] = v
        return ("D", list(f.items()))
    cases = [d("A1"), d("A2", t54="2", t44="149.00", t38="4", t59="3"), d("A3", t44="150.005"),
             d("A4", t44="1x0"), d("A5", t55="ZZZ"), d("A6", t40="9"), d("A7", t1="NOPE"),
             d("A8", t38=None), d("A" * 30), d("A9", t40="3", t44=None, t99="140.00"),
             d("A10", t59="6", t126="20301122-10:00:00.000"), d("A11", t111="5"), d("A1"),
             ("F", [(11, "C1"), (41, "A1"), (55, "MSFT"), (54, "1")]),
             ("F", [(11, "C2"), (41, "A1"), (55, "MSFT"), (54, "1")]),
             ("G", [(11, "R1"), (41, "A11"), (55, "MSFT"), (54, "1"), (38, "20"), (40, "2"),
                    (44, "148.00")]),
             ("G", [(11, "R2"), (41, "NOPE"), (55, "MSFT"), (54, "1"), (38, "20"), (40, "2")]),
             ("H", [(11, "R1"), (55, "MSFT"), (54, "1")]),
             ("q", [(11, "M1"), (530, "9")]), ("q", [(11, "M2"), (530, "1"), (55, "MSFT")])]
    out = []
    for mt, fields in cases:
        fields = [(t, v + suffix if t in (11, 41) else v) for t, v in fields]
        if four_two:
            fields = [(t, v) for t, v in fields if t != 1] + ([(21, "1")] if mt in "DG" else [])
        out.append((mt, fields + [(60, "20261122-10:00:00.000")]))
    return out


def test_a_pipelined_burst_is_answered_as_one_message_at_a_time(tmp_path):
    """The batch paths (a run of messages in one read) give, message for message, what the same
    messages sent one at a time give: same rejects, same reports, same order.  Each run starts
    from a fresh server, so that both see the same book."""
    def norm(m):
        """(which stream, fields without ids and times): ExecutionReports of the gateway's own
        rejects (ExecID 0) go out at once, the engine's once their batch is durable."""
        pairs = [(int(t), v) for t, v in m.pairs]
        stream = (dict(pairs)[35], dict(pairs).get(17) == b"0")
        return stream, [(t, b"*" if t in (9, 10, 34, 37, 45, 52, 60, 17) else v) for t, v in pairs]

    async def one_run(sender, begin, mode):
        base = tmp_path / f"{sender}-{mode}"
        base.mkdir()
        cfg = config_mod.parse(config_mod.default_text() + EXTRA, base_dir=base)
        cfg = dataclasses.replace(cfg, durability="none", fix_listen=("127.0.0.1", 0),
                                  admin_listen=None)
        server = Server(cfg)
        gw = FixGateway(cfg)
        server.gateways.append(gw)
        await server.start()
        try:
            c = await FixClient.connect(gw.port, sender=sender, target="ORDEX", begin=begin)
            await c.logon()
            raws = [c.encode(mt, f) for mt, f in scenario(mode, begin == "FIX.4.2")]
            if mode == "one":
                for raw in raws:
                    await c.send_raw(raw)
                    await asyncio.sleep(0.02)
            else:
                await c.send_raw(b"".join(raws))
            got = []
            while True:
                try:
                    m = await c.recv(0.5)
                except asyncio.TimeoutError:
                    break
                if m is None:
                    break
                if m.message_type != b"0":
                    got.append(norm(m))
            await c.logout()
            c.close()
        finally:
            await server.stop()
        return [(stream, [(t, v.replace(mode.encode(), b"~") if t in (11, 41) else v)
                          for t, v in m]) for stream, m in got]

    for sender, begin in (("CLIENT1", "FIX.4.4"), ("CL42", "FIX.4.2")):
        one, burst = (asyncio.run(asyncio.wait_for(one_run(sender, begin, mode), 30))
                      for mode in ("one", "burst"))
        assert len(one) >= 20 and len({s for s, _ in one}) >= 4
        assert sorted({s for s, _ in one}) == sorted({s for s, _ in burst})
        for stream in {s for s, _ in one}:          # each stream in the same order
            assert [m for s, m in one if s == stream] == [m for s, m in burst if s == stream], (
                sender, stream)
