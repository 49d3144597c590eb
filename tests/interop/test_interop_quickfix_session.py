"""A real QuickFIX C++ initiator against our FIX session layer (with the test Application that
acknowledges orders): logon with a password, an order acknowledged, sequence gaps forced in
both directions and repaired, reconnection after an acceptor restart with sequence numbers
intact."""
import asyncio
import contextlib

from fixclient import EchoApp
from ordex.gateway.fix.session import FixAcceptor, SessionSettings, hash_password
from qfclient import QuickFixClient

PASSWORD = "interop-secret"


def session_settings(begin_string="FIX.4.4"):
    return SessionSettings(name="qf", begin_string=begin_string, sender_comp_id="ORDEX",
                           target_comp_id="CLIENT", username="qf-user",
                           password_hash=hash_password(PASSWORD, n=1 << 12))


@contextlib.asynccontextmanager
async def acceptor_on(store_dir, app, port=0, begin_string="FIX.4.4"):
    acceptor = FixAcceptor([session_settings(begin_string)], store_dir, app)
    server = await acceptor.serve("127.0.0.1", port)
    try:
        yield acceptor, server.sockets[0].getsockname()[1]
    finally:
        await acceptor.close(timeout_s=2)


def assert_quickfix_accepted_everything(qf):
    """QuickFIX validates what we send against its dictionary and rejects what it dislikes."""
    log = qf.log_text()
    assert "Rejected" not in log and qf.received("3") == [], log[-2000:]


async def start_client(binary, tmp_path, port, begin_string="FIX.4.4"):
    return await QuickFixClient.start(binary, tmp_path / "qf", port, begin_string=begin_string,
                                      sender="CLIENT", target="ORDEX", username="qf-user",
                                      password=PASSWORD)


def test_logon_and_order(run, tmp_path, initiator_binary):
    app = EchoApp()

    async def main():
        async with acceptor_on(tmp_path / "store", app) as (acceptor, port):
            qf = await start_client(initiator_binary, tmp_path, port)
            try:
                await qf.cmd("logon")
                assert await qf.cmd("order C1 1 100 10.25 AAPL") == "OK order 2"
                await qf.cmd("wait 8 1")
                (er,) = qf.received("8", "app")
                assert (er[11], er[150], er[39], er[55], er[34]) == ("C1", "0", "0", "AAPL", "2")
                assert await qf.cmd("seq") == "OK seq 3 3"
                await qf.cmd("disconnect")
                assert "LOGOUT" in qf.events
                assert_quickfix_accepted_everything(qf)
            finally:
                await qf.close()
            store = acceptor.session("qf").store
            assert (store.next_sender, store.next_target) == (4, 4)
        assert app.clordids() == [b"C1"] and app.logouts == [("qf", "logout by peer")]
    run(main())


def test_sequence_gaps_both_ways(run, tmp_path, initiator_binary):
    app = EchoApp()

    async def main():
        async with acceptor_on(tmp_path / "store", app) as (acceptor, port):
            qf = await start_client(initiator_binary, tmp_path, port)
            try:
                await qf.cmd("logon")
                await qf.cmd("order C1 1 100 10 AAPL")
                await qf.cmd("wait 8 1")
                # QuickFIX forgets it got our ER 2: our next message is "too high" for it, it
                # asks for a resend, and we replay ER 2 (and ER 3) with PossDupFlag.
                await qf.cmd("set_next_target 2")
                await qf.cmd("order C2 2 50 11 MSFT")
                await qf.cmd("wait 8 3")
                ers = qf.received("8", "app")
                # QuickFIX takes the replayed 2, then its queued original 3 (and drops our
                # replay of 3 as a duplicate): each ER reaches it once more at most.
                assert [(e[11], e[34], e.get(43)) for e in ers] == [
                    ("C1", "2", None), ("C1", "2", "Y"), ("C2", "3", None)]
                assert ers[1][122] == ers[0][52] and ers[1][17] == ers[0][17]
                assert "ResendRequest for messages FROM: 2 TO: 2 has been satisfied" in \
                    qf.log_text()
                assert qf.received("2", "admin") == []
                # QuickFIX skips three of its sequence numbers: we ask for them, it gap-fills,
                # and its order behind the gap is processed once.
                seq = await qf.cmd("seq")
                sender = int(seq.split()[2])
                await qf.cmd(f"set_next_sender {sender + 3}")
                await qf.cmd("order C3 1 10 12 IBM")
                await qf.cmd("wait 8 4")
                assert qf.received("8", "app")[-1][11] == "C3"
                rr = qf.received("2", "admin")
                assert [(r[7], r[16]) for r in rr] == [(str(sender), "0")]
                assert await qf.cmd("seq") == f"OK seq {sender + 4} 6"     # our RR took 4
                assert_quickfix_accepted_everything(qf)
            finally:
                await qf.close()
        assert app.clordids() == [b"C1", b"C2", b"C3"]
    run(main())


