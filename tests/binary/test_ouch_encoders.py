"""The OUCH replies are built two ways -- in C (ext/ouch_out) for batches, with struct one event at
a time for a few -- and must agree byte for byte; Enter Orders decoded in C agree with a plain
Python reading of them.  A mixed flow runs through the gateway; every batch of
events it handles is replayed through both encoders from the same starting state, and the bytes
and the state they leave behind are compared."""
import copy
import random

import numpy as np

from ordex.ext.ouch_in import OrderTerms

from binary_helpers import binary_config, ouch, run, settle, start

STATE = ("terms", "quotes", "echo", "mass_cancels", "quote_acks")


def test_numpy_and_struct_replies_agree(tmp_path):
    cfg = binary_config(tmp_path, durability="none")
    captured = []

    async def main():
        server, gw = await start(cfg)
        app = gw.ouch
        real = app._user_events

        def recording(user, ev):
            from ordex.core.events import EVENT_DTYPE
            arr = np.array(ev, dtype=EVENT_DTYPE) if isinstance(ev, list) else ev.copy()
            captured.append((user.name, {k: copy.deepcopy(getattr(user, k)) for k in STATE}, arr))
            return real(user, ev)

        app._user_events = recording
        mm1, mm2 = await ouch(gw, "MM1"), await ouch(gw, "MM2")
        rnd = random.Random(3)
        ref1 = ref2 = 0
        for step in range(120):
            burst = rnd.choice([1, 1, 2, 5, 30])
            data = []
            for _ in range(burst):
                ref2 += 1
                data.append(mm2.enter_bytes(ref2, rnd.choice("BS"), rnd.randrange(1, 6), "MSFT",
                                            1_500_000 + rnd.randrange(-3, 4) * 100,
                                            tif=rnd.choice("003"), clordid=f"c{ref2}"))
            mm2.send_raw(b"".join(data))
            op = rnd.random()
            if op < 0.3:
                ref1 += 2
                mm1.mass_quote(step, [("MSFT", ref1 - 1, 1_499_800, 5, ref1, 1_500_200, 5)])
            elif op < 0.5 and ref2 > 3:
                ref2 += 1
                mm2.replace(ref2 - 2, ref2, rnd.randrange(2, 9), 1_500_000 + rnd.randrange(-3, 4) * 100)
            elif op < 0.7 and ref2 > 3:
                mm2.cancel(ref2 - rnd.randrange(1, 4), rnd.choice([0, 1, 2]))
            elif op < 0.75:
                mm1.mass_cancel(step, rnd.choice(["", "MSFT"]))
            if step % 10 == 0:
                await settle(server, 0.01)
        await settle(server)
        users = {u.name: u for u in app.users.values()}
        mm1.close()
        mm2.close()
        await server.stop()
        return app, users

    app, users = run("uvloop", main())
    sizes = {len(ev) <= 8 for _, _, ev in captured}
    assert sizes == {True, False}                 # both kinds of batch occurred
    for name, state, ev in captured:
        results = []
        for fn in (app._replies_each, app._replies_numpy):
            user = copy.copy(users[name])
            for k, v in state.items():
                setattr(user, k, copy.deepcopy(v))
            out = fn(user, ev.tolist() if fn == app._replies_each else ev)
            results.append((out, {k: getattr(user, k) for k in ("terms", "quotes",
                                                               "mass_cancels")},
                            list(user.quote_acks)))
        assert results[0] == results[1], (name, ev)


def packets_after_ts(data: bytes) -> list[bytes]:
    """Sequenced packets without their length, type and timestamp (the time the test ran)."""
    out, i = [], 0
    while i < len(data):
        end = i + 2 + int.from_bytes(data[i:i + 2], "big")
        out.append(data[i + 12:end])
        i = end
    return out


