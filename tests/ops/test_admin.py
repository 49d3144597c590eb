"""Admin actions: refused without the token, sequenced commands with the admin actor when
authorised, journaled and replayed (the same state after a restart), bad requests answered."""
import argparse
import asyncio
import os
import stat

import numpy as np
import pytest

from fixclient import FixClient
from ops_helpers import (BUY, DEMO1, DEMO2, MSFT, SELL, TOKEN, Harness, ops_config, order,
                         run_on)
from ordex.core.commands import (ADMIN_SESSION, COMMAND_DTYPE, CommandKind, Flag, Limit, Scope,
                                 target)
from ordex.core.events import EventKind
from ordex.core.journal import read_journal
from ordex.core.reasons import Reason
from ordex.gateway import admin_cli
from ordex.gateway.admin import TOKEN_ENV, read_token, server_token


def journaled(cfg) -> np.ndarray:
    return np.frombuffer(b"".join(r[3] for r in read_journal(cfg.journal_dir)), dtype=COMMAND_DTYPE)


@pytest.mark.parametrize("loop_kind", ["asyncio", "uvloop"])
def test_unauthorised_requests_change_nothing(tmp_path, loop_kind):
    cfg = ops_config(tmp_path)

    async def scenario():
        h = await Harness.start(cfg)
        for token in (None, "wrong-token-0123456789", TOKEN + "x", TOKEN[:-1], ""):
            status, body = await h.http("POST", "/admin/halt", {"instrument": "MSFT"}, token=token)
            assert status == 401, token
        status, _ = await h.http("GET", "/admin/status", token="nope")
        assert status == 401
        # a Basic header carrying the token is not a Bearer token
        status, _ = await h.http("POST", "/admin/halt", raw=(
            f"POST /admin/halt HTTP/1.1\r\nAuthorization: Basic {TOKEN}\r\n"
            "Content-Length: 22\r\n\r\n{\"instrument\": \"MSFT\"}").encode())
        assert status == 401
        assert h.server.journal.next_seq == 1                  # nothing was sequenced
        assert (await h.submit(order("ok", BUY, 15000, 1)))[0]["kind"] == EventKind.NEW
        await h.stop()

    run_on(loop_kind, scenario)


def test_actions_are_journaled_with_the_admin_actor_and_replayed(tmp_path):
    cfg = ops_config(tmp_path)

    async def first():
        h = await Harness.start(cfg)
        await h.submit(order("b1", BUY, 15000, 10))
        await h.submit(order("s1", SELL, 16000, 5, account=DEMO2))
        await h.submit(order("d1", BUY, 14000, 2))
        r = await h.http("POST", "/admin/halt", {"instrument": "MSFT", "operator": "alice"})
        assert r[0] == 200 and r[1]["seq"] == 4
        rejected = await h.submit(order("h1", BUY, 15000, 1))
        assert rejected[0]["reason"] == Reason.INSTRUMENT_HALTED
        await h.action("resume", instrument="MSFT", operator="alice")
        ks = await h.action("kill-switch", account="DEMO1", on=True, operator="bob")
        assert sorted(e["reason"] for e in ks["events"]) == ["KILL_SWITCH_CANCEL"] * 2
        assert (await h.submit(order("k1", BUY, 15000, 1)))[0]["reason"] == Reason.ACCOUNT_KILL_SWITCH
        mc = await h.action("mass-cancel", account="DEMO2", operator="bob")
        assert mc["cancelled"] == 1
        await h.action("kill-switch", session="CLIENT1", on=True)
        assert (await h.submit(order("k2", SELL, 15000, 1, account=DEMO2)))[0]["reason"] == \
            Reason.SESSION_KILL_SWITCH
        await h.action("kill-switch", session="CLIENT1", on=False)
        await h.submit(order("d2", BUY, 14000, 2, account=DEMO2))
        closed = await h.action("close", instrument="MSFT")
        assert [e["kind"] for e in closed["events"]] == ["STATUS_CHANGED"]   # d2 is GTC: nothing expires
        state = h.server.engine.state_hash()
        await h.stop()
        return state

    async def second(state):
        h = await Harness.start(cfg)
        assert h.server.engine.state_hash() == state
        # the account kill switch is still on after the restart: it came back from the journal
        assert (await h.submit(order("k3", BUY, 15000, 1)))[0]["reason"] == \
            Reason.ACCOUNT_KILL_SWITCH
        await h.stop()

    state = run_on("asyncio", first)
    rows = journaled(cfg)
    admin = rows[np.isin(rows["kind"], (CommandKind.SET_STATUS, CommandKind.KILL_SWITCH,
                                        CommandKind.MASS_CANCEL))]
    assert admin["kind"].tolist() == [CommandKind.SET_STATUS, CommandKind.SET_STATUS,
                                      CommandKind.KILL_SWITCH, CommandKind.MASS_CANCEL,
                                      CommandKind.KILL_SWITCH, CommandKind.KILL_SWITCH,
                                      CommandKind.SET_STATUS]
    assert admin["clordid"].tolist() == [b"adm:alice", b"adm:alice", b"adm:bob", b"adm:bob",
                                         b"adm:admin", b"adm:admin", b"adm:admin"]
    # the admin is always the actor; a session kill switch names CLIENT1 (id 0) as its target
    assert admin["session"].tolist() == [ADMIN_SESSION] * 7
    assert admin["target_session"].tolist() == [0, 0, 0, 0, target(0), target(0), 0]
    assert admin["status"].tolist()[:2] == [1, 0] and admin["status"][-1] == 2
    assert admin["flags"][2] == Flag.ON and admin["flags"][5] == 0
    assert admin["scope"][3] == Scope.ACCOUNT and admin["account"][3] == DEMO2
    run_on("asyncio", lambda: second(state))