def test_reconnect_after_acceptor_restart(run, tmp_path, initiator_binary):
    app = EchoApp()

    async def main():
        store_dir = tmp_path / "store"
        qf = None
        try:
            async with acceptor_on(store_dir, app) as (acceptor, port):
                qf = await start_client(initiator_binary, tmp_path, port)
                await qf.cmd("logon")
                await qf.cmd("order C1 1 100 10 AAPL")
                await qf.cmd("wait 8 1")
                before = await qf.cmd("seq")
                await qf.cmd("disconnect")
            assert before == "OK seq 3 3"
            # Same store, same port, a new acceptor: QuickFIX logs on with its stored numbers.
            async with acceptor_on(store_dir, app, port) as (acceptor, _):
                store = acceptor.session("qf").store
                assert (store.next_sender, store.next_target) == (4, 4)
                await qf.cmd("logon")
                assert await qf.cmd("order C2 2 5 9 AAPL") == "OK order 5"
                await qf.cmd("wait 8 2")
                er = qf.received("8", "app")[-1]
                assert (er[11], er[34], er.get(43)) == ("C2", "5", None)
                # Drop the connection without Logout and restart again: QuickFIX reconnects on
                # its own and nothing is lost or repeated.
                await qf.cmd("drop")
                while acceptor.session("qf").logged_on:
                    await asyncio.sleep(0.01)
            async with acceptor_on(store_dir, app, port) as (acceptor, _):
                await qf.cmd("logon")
                await qf.cmd("order C3 1 1 8 AAPL")
                await qf.cmd("wait 8 3")
                # (QuickFIX spends a MsgSeqNum on a Logon it tries right after the drop, then
                # fills that gap when we ask: the two sides agree, whatever the numbers.)
                store = acceptor.session("qf").store
                assert await qf.cmd("seq") == f"OK seq {store.next_target} {store.next_sender}"
                assert qf.received("8", "app")[-1][11] == "C3"
                assert_quickfix_accepted_everything(qf)
        finally:
            if qf is not None:
                await qf.close()
        assert app.clordids() == [b"C1", b"C2", b"C3"]
        assert app.logons == ["qf", "qf", "qf"]
    run(main())


def test_fix42_session(run, tmp_path, initiator_binary):
    app = EchoApp()

    async def main():
        async with acceptor_on(tmp_path / "store", app, begin_string="FIX.4.2") as (acceptor, port):
            qf = await start_client(initiator_binary, tmp_path, port, begin_string="FIX.4.2")
            try:
                await qf.cmd("logon")
                await qf.cmd("order C42 1 100 10 AAPL")
                await qf.cmd("wait 8 1")
                (er,) = qf.received("8", "app")
                assert er[8] == "FIX.4.2" and er[11] == "C42"
                assert_quickfix_accepted_everything(qf)
            finally:
                await qf.close()
    run(main())
