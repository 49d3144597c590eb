"""The OUCH replies are built two ways -- with numpy for batches, with struct one event at a time
for a few -- and must agree byte for byte.  A mixed flow runs through the gateway; every batch of
events it handles is replayed through both encoders from the same starting state, and the bytes
and the state they leave behind are compared."""
import copy
import random

import numpy as np

from binary_helpers import binary_config, ouch, run, settle, start

STATE = ("terms", "quotes", "quote_of", "echo", "mass_cancels", "quote_acks")


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
            results.append((out, {k: getattr(user, k) for k in ("terms", "quotes", "quote_of",
                                                               "mass_cancels")},
                            list(user.quote_acks)))
        assert results[0] == results[1], (name, ev)


def test_one_enter_order_is_read_like_a_run_of_them(tmp_path):
    """_enter_order (struct, one message) and _enter_orders (numpy, a run) make the same rows,
    echo records and gateway rejects, valid or not."""
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
        for one in (True, False):
            u = copy.copy(user)
            u.terms, u.max_userref = {}, 0
            emitted = []
            app._emit = lambda usr, data, count, emitted=emitted: emitted.append(data)
            pending = ouch_mod._Pending()
            for pkt in packets:
                stride = len(pkt)
                if one:
                    app._enter_order(u, codecs, pending, pkt, 0, stride)
                else:
                    app._enter_orders(u, codecs, pending, pkt, 0, 1, stride)
            built_rows, built_echo = pending.build()
            rows = [r.tobytes() for r in built_rows]
            echo = [e.tobytes() for e in built_echo]
            outs.append((rows, echo, [e[20:] for e in emitted], dict(u.terms), u.max_userref))
        await server.stop()
        return outs

    one, run_ = run("uvloop", main())
    assert one == run_
    assert len(one[0]) > 50 and len(one[2]) > 50      # both accepted and refused orders
