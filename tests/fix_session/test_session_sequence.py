"""Sequence numbers: gaps, resend requests both ways, sequence resets, persistence across an
acceptor restart."""
import asyncio
import time

from fixclient import FixClient, serve_acceptor, settings


def now():
    return time.time_ns()


def test_gap_is_requested_once_and_filled_by_resend(run, tmp_path, app):
    async def main():
        async with serve_acceptor(tmp_path, app) as (acceptor, port):
            c = await FixClient.connect(port)
            await c.logon()                                  # 1; 2 is lost in transit
            await c.order("C4", seq=4)
            rr = await c.expect("2")
            assert (rr.get(7), rr.get(16)) == (b"2", b"0")
            await c.order("C5", seq=5)                       # queued, no second request
            await c.order("C3", seq=3)                       # still behind the gap
            await c.order("C2", seq=2, possdup=True, orig_sending_time=now())
            ers = [await c.expect("8") for _ in range(4)]    # a second "2" would fail here
            assert [e.get(11) for e in ers] == [b"C2", b"C3", b"C4", b"C5"]
            assert app.clordids() == [b"C2", b"C3", b"C4", b"C5"]
            assert acceptor.session("s1").store.next_target == 6
    run(main())


def test_queued_messages_wait_for_the_gap(run, tmp_path, app):
    async def main():
        async with serve_acceptor(tmp_path, app) as (acceptor, port):
            c = await FixClient.connect(port)
            await c.logon()
            await c.order("C3", seq=3)
            await c.order("C4", seq=4)
            await c.expect("2")
            assert app.clordids() == []
            await c.order("C2", seq=2, possdup=True, orig_sending_time=now())
            ers = [await c.expect("8") for _ in range(3)]
            assert [e.get(11) for e in ers] == [b"C2", b"C3", b"C4"]
            assert app.clordids() == [b"C2", b"C3", b"C4"]
            await c.order("C3", seq=3, possdup=True, orig_sending_time=now())   # dup: ignored
            c.seq = 5
            await c.order("C5")
            assert (await c.expect("8")).get(11) == b"C5"
            assert app.clordids() == [b"C2", b"C3", b"C4", b"C5"]
    run(main())


def test_gap_fill_skips_queued_messages_below_new_seq(run, tmp_path, app):
    async def main():
        async with serve_acceptor(tmp_path, app) as (acceptor, port):
            c = await FixClient.connect(port)
            await c.logon()
            await c.order("C5", seq=5)
            await c.expect("2")
            await c.order("C6", seq=6)
            await c.send("4", [(123, "Y"), (36, 5)], seq=2, possdup=True, orig_sending_time=now())
            ers = [await c.expect("8") for _ in range(2)]
            assert [e.get(11) for e in ers] == [b"C5", b"C6"]
            assert acceptor.session("s1").store.next_target == 7
    run(main())


def test_sequence_too_low_without_possdup_logs_out(run, tmp_path, app):
    async def main():
        async with serve_acceptor(tmp_path, app) as (acceptor, port):
            c = await FixClient.connect(port)
            await c.logon()
            await c.order("C2")
            await c.expect("8")
            await c.order("again", seq=2)
            logout = await c.expect("5")
            assert logout.get(58) == b"MsgSeqNum too low, expecting 3 but received 2"
            assert await c.expect_closed() == []
            assert app.clordids() == [b"C2"]
            assert app.logouts == [("s1", "MsgSeqNum too low, expecting 3 but received 2")]
    run(main())


