"""Logon: authentication, first-message rule, sequence checks at logon, reset, one connection
per session."""
import asyncio
import logging
import time

import pytest

from fixclient import FixClient, serve_acceptor, settings
from ordex.gateway.fix.session import hash_password

CHEAP = dict(n=1 << 10, r=8, p=1)     # a fast hash for tests; the format is the same


def test_logon_order_ack_logout(run, tmp_path, app):
    async def main():
        async with serve_acceptor(tmp_path, app) as (acceptor, port):
            c = await FixClient.connect(port)
            reply = await c.logon(hb=30)
            assert reply.get(98) == b"0" and reply.get(108) == b"30" and reply.get(34) == b"1"
            assert reply.get(49) == b"ORDEX" and reply.get(56) == b"CLIENT"
            assert reply.get(141) is None
            session = acceptor.session("s1")
            assert session.logged_on and session.heartbeat_s == 30
            await c.order("C1")
            er = await c.expect("8")
            assert er.get(11) == b"C1" and er.get(150) == b"0" and er.get(34) == b"2"
            await c.logout()
            assert not session.logged_on
            assert session.store.next_target == 4 and session.store.next_sender == 4
        assert app.logons == ["s1"]
        assert app.messages == [("s1", b"D", 2, b"C1")]
        assert app.logouts == [("s1", "logout by peer")]
    run(main())


def test_first_message_must_be_logon(run, tmp_path, app):
    async def main():
        async with serve_acceptor(tmp_path, app) as (acceptor, port):
            c = await FixClient.connect(port)
            await c.order("C1")
            assert await c.expect_closed() == []
            assert app.messages == [] and acceptor.session("s1").store.next_target == 1
    run(main())


@pytest.mark.parametrize("bad", ["unknown_sender", "unknown_target", "begin_string",
                                 "username", "password", "no_password"])
def test_refused_logons_are_silent(run, tmp_path, app, bad, caplog):
    s = settings(username="acme", password_hash=hash_password("s3cret", **CHEAP))
    kw = dict(username="acme", password="s3cret")
    client = dict()
    if bad == "unknown_sender":
        client["sender"] = "INTRUDER"
    elif bad == "unknown_target":
        client["target"] = "OTHER"
    elif bad == "begin_string":
        client["begin"] = "FIX.4.2"
    elif bad == "username":
        kw["username"] = "acme2"
    elif bad == "password":
        kw["password"] = "s3cret!"
    else:
        del kw["password"]

    async def main():
        async with serve_acceptor(tmp_path, app, [s]) as (acceptor, port):
            c = await FixClient.connect(port, **client)
            await c.send("A", [(98, 0), (108, 30), (553, kw["username"])]
                         + ([(554, kw["password"])] if "password" in kw else []))
            assert await c.expect_closed() == []     # not a byte of explanation
            good = await FixClient.connect(port)
            await good.logon(username="acme", password="s3cret")
            await good.logout()
        assert app.logons == ["s1"]
    caplog.set_level(logging.WARNING, "ordex.fix.acceptor")
    run(main())
    assert any("refused" in r.getMessage() for r in caplog.records)


def test_garbage_before_logon_and_logon_timeout(run, tmp_path, app):
    async def main():
        async with serve_acceptor(tmp_path, app, logon_timeout_s=0.3) as (acceptor, port):
            c = await FixClient.connect(port)
            await c.send_raw(b"GET / HTTP/1.1\r\n\r\n" + c.encode("A", [(98, 0), (108, 30)]))
            assert await c.expect_closed() == []
            idle = await FixClient.connect(port)
            assert await idle.expect_closed(timeout=5) == []
            c = await FixClient.connect(port)
            await c.logon()
    run(main())


def test_second_connection_for_a_logged_on_session_is_refused(run, tmp_path, app):
    async def main():
        async with serve_acceptor(tmp_path, app) as (acceptor, port):
            first = await FixClient.connect(port)
            await first.logon()
            second = await FixClient.connect(port)
            await second.send("A", [(98, 0), (108, 30)], seq=2)
            assert await second.expect_closed() == []
            await first.order("C1")
            assert (await first.expect("8")).get(11) == b"C1"
            assert acceptor.session("s1").peer == first.writer.get_extra_info("sockname")
    run(main())


