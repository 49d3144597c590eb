"""An operator's DISCONNECT of a binary (OUCH) user: journaled, then its connection ends with End
of Session, and its cancel on disconnect follows as for any disconnect."""
import asyncio
import dataclasses

import numpy as np

from binary_helpers import binary_config, ouch, start
from ops_helpers import TOKEN, Harness, run_on
from ordex.core.commands import ADMIN_SESSION, COMMAND_DTYPE, CommandKind, target
from ordex.core.journal import read_journal
from ordex.gateway.admin import AdminGateway
from ordex.gateway.binary.gateway import BinaryGateway
from ordex.gateway.server import Server


def test_disconnect_ends_an_ouch_users_connection(tmp_path):
    cfg = dataclasses.replace(binary_config(tmp_path, mm1='cancel_on_disconnect = "all"'),
                              admin_listen=("127.0.0.1", 0), admin_token=TOKEN)
    mm1_sid = next(s.id for s in cfg.reference.sessions if s.name == "MM1")

    async def scenario():
        h = Harness(cfg)                             # its HTTP helpers, on this server
        h.server, h.admin, gw = Server(cfg), AdminGateway(cfg, environ={}), BinaryGateway(cfg)
        h.server.gateways += [h.admin, gw]
        await h.server.start()
        mm1 = await ouch(gw, "MM1")
        mm1.enter(3, "B", 7, "MSFT", 1_480_000)
        await mm1.expect("OrderAccepted", UserRefNum=3)
        result = await h.action("disconnect", session="MM1", reason="risk review",
                                operator="zoe")
        assert result["connected"] is True
        await mm1.expect("EndOfSession")
        await asyncio.wait_for(mm1.closed, 5)
        for _ in range(500):                         # its cancel on disconnect, once durable
            if h.server.durable_seq >= 3 and not h.server.engine.state()[2]:
                break
            await asyncio.sleep(0.01)
        assert h.server.engine.state()[2] == ()
        await h.server.stop()

    run_on("asyncio", scenario)
    rows = np.frombuffer(b"".join(r[3] for r in read_journal(cfg.journal_dir)), dtype=COMMAND_DTYPE)
    assert rows["kind"].tolist() == [CommandKind.NEW_ORDER, CommandKind.DISCONNECT,
                                     CommandKind.MASS_CANCEL]
    assert rows["session"][1] == ADMIN_SESSION and rows["target_session"][1] == target(mm1_sid)
    assert rows["orig_clordid"][1] == b"risk review" and rows["clordid"][1] == b"adm:zoe"
    assert rows["session"][2] == mm1_sid and rows["clordid"][2] == b"cancel-on-disconnect"