def test_sequence_reset_modes(run, tmp_path, app):
    async def main():
        async with serve_acceptor(tmp_path, app) as (acceptor, port):
            store = acceptor.session("s1").store
            c = await FixClient.connect(port)
            await c.logon()
            # Reset mode: MsgSeqNum ignored, the sequence jumps forward.
            await c.send("4", [(36, 10)], seq=999)
            await c.order("C10", seq=10)
            assert (await c.expect("8")).get(11) == b"C10"
            # Going back is refused with Reject(3) "value incorrect" on NewSeqNo.
            await c.send("4", [(36, 3)], seq=11)
            rej = await c.expect("3")
            assert (rej.get(373), rej.get(371), rej.get(45)) == (b"5", b"36", b"11")
            assert store.next_target == 11
            # A GapFill must move forward from its own MsgSeqNum.
            await c.send("4", [(123, "Y"), (36, 11)], seq=11)
            rej = await c.expect("3")
            assert (rej.get(373), rej.get(371)) == (b"5", b"36")
            assert store.next_target == 12
            await c.send("4", [(123, "Y"), (36, 20)], seq=12)
            c.seq = 20
            await c.order("C20")
            assert (await c.expect("8")).get(11) == b"C20"
            assert store.next_target == 21
    run(main())


def test_resend_request_replays_application_messages_and_gap_fills_admin(run, tmp_path, app):
    async def main():
        async with serve_acceptor(tmp_path, app) as (acceptor, port):
            c = await FixClient.connect(port)
            await c.logon()                                          # ours: Logon 1
            originals = []
            for i in range(3):                                       # ours: ER 2, 3, 4
                await c.order(f"C{i}")
                originals.append(await c.expect("8"))
            await c.send("1", [(112, "ping")])                       # ours: Heartbeat 5
            assert (await c.expect("0")).get(112) == b"ping"
            await c.order("C3")                                      # ours: ER 6
            originals.append(await c.expect("8"))
            await c.send("2", [(7, 1), (16, 0)])
            got = [await c.recv() for _ in range(6)]
            shape = [(m.message_type, m.get(34), m.get(36)) for m in got]
            assert shape == [(b"4", b"1", b"2"), (b"8", b"2", None), (b"8", b"3", None),
                             (b"8", b"4", None), (b"4", b"5", b"6"), (b"8", b"6", None)]
            for m in got:
                assert m.get(43) == b"Y" and m.get(122) is not None
            for resent, orig in zip([m for m in got if m.message_type == b"8"], originals):
                assert resent.get(122) == orig.get(52)
                assert resent.get(11) == orig.get(11) and resent.get(17) == orig.get(17)
                body = [(t, v) for t, v in resent.pairs if t not in (b"9", b"10", b"43", b"52", b"122")]
                assert body == [(t, v) for t, v in orig.pairs if t not in (b"9", b"10", b"52")]
            # A bounded range; the resend does not consume sequence numbers.
            await c.send("2", [(7, 3), (16, 4)])
            got = [await c.recv() for _ in range(2)]
            assert [(m.message_type, m.get(34)) for m in got] == [(b"8", b"3"), (b"8", b"4")]
            await c.order("C4")
            assert (await c.expect("8")).get(34) == b"7"
    run(main())


def test_resend_request_with_high_sequence_is_answered_at_once(run, tmp_path, app):
    async def main():
        async with serve_acceptor(tmp_path, app) as (acceptor, port):
            c = await FixClient.connect(port)
            await c.logon()
            await c.order("C2")
            await c.expect("8")
            await c.send("2", [(7, 2), (16, 0)], seq=5)     # we missed 3, 4 from them
            got = [await c.recv() for _ in range(2)]
            types = sorted(m.message_type for m in got)
            assert types == [b"2", b"8"]
            rr = next(m for m in got if m.message_type == b"2")
            assert (rr.get(7), rr.get(16)) == (b"3", b"0")
            await c.send("4", [(123, "Y"), (36, 6)], seq=3, possdup=True, orig_sending_time=now())
            c.seq = 6
            await c.order("C6")
            assert (await c.expect("8")).get(11) == b"C6"
    run(main())


