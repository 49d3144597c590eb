"""Interop with an independent OUCH 5.0 / SoupBinTCP implementation: the PyPI package ouch-connect
(Rust, with links_connect) logs in, enters, replaces, cancels and receives executions against the
server running in-process, over a real socket.  Its layouts differ from the published ones in
two places (9-byte symbols, an extra OrigUserRefNum in Order Canceled), so its user is configured
with dialect = "ouch-connect"; everything else is the standard protocol."""
import asyncio
import importlib
import os

import pytest

from binary_helpers import PASSWORD, binary_config, ouch, run, settle, start

def _peer(module: str):
    """The independent peer must run in CI (it is in the test extra); elsewhere, say why not."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"OUCH interop cannot run in CI: {e} (pip install -e '.[test]' installs "
                        "ouch-connect)", pytrace=False)
        pytest.skip(f"OUCH interop: {e}", allow_module_level=True)


ouch_connect = _peer("ouch_connect")
callbacks = _peer("links_connect.callbacks")


def _enter(ref, side, qty, price, clordid):
    return {"UPayload": {"EnterOrder": {
        "user_ref_number": ref, "side": side, "quantity": qty, "symbol": "MSFT", "price": price,
        "time_in_force": "MARKET_HOURS", "display": "VISIBLE", "capacity": "AGENCY",
        "int_mkt_sweep_eligibility": "ELIGIBLE", "cross_type": "CONTINUOUS_MARKET",
        "clt_order_id": clordid, "appendages": {}}}}


def ouch_connect_session(port: int) -> dict:
    """Runs on a worker thread: ouch-connect's client is blocking."""
    store = callbacks.MemoryStoreCallback(default_find_timeout=10.0)
    got = {}

    def find(kind, **fields):
        entry = store.find_recv("oc", {"SPayload": {kind: fields}})
        assert entry is not None, f"no {kind} {fields} received; got:\n{store}"
        return entry.msg["SPayload"][kind]

    with ouch_connect.CltAuto(f"127.0.0.1:{port}", store, name="oc", username="OC1",
                              password=PASSWORD, session_id="", io_timeout=5.0) as clt:
        assert clt.is_connected(5.0)
        got["system"] = find("SystemEvent")
        clt.send(_enter(1, "BUY", 10, 150.00, "OC-B1"))
        got["accepted"] = find("OrderAccepted", user_ref_number=1)
        clt.send({"UPayload": {"ReplaceOrder": {
            "orig_user_ref_number": 1, "user_ref_number": 2, "quantity": 8, "price": 150.01,
            "time_in_force": "MARKET_HOURS", "display": "VISIBLE",
            "int_mkt_sweep_eligibility": "ELIGIBLE", "clt_order_id": "OC-R2", "appendages": {}}}})
        got["replaced"] = find("OrderReplaced", user_ref_number=2)
        clt.send(_enter(3, "BUY", 5, 151.00, "OC-B3"))           # takes MM2's resting offer
        got["taker"] = find("OrderExecuted", user_ref_number=3)
        clt.send({"UPayload": {"CancelOrder": {"user_ref_number": 2, "quantity": 0}}})
        got["canceled"] = find("OrderCanceled", user_ref_number=2)
        clt.send(_enter(3, "BUY", 1, 150.00, "OC-DUP"))          # UserRefNum not increasing
        got["rejected"] = find("OrderRejected", user_ref_number=3)
        clt.send({"UPayload": {"CancelOrder": {"user_ref_number": 2, "quantity": 0}}})
        got["cancel_reject"] = find("CancelReject", user_ref_number=2)
    return got


@pytest.mark.parametrize("loop_kind", ["uvloop"])
def test_ouch_connect_enters_replaces_cancels_and_gets_executions(tmp_path, loop_kind):
    cfg = binary_config(tmp_path)

    async def main():
        server, gw = await start(cfg)
        mm2 = await ouch(gw, "MM2")
        mm2.enter(1, "S", 3, "MSFT", 1_510_000, clordid="MM2-S1")
        await mm2.expect("OrderAccepted", UserRefNum=1)
        got = await asyncio.get_running_loop().run_in_executor(None, ouch_connect_session, gw.port)
        maker = await mm2.expect("OrderExecuted", UserRefNum=1)
        await settle(server)
        mm2.close()
        await server.stop()
        return got, maker

    got, maker = run(loop_kind, main())
    assert got["system"]["event_code"] == "START_OF_DAY"
    acc = got["accepted"]
    assert (acc["side"], acc["quantity"], acc["symbol"], acc["price"], acc["clt_order_id"]) == (
        "BUY", 10, "MSFT", 150.0, "OC-B1")
    assert acc["order_state"] == "LIVE" and acc["order_reference_number"] > 0
    rep = got["replaced"]
    assert (rep["orig_user_ref_number"], rep["quantity"], rep["price"], rep["clt_order_id"]) == (
        1, 8, 150.01, "OC-R2")
    taker = got["taker"]
    assert (taker["quantity"], taker["price"], taker["liquidity_flag"]) == (3, 151.0, "REMOVED")
    assert maker["Quantity"] == 3 and maker["LiquidityFlag"] == b"A"
    assert maker["MatchNumber"] == taker["match_number"]
    can = got["canceled"]
    assert (can["quantity"], can["cancel_reason"]) == (8, "USER_REQUESTED")
    assert got["rejected"]["reject_reason"] == 0x2B