def test_heartbeat_interval_enforced_when_configured(run, tmp_path, app):
    async def main():
        async with serve_acceptor(tmp_path, app, [settings(heartbeat_s=10)]) as (acceptor, port):
            c = await FixClient.connect(port)
            await c.send("A", [(98, 0), (108, 30)])
            logout = await c.expect("5")
            assert logout.get(58) == b"HeartBtInt 30 not accepted; use 10"
            assert await c.expect_closed() == []
            c = await FixClient.connect(port)
            await c.logon(hb=10, seq=2)
            assert app.logons == ["s1"] and app.logouts == []
    run(main())


def test_logon_with_missing_heartbeat_is_answered_with_logout(run, tmp_path, app):
    async def main():
        async with serve_acceptor(tmp_path, app) as (acceptor, port):
            c = await FixClient.connect(port)
            await c.send("A", [(98, 0)])
            logout = await c.expect("5")
            assert b"required tag missing" in logout.get(58) and b"108" in logout.get(58)
            assert await c.expect_closed() == []
            assert app.logons == []
    run(main())


def test_logon_sequence_too_low_logs_out_with_reason(run, tmp_path, app):
    async def main():
        async with serve_acceptor(tmp_path, app) as (acceptor, port):
            c = await FixClient.connect(port)
            await c.logon()
            await c.order("C1")
            await c.expect("8")
            await c.logout()
            c = await FixClient.connect(port)
            await c.send("A", [(98, 0), (108, 30)], seq=2)
            logout = await c.expect("5")
            assert logout.get(58) == b"MsgSeqNum too low, expecting 4 but received 2"
            assert await c.expect_closed() == []
            assert app.logons == ["s1"]
    run(main())


def test_logon_sequence_too_high_is_accepted_then_resend_requested(run, tmp_path, app):
    async def main():
        async with serve_acceptor(tmp_path, app) as (acceptor, port):
            c = await FixClient.connect(port)
            await c.logon(seq=5)
            rr = await c.expect("2")
            assert rr.get(7) == b"1" and rr.get(16) == b"0"
            # Fill 1..5 (the logon included) with one gap fill; then business as usual.
            await c.send("4", [(123, "Y"), (36, 6)], seq=1, possdup=True,
                         orig_sending_time=time.time_ns())
            c.seq = 6
            await c.order("C6")
            assert (await c.expect("8")).get(11) == b"C6"
            assert acceptor.session("s1").store.next_target == 7
    run(main())


@pytest.mark.parametrize("how", ["flag", "setting"])
def test_reset_sequence_numbers_at_logon(run, tmp_path, app, how):
    async def main():
        s = [settings(reset_on_logon=how == "setting")]
        async with serve_acceptor(tmp_path, app, s) as (acceptor, port):
            c = await FixClient.connect(port)
            await c.logon()
            await c.order("C1")
            await c.expect("8")
            await c.logout()
            store = acceptor.session("s1").store
            assert (store.next_sender, store.next_target, len(store)) == (4, 4, 1)
            c = await FixClient.connect(port)
            reply = await c.logon(reset=how == "flag")
            assert reply.get(141) == b"Y" and reply.get(34) == b"1"
            assert (store.next_sender, store.next_target, len(store)) == (2, 2, 0)
            await c.order("C2")
            assert (await c.expect("8")).get(34) == b"2"
    run(main())


def test_logon_sending_time_out_of_tolerance(run, tmp_path, app):
    async def main():
        s = [settings(sending_time_tolerance_s=5)]
        async with serve_acceptor(tmp_path, app, s) as (acceptor, port):
            c = await FixClient.connect(port)
            await c.send("A", [(98, 0), (108, 30)], sending_time_ns=time.time_ns() - 60 * 10**9)
            assert (await c.expect("5")).get(58) == b"SendingTime accuracy problem"
            assert await c.expect_closed() == []
    run(main())


def test_many_bad_logons_do_not_block_a_good_one(run, tmp_path, app):
    """Unknown CompIDs cost a dummy scrypt each on the I/O thread; beyond max_authenticating
    at a time they are dropped at once, and a good logon still gets through."""
    async def main():
        s = [settings(password_hash=hash_password("pw", **CHEAP))]
        async with serve_acceptor(tmp_path, app, s, max_authenticating=2) as (acceptor, port):
            bad = [await FixClient.connect(port, sender=f"X{i}") for i in range(6)]
            for c in bad:
                await c.send("A", [(98, 0), (108, 30), (554, "guess")])
            for c in bad:
                assert await c.expect_closed() == []
            good = await FixClient.connect(port)
            await good.logon(password="pw")
    run(main())