def reference_enter_order(app, user, codecs, pending, buf: bytes) -> None:
    """An independent reading of one Enter Order packet (struct, plain Python): the checks in the
    documented order, then a row through CommandBatch.command or a gateway reject."""
    import struct as _struct

    from ordex.core.commands import CommandKind, Flag, OrdType
    from ordex.gateway.binary.ouch_codec import _REJ, DISPLAY_OK, SIDE_IN, SRC_ENTER, TIF_IN

    (_, ref, side_c, qty, sym, price, tif_c, display_c, cap, ise, cross, clid,
     applen) = codecs.enter.struct.unpack_from(buf, 3)
    room = len(buf) - 3 - codecs.enter.size
    account, display, flags = user.accounts[0], 0, 0
    instr = app.wire.lookup(sym)
    side, tif = SIDE_IN[side_c[0]], TIF_IN[tif_c[0]]
    step = int(app.wire.pstep[instr]) if instr >= 0 else 1
    problem = None
    if ref <= user.max_userref:
        problem = "DUPLICATE_USERREFNUM"
    else:
        user.max_userref = ref
    checks = ((instr < 0, "INVALID_SYMBOL"), (side == 0, "INVALID_SIDE"),
              (tif == 255 or not DISPLAY_OK[display_c[0]], "PROCESSING_ERROR"),
              (price <= 0 or price % step, "INVALID_PRICE"), (qty <= 0, "INVALID_QUANTITY"),
              (applen != room, "PROCESSING_ERROR"))
    for bad, name in checks:
        if problem is None and bad:
            problem = name
    data, i = buf[3 + codecs.enter.size:], 0
    while problem is None and i < len(data):
        length = data[i]
        if length < 1 or i + 1 + length > len(data):
            problem = "PROCESSING_ERROR"
            break
        tag, value = data[i + 1], data[i + 2:i + 1 + length]
        if tag == 2 and len(value) == 4 and value.strip(b" ") and value != b"????":
            account = user.firms.get(value.upper())
            if account is None:
                problem = "FIRM_NOT_AUTHORIZED"
        elif tag == 5 and len(value) == 4:
            display = int.from_bytes(value, "big")
        elif tag == 6 and len(value) == 1 and value != b"L":
            problem = "PROCESSING_ERROR"
        elif tag == 12 and len(value) == 1 and value in (b"P", b"Y"):
            flags |= Flag.POST_ONLY
        i += 1 + length
    if problem is not None:
        app._gateway_rejects(user, codecs, (ref,), (_REJ[problem],), (clid,))
        return
    pending.command(CommandKind.NEW_ORDER, user.sid, account=account, instrument=instr,
                    side=side, ord_type=OrdType.LIMIT, tif=tif, price=price // step, qty=qty,
                    display=display, flags=flags, clordid=b"%010d" % ref, src=SRC_ENTER,
                    client_clordid=clid, capacity=cap, ise=ise, cross=cross, shown=display_c)
    user.terms[ref] = (instr, price // step, qty)


def test_enter_orders_agree_with_a_plain_python_reading(tmp_path):
    """The C decoder (ext/ouch_in, one packet or a run of them) makes the same rows, echo records,
    gateway rejects, live terms and UserRefNum floor as reference_enter_order, valid or not."""
    from ordex.gateway.binary import ouch as ouch_mod
    from ordex.gateway.client import OuchClient

    cfg = binary_config(tmp_path, durability="none")
    rnd = random.Random(11)

    async def main():
        server, gw = await start(cfg)
        app = gw.ouch
        user = app.users["MM2"]
        codecs = app.codecs["nasdaq"]
        client = OuchClient()
        packets = []
        for ref in range(1, 400):
            app_bytes = rnd.choice([b"", bytes([5, 5, 0, 0, 0, 2]), bytes([2, 12]) + b"P",
                                    bytes([5, 2]) + b"DEMO", bytes([5, 2]) + b"NOPE",
                                    bytes([9, 12])])
            bad = rnd.random() < 0.5          # one field (at least) wrong, or all right
            pick = lambda good, wrong: rnd.choice(wrong) if bad and rnd.random() < 0.3 else good  # noqa: E731
            pkt = client.enter_bytes(
                pick(ref, [max(ref - 5, 1)]), pick(rnd.choice("BST"), ["X"]),
                pick(rnd.choice([1, 5, 7]), [0]), pick(rnd.choice(["MSFT", "AAPL"]), ["NOPE"]),
                pick(rnd.choice([1_500_000, 1_000_000]), [1_500_050, 0, -100]),
                tif=pick(rnd.choice("03"), ["9"]), display=pick(rnd.choice("YA"), ["N"]),
                appendage=app_bytes)
            if rnd.random() < 0.1:
                pkt = pkt[:-2] + b"\x00\x07" if not app_bytes else pkt
            packets.append(pkt)
        outs = []
        for mode in ("reference", "one", "run"):
            u = copy.copy(user)
            u.terms, u.max_userref = OrderTerms(), 0
            emitted = []
            app._emit = lambda usr, data, count, emitted=emitted: emitted.append(data)
            pending = ouch_mod._Pending()
            if mode == "run":                   # packets of one length back to back: one call
                k = 0
                while k < len(packets):
                    same = k
                    while same < len(packets) and len(packets[same]) == len(packets[k]):
                        same += 1
                    app._enter_orders(u, codecs, pending, b"".join(packets[k:same]), 0,
                                      same - k, len(packets[k]))
                    k = same
            for pkt in packets if mode != "run" else ():
                if mode == "reference":
                    reference_enter_order(app, u, codecs, pending, pkt)
                else:
                    app._enter_orders(u, codecs, pending, pkt, 0, 1, len(pkt))
            built_rows, built_echo = pending.build()
            rows = [r.tobytes() for r in built_rows]
            echo = [e.tobytes() for e in built_echo]
            outs.append((rows, echo, packets_after_ts(b"".join(emitted)), dict(u.terms),
                         u.max_userref))
        await server.stop()
        return outs

    ref, one, run_ = run("uvloop", main())
    assert one == ref
    assert run_ == ref
    assert len(ref[0]) > 50 and len(ref[2]) > 50      # both accepted and refused orders