def test_sequence_numbers_and_store_survive_restart(run, tmp_path, app):
    async def main():
        async with serve_acceptor(tmp_path, app) as (acceptor, port):
            c = await FixClient.connect(port)
            await c.logon()
            await c.order("C1")
            first_er = await c.expect("8")
            c.close()                                  # dropped without Logout
            while acceptor.session("s1").logged_on:
                await asyncio.sleep(0.01)
        # A new acceptor on the same store.
        async with serve_acceptor(tmp_path, app) as (acceptor, port):
            store = acceptor.session("s1").store
            assert (store.next_sender, store.next_target) == (3, 3)
            c2 = await FixClient.connect(port)
            c2.seq = 3
            reply = await c2.logon()
            assert reply.get(34) == b"3"
            await c2.send("2", [(7, 2), (16, 2)])
            again = await c2.expect("8")
            assert again.get(34) == b"2" and again.get(43) == b"Y"
            assert again.get(122) == first_er.get(52) and again.get(17) == first_er.get(17)
            await c2.order("C5")
            assert (await c2.expect("8")).get(34) == b"4"
    run(main())


def test_messages_sent_while_logged_off_are_recovered_by_resend(run, tmp_path, app):
    async def main():
        async with serve_acceptor(tmp_path, app) as (acceptor, port):
            session = acceptor.session("s1")
            c = await FixClient.connect(port)
            await c.logon()
            await c.logout()                                       # ours: Logon 1, Logout 2
            seq = session.send(b"8", [(37, "O9"), (11, "C9"), (17, "E9"), (150, "4"), (39, "4"),
                                      (55, "AAPL"), (54, "1"), (151, "0"), (14, "0"), (6, "0"),
                                      (60, now())])
            assert seq == 3 and not session.logged_on
            c = await FixClient.connect(port)
            c.seq = 3
            await c.logon()                                        # ours: 4
            await c.send("2", [(7, 3), (16, 0)])
            cancel = await c.expect("8")
            assert (cancel.get(34), cancel.get(11), cancel.get(43)) == (b"3", b"C9", b"Y")
            assert len(cancel.get(60)) == len("20240101-00:00:00.000000")
            fill = await c.expect("4")
            assert (fill.get(34), fill.get(36)) == (b"4", b"5")
    run(main())


def test_two_sessions_keep_separate_sequences(run, tmp_path, app):
    async def main():
        sessions = [settings("a", target="A"), settings("b", target="B", begin_string="FIX.4.2")]
        async with serve_acceptor(tmp_path, app, sessions) as (acceptor, port):
            a = await FixClient.connect(port, sender="A")
            b = await FixClient.connect(port, sender="B", begin="FIX.4.2")
            await a.logon()
            await b.logon()
            for i in range(3):
                await a.order(f"A{i}")
                assert (await a.expect("8")).get(11) == f"A{i}".encode()
            await b.order("B0")
            er = await b.expect("8")
            assert er.get(8) == b"FIX.4.2" and er.get(34) == b"2"
            assert acceptor.session("a").store.next_sender == 5
            assert acceptor.session("b").store.next_sender == 3
        assert sorted(app.logons) == ["a", "b"]
    run(main())


def test_out_of_sequence_queue_is_bounded(run, tmp_path, app):
    async def main():
        async with serve_acceptor(tmp_path, app, max_queued=5) as (acceptor, port):
            c = await FixClient.connect(port)
            await c.logon()
            for seq in range(10, 16):
                await c.send("0", seq=seq)
            await c.expect("2")
            assert (await c.expect("5")).get(58) == b"too many messages out of sequence"
            assert await c.expect_closed() == []
            assert acceptor.session("s1").store.next_target == 2
    run(main())


def test_store_is_synced_in_batch_mode_only(run, tmp_path, app):
    async def main(mode):
        async with serve_acceptor(tmp_path / mode, app, store_sync=mode) as (acceptor, port):
            store = acceptor.session("s1").store
            c = await FixClient.connect(port)
            await c.logon()
            syncer = acceptor._syncer
            while mode == "batch" and (store.dirty or not syncer.done()):
                await asyncio.sleep(0.005)       # the logon's own sync, if any, is over
            before = syncer.synced
            await c.order("C1")
            await c.expect("8")
            if mode == "batch":                  # (the run's timeout fails it otherwise)
                # both of the store's files, on the C sync thread
                while syncer.synced < before + 2:
                    await asyncio.sleep(0.005)
                assert syncer.error == 0
            else:
                await asyncio.sleep(0.1)
                assert store.dirty and syncer.synced == before == 0
    run(main("batch"))
    run(main("none"))