def test_bad_requests_are_answered_and_change_nothing(tmp_path):
    cfg = ops_config(tmp_path)

    async def scenario():
        h = await Harness.start(cfg)
        cases = [
            ("POST", "/admin/halt", {"instrument": "NOPE"}, 404),
            ("POST", "/admin/halt", {}, 400),
            ("POST", "/admin/halt", {"instrument": "MSFT", "extra": 1}, 400),
            ("POST", "/admin/halt", {"instrument": 5}, 400),
            ("POST", "/admin/halt", ["MSFT"], 400),
            ("POST", "/admin/kill-switch", {"account": "DEMO1"}, 400),
            ("POST", "/admin/kill-switch", {"account": "DEMO1", "on": "yes"}, 400),
            ("POST", "/admin/kill-switch", {"account": "DEMO1", "session": "CLIENT1", "on": True}, 400),
            ("POST", "/admin/mass-cancel", {}, 400),
            ("POST", "/admin/mass-cancel", {"all": True, "account": "DEMO1"}, 400),
            ("POST", "/admin/mass-cancel", {"account": "GHOST"}, 404),
            ("POST", "/admin/halt", {"instrument": "MSFT", "operator": "rm -rf /"}, 400),
            ("POST", "/admin/launch-missiles", {}, 404),
            ("GET", "/admin/halt", None, 405),
            ("POST", "/metrics", None, 405),
            ("GET", "/nothing", None, 404),
            ("POST", "/admin/disconnect", {"session": "NOBODY"}, 404),
            ("POST", "/admin/disconnect", {"session": "CLIENT1", "reason": "x" * 25}, 400),
            ("POST", "/admin/set-limit", {"limit": "max_fun", "value": "1", "instrument": "MSFT"}, 400),
            ("POST", "/admin/set-limit", {"limit": "max_notional", "value": "1"}, 400),
            ("POST", "/admin/set-limit", {"limit": "max_notional", "value": "1",
                                          "instrument": "MSFT", "account": "DEMO1"}, 400),
            ("POST", "/admin/set-limit", {"limit": "max_notional", "value": 1.5,
                                          "instrument": "MSFT"}, 400),
            ("POST", "/admin/set-limit", {"limit": "max_notional", "value": "-1",
                                          "instrument": "MSFT"}, 400),
            ("POST", "/admin/set-limit", {"limit": "max_notional", "value": "0.00001",
                                          "instrument": "MSFT"}, 400),      # finer than a cent
            ("POST", "/admin/set-limit", {"limit": "max_order_qty", "value": "1.5",
                                          "instrument": "MSFT"}, 400),      # whole shares
            ("POST", "/admin/set-limit", {"limit": "max_notional", "value": "1e30",
                                          "instrument": "MSFT"}, 400),      # beyond 64 bits
            ("POST", "/admin/set-limit", {"limit": "max_notional", "value": "five",
                                          "instrument": "MSFT"}, 400),
            ("POST", "/admin/set-limit", {"limit": "max_notional", "value": "5",
                                          "instrument": "GHOST"}, 404),
            ("POST", "/admin/set-limit", {"limit": "max_position", "value": "5",
                                          "instrument": "MSFT", "account": "GHOST"}, 404),
            ("POST", "/admin/set-limit", {"limit": "max_orders_per_sec", "value": "5",
                                          "session": "GHOST"}, 404),
        ]
        for method, path, body, want in cases:
            status, answer = await h.http(method, path, body)
            assert status == want, (path, body, status, answer)
            assert "error" in answer
        raw_cases = [
            (b"GARBAGE\r\n\r\n", 400),
            (b"POST /admin/halt HTTP/1.1\r\nAuthorization: Bearer " + TOKEN.encode()
             + b"\r\nContent-Length: 5\r\n\r\n{nope", 400),
            (b"POST /admin/halt HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n", 413),
            (b"POST /admin/halt HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 411),
            (b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 9000 + b"\r\n\r\n", 431),
            (b"GET /metrics SPDY/3\r\n\r\n", 400),
        ]
        for raw, want in raw_cases:
            status, _ = await h.http(None, None, raw=raw)
            assert status == want, raw[:40]
        assert h.server.journal.next_seq == 1
        assert (await h.http("GET", "/healthz", token=None))[0] == 200
        await h.stop()

    run_on("asyncio", scenario)


def test_set_limit_is_journaled_enforced_audited_and_survives_a_restart(tmp_path):
    cfg = ops_config(tmp_path)

    async def first():
        h = await Harness.start(cfg)
        status, _ = await h.http("POST", "/admin/set-limit", {
            "limit": "max_order_qty", "value": "10", "instrument": "MSFT"}, token="wrong-token-xyz")
        assert status == 401 and h.server.journal.next_seq == 1       # unauthorised: nothing
        assert (await h.submit(order("b0", BUY, 15000, 11)))[0]["kind"] == EventKind.NEW
        r = await h.action("set-limit", limit="max_order_qty", value="10", instrument="MSFT",
                           operator="erin")
        assert (r["grid_value"], r["previous_grid_value"]) == (10, 100000)
        assert [e["kind"] for e in r["events"]] == ["LIMIT_SET"]
        assert (await h.submit(order("b1", BUY, 15000, 11)))[0]["reason"] == Reason.QTY_ABOVE_MAX
        assert (await h.submit(order("b2", BUY, 15000, 10)))[0]["kind"] == EventKind.NEW
        # a position limit per account and instrument, in shares: DEMO1 already bought 21 MSFT
        await h.action("set-limit", limit="max_position", value="25", account="DEMO1",
                       instrument="MSFT", operator="erin")
        assert (await h.submit(order("b3", BUY, 15000, 5)))[0]["reason"] == Reason.POSITION_LIMIT
        # a notional limit in the currency (USD, cents on the grid)
        await h.action("set-limit", limit="max_notional", value="300.00", instrument="MSFT")
        assert (await h.submit(order("b4", BUY, 15001, 2, account=DEMO2)))[0]["reason"] == \
            Reason.NOTIONAL_ABOVE_MAX
        # the engine refuses what it cannot apply: journaled, answered, nothing changed
        before = h.server.engine.limits()
        status, body = await h.http("POST", "/admin/set-limit", {
            "limit": "collar_bps", "value": "10001", "instrument": "MSFT"})
        assert status == 400 and "INVALID_LIMIT_VALUE" in body["error"]
        assert h.server.engine.limits() == before
        await h.action("set-limit", limit="max_orders_per_sec", value="2", session="CLIENT1")
        state, limits = h.server.engine.state_hash(), h.server.engine.limits()
        await h.stop()
        return state, limits

    async def second(state, limits):
        h = await Harness.start(cfg)                   # recovered from the journal
        assert h.server.engine.state_hash() == state and h.server.engine.limits() == limits
        assert (await h.submit(order("b5", BUY, 15000, 11, account=DEMO2)))[0]["reason"] == \
            Reason.QTY_ABOVE_MAX
        await h.stop()

    state, limits = run_on("asyncio", first)
    usd = cfg.reference.currencies["USD"].cash_increment
    assert limits[0][MSFT][:3] == (10, int(300 / usd), 1000) and limits[1][DEMO1][MSFT] == 25
    assert limits[2][0] == 2
    rows = journaled(cfg)
    sets = rows[rows["kind"] == CommandKind.SET_LIMIT]
    assert sets["status"].tolist() == [Limit.MAX_ORDER_QTY, Limit.MAX_POSITION, Limit.MAX_NOTIONAL,
                                       Limit.COLLAR_BPS, Limit.THROTTLE]
    assert sets["qty"].tolist() == [10, 25, int(300 / usd), 10001, 2]
    assert (sets["session"] == ADMIN_SESSION).all()
    assert sets["clordid"].tolist()[:2] == [b"adm:erin", b"adm:erin"]
    assert sets["target_session"].tolist() == [0, 0, 0, 0, target(0)]
    run_on("asyncio", lambda: second(state, limits))
    # audited with its actor, the limit by name and the value in the operator's units
    from ordex.core.audit import AuditQuery, audit
    from ordex.core.journal import read_journal as rj
    entries = list(audit(cfg.reference, lambda: rj(cfg.journal_dir), AuditQuery(account=DEMO1)))
    lines = [e for e in entries if e["kind"] in ("SET_LIMIT", "LIMIT_SET")]
    assert lines[0] == {**lines[0], "actor": "admin:erin", "limit": "MAX_POSITION",
                        "account": "DEMO1", "instrument": "MSFT", "value": "25"}
    assert lines[1]["kind"] == "LIMIT_SET" and lines[1]["previous"] == "50000"


def test_disconnect_is_journaled_then_logs_the_session_out(tmp_path, caplog):
    cfg = ops_config(tmp_path)

    async def scenario():
        h = await Harness.start(cfg, with_fix=True)
        c = await FixClient.connect(h.fix.port, sender="CLIENT1", target="ORDEX")
        await c.logon()
        await c.send(b"D", [(11, "R1"), (1, "DEMO1"), (55, "MSFT"), (54, "1"), (38, "3"),
                            (40, "2"), (44, "140.00"), (59, "1"), (60, "20261122-10:00:00.000")])
        await c.expect(b"8")
        status, body = await h.http("GET", "/admin/status")
        assert status == 200 and body["fix_sessions"][0]["logged_on"] is True
        result = await h.action("disconnect", session="CLIENT1", reason="end of day",
                                operator="carol")
        assert result["journaled"] is True and result["connected"] is True
        assert [e["kind"] for e in result["events"]] == ["DISCONNECT"]
        logout = await c.expect(b"5")
        assert b"end of day (carol)" in logout.get(58)
        await c.send(b"5")
        for _ in range(200):
            if not h.fix.acceptor.session("CLIENT1").logged_on and h.server.durable_seq >= 3:
                break
            await asyncio.sleep(0.01)
        rows = journaled(cfg)
        assert rows["kind"].tolist() == [CommandKind.NEW_ORDER, CommandKind.DISCONNECT,
                                         CommandKind.MASS_CANCEL]
        assert rows["session"][1] == ADMIN_SESSION and rows["target_session"][1] == target(0)
        assert rows["clordid"][1] == b"adm:carol" and rows["orig_clordid"][1] == b"end of day"
        assert rows["clordid"][2] == b"cancel-on-disconnect"
        # not logged on any more: still journaled (an operator's act), nothing to log out
        result = await h.action("disconnect", session="CLIENT1")
        assert result["connected"] is False
        c.close()
        await h.stop()
        return h.server.engine.state_hash()

    state = run_on("asyncio", scenario)
    lines = [r for r in caplog.records if getattr(r, "action", None) == "DISCONNECT"]
    assert lines and lines[0].operator == "carol" and lines[0].actor == "admin"

    async def replay():
        # a restart replays the DISCONNECT: same state, and nobody is logged out
        h = await Harness.start(cfg, with_fix=True)
        assert h.server.engine.state_hash() == state
        c = await FixClient.connect(h.fix.port, sender="CLIENT1", target="ORDEX")
        await c.logon(reset=True)
        await c.send(b"D", [(11, "R2"), (1, "DEMO1"), (55, "MSFT"), (54, "1"), (38, "3"),
                            (40, "2"), (44, "140.00"), (59, "1"), (60, "20261122-10:00:00.000")])
        assert (await c.expect(b"8")).get(11) == b"R2"
        assert h.fix.acceptor.session("CLIENT1").logged_on
        c.close()
        await h.stop()

    run_on("asyncio", replay)


def test_cli_talks_to_the_listener(tmp_path, capsys):
    cfg = ops_config(tmp_path)

    def cli(port, *argv, token=TOKEN):
        p = argparse.ArgumentParser()
        admin_cli.add_arguments(p)
        base = ["--url", f"http://127.0.0.1:{port}", "--operator", "dave"]
        if token:
            base += ["--token", token]
        return admin_cli.run(p.parse_args(base + list(argv)))

    async def scenario():
        h = await Harness.start(cfg)
        loop = asyncio.get_running_loop()
        port = h.admin.port
        await h.submit(order("b1", BUY, 15000, 10))
        call = lambda *a, **kw: loop.run_in_executor(None, lambda: cli(port, *a, **kw))
        assert await call("halt", "MSFT") == 0
        assert await call("mass-cancel", "--account", "DEMO1") == 0
        assert await call("kill-switch", "on", "--session", "CLIENT1") == 0
        assert await call("halt", "MSFT", token="not-the-token-at-all") == 1
        assert await call("halt", "NOPE") == 1
        assert await call("set-limit", "max_position", "5", "--account", "DEMO1",
                          "--instrument", "MSFT") == 0
        assert await call("set-limit", "max_fun", "5", "--instrument", "MSFT") == 1
        assert await call("set-limit", "max_notional", "5", "--instrument", "NOPE") == 1
        assert await call("ready", token=None) == 0
        assert await call("status") == 0
        assert await call("metrics", token=None) == 0
        rows = journaled(cfg)
        assert rows["kind"].tolist()[1:] == [CommandKind.SET_STATUS, CommandKind.MASS_CANCEL,
                                            CommandKind.KILL_SWITCH, CommandKind.SET_LIMIT]
        assert h.server.engine.limits()[1][DEMO1][MSFT] == 5
        assert set(rows["clordid"][1:].tolist()) == {b"adm:dave"}
        await h.stop()
        return port

    port = run_on("asyncio", scenario)
    out = capsys.readouterr()
    assert '"cancelled": 1' in out.out and "ordex_commands_total" in out.out
    assert "401" in out.err and "unknown limit 'max_fun'" in out.err and "NOPE" in out.err
    p = argparse.ArgumentParser()
    admin_cli.add_arguments(p)
    assert admin_cli.run(p.parse_args(["--url", f"http://127.0.0.1:{port}", "--token", TOKEN,
                                       "status"])) == 2        # nothing listens any more


def test_token_sources(tmp_path):
    cfg = ops_config(tmp_path, admin_token=None)
    token, where = server_token(cfg, environ={})
    path = tmp_path / "ordex-data" / "admin.token"
    assert where == str(path) and path.read_text().strip() == token and len(token) >= 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert server_token(cfg, environ={})[0] == token             # reused, not replaced
    assert read_token(cfg, environ={}) == token
    assert server_token(cfg, environ={TOKEN_ENV: "from-the-environment-123"})[0] == \
        "from-the-environment-123"
    with pytest.raises(ValueError, match="at least 16"):
        server_token(cfg, environ={TOKEN_ENV: "short"})
    explicit = ops_config(tmp_path, admin_token=None, admin_token_file=tmp_path / "missing")
    with pytest.raises(ValueError, match="missing"):
        server_token(explicit, environ={})


def test_connections_are_bounded_and_slow_clients_time_out(tmp_path, monkeypatch):
    from ordex.gateway import admin as admin_mod
    monkeypatch.setattr(admin_mod, "MAX_CONNECTIONS", 2)
    monkeypatch.setattr(admin_mod, "REQUEST_TIMEOUT_S", 1.0)
    cfg = ops_config(tmp_path)

    async def scenario():
        h = await Harness.start(cfg)
        idle = [await asyncio.open_connection("127.0.0.1", h.admin.port) for _ in range(2)]
        await asyncio.sleep(0.2)                             # both are being served
        r, w = await asyncio.open_connection("127.0.0.1", h.admin.port)
        assert await r.read() == b""                       # over the limit: closed unanswered
        w.close()
        for reader, writer in idle:                         # the idle ones time out: 408
            assert b" 408 " in (await reader.read())[:20]
            writer.close()
        assert (await h.http("GET", "/healthz", token=None))[0] == 200
        await h.stop()

    run_on("asyncio", scenario)
