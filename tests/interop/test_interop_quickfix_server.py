"""A real QuickFIX C++ initiator against `ordex serve`'s FIX gateway (server, engine, journal in
this process): it logs on, trades (its ExecutionReports pass QuickFIX's own FIX 4.4 dictionary
validation), is forced into a resend by a sequence gap, and reconnects after a server restart
with sequence numbers and orders intact."""
import dataclasses

from ordex.gateway import config as config_mod
from ordex.gateway.fix.gateway import FixGateway
from ordex.gateway.server import Server
from qfclient import QuickFixClient


def assert_quickfix_accepted_everything(qf):
    log = qf.log_text()
    assert "Rejected" not in log and qf.received("3") == [], log[-2000:]


async def start_server(cfg):
    server = Server(cfg)
    gw = FixGateway(cfg)
    server.gateways.append(gw)
    await server.start()
    return server, gw.port


def order(clordid, account, side, qty, price):
    return (f"send D 11={clordid} 1={account} 55=MSFT 54={side} 38={qty} 40=2 44={price} 59=1 "
            f"60=now")


def test_quickfix_trades_resends_and_survives_a_restart(run, tmp_path, initiator_binary):
    base = config_mod.parse(config_mod.default_text(), base_dir=tmp_path)
    cfg = dataclasses.replace(base, durability="fsync", fix_listen=("127.0.0.1", 0))

    async def main():
        server, port = await start_server(cfg)
        qf = await QuickFixClient.start(initiator_binary, tmp_path / "qf", port,
                                        sender="CLIENT1", target="ORDEX")
        try:
            await qf.cmd("logon")
            await qf.cmd(order("Q1", "DEMO1", 1, 10, "100.00"))
            await qf.cmd("wait 8 1")
            await qf.cmd(order("Q2", "DEMO2", 2, 4, "99.50"))
            await qf.cmd("wait 8 4")                    # New + two Trade reports
            ers = qf.received("8", "app")
            assert [(er[11], er[150], er[39]) for er in ers] == [
                ("Q1", "0", "0"), ("Q2", "0", "0"), ("Q2", "F", "2"), ("Q1", "F", "1")]
            assert ers[3][31] == "100.00" and ers[3][32] == "4" and ers[3][151] == "6"
            # QuickFIX forgets our last two messages: it must ask for them again and get them
            # as PossDup resends, then carry on.
            sender, target = (await qf.cmd("seq")).split()[2:]
            await qf.cmd(f"set_next_target {int(target) - 2}")
            await qf.cmd("send F 11=C1 41=Q1 55=MSFT 54=1 60=now")
            await qf.cmd("wait 8 7")                    # 2 resent + the cancel's report
            last = qf.received("8", "app")[-1]
            assert (last[150], last[41], last[11]) == ("4", "Q1", "C1")
            assert any(er.get(43) == "Y" for er in qf.received("8", "app"))
            assert_quickfix_accepted_everything(qf)
            await qf.cmd("disconnect")
        finally:
            await qf.close()
        await server.stop()

        server, port = await start_server(cfg)          # restart: journal + FIX store recovered
        assert server.recovered_commands >= 3
        qf = await QuickFixClient.start(initiator_binary, tmp_path / "qf", port,
                                        sender="CLIENT1", target="ORDEX")
        try:
            await qf.cmd("logon")
            assert await qf.cmd("seq") != "OK seq 1 1"   # QuickFIX's FileStore and ours agree
            await qf.cmd(order("Q3", "DEMO1", 1, 1, "98.00"))
            await qf.cmd("wait 8 1")
            er = qf.received("8", "app")[-1]
            assert (er[11], er[150]) == ("Q3", "0")
            await qf.cmd(order("Q1", "DEMO1", 1, 1, "98.00"))   # idempotent across the restart
            await qf.cmd("wait 8 2")
            er = qf.received("8", "app")[-1]
            assert (er[11], er[150], er[103]) == ("Q1", "8", "6")
            assert_quickfix_accepted_everything(qf)
            await qf.cmd("disconnect")
        finally:
            await qf.close()
        await server.stop()

    run(main())
