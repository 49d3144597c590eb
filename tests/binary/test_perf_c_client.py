"""The C round-trip client of `ordex perf binary` (perf/soup_pingpong.c via perf/binary_client.py)
against an in-process server: it logs in, gets one reply per order, reports a rejected order as
a failure, and logs out so that the user can log in again; the loopback floor runs alone."""
import asyncio
import shutil

import pytest

from binary_helpers import PASSWORD, binary_config, journal_commands, ouch, run, start
from ordex.gateway.binary import schema, soup
from ordex.perf import binary_client
from ordex.perf.binary import encode_orders
from ordex.perf.fix_load import LoadError

pytestmark = pytest.mark.skipif(not (shutil.which("cc") or shutil.which("gcc")),
                                reason="no C compiler")
REF_AT = schema.framed_dtype("ouch", "client", "EnterOrder").fields["UserRefNum"][1]


@pytest.fixture(scope="module")
def client_binary(tmp_path_factory):
    return binary_client.compile_client(tmp_path_factory.mktemp("c_client"))


def test_order_ack_one_reply_per_order_then_logout(tmp_path, client_binary):
    cfg = binary_config(tmp_path, durability="none")

    async def main():
        server, gw = await start(cfg)
        try:
            loop = asyncio.get_running_loop()
            login = soup.login_request("MM2", PASSWORD)
            lat = await loop.run_in_executor(None, binary_client.order_ack, client_binary,
                                             gw.port, login, encode_orders(1, 40, "MSFT"),
                                             REF_AT, tmp_path)
            assert len(lat) == 40 and (lat > 0).all()
            assert [int(r["clordid"][:10]) for r in journal_commands(server)] == \
                list(range(1, 41))
            # the same UserRefNums again: the server rejects them, the client says so
            with pytest.raises(LoadError, match="40 of 40 orders rejected"):
                await loop.run_in_executor(None, binary_client.order_ack, client_binary,
                                           gw.port, login, encode_orders(1, 40, "MSFT"),
                                           REF_AT, tmp_path)
            c = await ouch(gw, "MM2")          # logged out: the user may log in again
            c.close()
        finally:
            await server.stop()

    run("uvloop", main())


def test_a_wrong_password_fails_the_client(tmp_path, client_binary):
    cfg = binary_config(tmp_path, durability="none")

    async def main():
        server, gw = await start(cfg)
        try:
            with pytest.raises(LoadError, match="login rejected"):
                await asyncio.get_running_loop().run_in_executor(
                    None, binary_client.order_ack, client_binary, gw.port,
                    soup.login_request("MM2", "wrong"), encode_orders(1, 2, "MSFT"), REF_AT,
                    tmp_path)
        finally:
            await server.stop()

    run("uvloop", main())


def test_loopback_floor(tmp_path, client_binary):
    lat = binary_client.loopback_floor(client_binary, 200, 49, tmp_path)
    assert len(lat) == 200 and (lat > 0).all()
