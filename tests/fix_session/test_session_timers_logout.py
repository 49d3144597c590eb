"""Heartbeat and TestRequest timers; the Logout handshake from either side; TLS."""
import asyncio
import shutil
import ssl
import subprocess

import pytest

from fixclient import FixClient, serve_acceptor


def test_heartbeat_when_idle_and_test_request_answered(run, tmp_path, app):
    async def main():
        async with serve_acceptor(tmp_path, app) as (acceptor, port):
            c = await FixClient.connect(port)
            await c.logon(hb=1)
            hb = await c.expect("0", timeout=3)            # we said nothing: they still beat
            assert hb.get(112) is None
            await c.send("1", [(112, "T-42")])
            assert (await c.expect("0", skip=())).get(112) == b"T-42"
    run(main())


def test_silence_gets_test_request_then_disconnect(run, tmp_path, app):
    async def main():
        async with serve_acceptor(tmp_path, app) as (acceptor, port):
            c = await FixClient.connect(port)
            await c.logon(hb=1)
            # Answering the first TestRequest keeps the session alive ...
            tr = await c.expect("1", timeout=3)
            await c.send("0", [(112, tr.get(112))])
            # ... ignoring the next one ends it.
            tr2 = await c.expect("1", timeout=3)
            assert tr2.get(112) != tr.get(112)
            rest = await c.expect_closed(timeout=5)
            assert all(m.message_type == b"0" for m in rest)
            assert app.logouts == [("s1", "heartbeat timeout")]
            assert not acceptor.session("s1").logged_on
    run(main())


def test_acceptor_close_logs_sessions_out(run, tmp_path, app):
    async def main():
        async with serve_acceptor(tmp_path, app) as (acceptor, port):
            c = await FixClient.connect(port)
            await c.logon()
            closing = asyncio.ensure_future(acceptor.close(timeout_s=5))
            logout = await c.expect("5")
            assert logout.get(58) == b"server shutting down"
            await c.send("5")
            assert await c.expect_closed() == []
            await closing
            assert app.logouts == [("s1", "logout")]
            store = acceptor.session("s1").store
            assert store.closed and store.next_target == 3 and store.next_sender == 3
    run(main())


def test_unanswered_logout_closes_after_timeout(run, tmp_path, app):
    async def main():
        async with serve_acceptor(tmp_path, app) as (acceptor, port):
            c = await FixClient.connect(port)
            await c.logon()
            acceptor.session("s1").logout("end of day", timeout_s=0.2)
            assert (await c.expect("5")).get(58) == b"end of day"
            assert await c.expect_closed() == []
            assert app.logouts == [("s1", "logout not answered")]
    run(main())


def test_send_after_close_raises(run, tmp_path, app):
    from ordex.gateway.fix.session import SessionClosed

    async def main():
        async with serve_acceptor(tmp_path, app) as (acceptor, port):
            pass
        with pytest.raises(SessionClosed):
            acceptor.session("s1").send(b"j", [(45, 1), (380, 0)])
    run(main())


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("openssl command not available to make a test certificate")
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem")],
                   check=True, capture_output=True)
    return d / "cert.pem", d / "key.pem"


def test_tls_listener(run, tmp_path, app, tls_files):
    from fixclient import settings
    from ordex.gateway.fix.session import FixAcceptor

    cert, key = tls_files
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(cert))

    async def main():
        acceptor = FixAcceptor([settings()], tmp_path / "store", app)
        server = await acceptor.serve("127.0.0.1", 0, ssl=server_ctx)
        port = server.sockets[0].getsockname()[1]
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_ctx)
            c = FixClient(reader, writer)
            await c.logon()
            await c.order("T1")
            assert (await c.expect("8")).get(11) == b"T1"
            await c.logout()
        finally:
            await acceptor.close(timeout_s=0.5)
    run(main())
