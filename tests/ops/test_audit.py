"""ordex audit: the lifecycle of orders through every path, reproduced from the journal, with the
actor of every command; selection by order id, (session, clordid) and account, time windows."""
import argparse
import json

import pytest

from ops_helpers import lifecycle_journal, ops_config, run_on
from ordex.core.audit import AuditError, AuditQuery, audit, format_time, parse_time
from ordex.core.journal import read_journal
from ordex.gateway import audit_cli


@pytest.fixture(scope="module")
def journal(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("audit")
    cfg = ops_config(tmp)
    made = run_on("asyncio", lambda: lifecycle_journal(cfg))
    config_file = tmp / "ordex.toml"
    from ordex.gateway import config as config_mod
    config_file.write_text(config_mod.default_text())
    return cfg, made["ids"], config_file


def trail(cfg, **query):
    return list(audit(cfg.reference, lambda: read_journal(cfg.journal_dir), AuditQuery(**query)))


def steps(entries):
    """(type, actor or '', kind, reason) per entry: the shape of a lifecycle."""
    return [(e["type"][0], e["actor"] if e["type"] == "command" else "", e["kind"],
             e.get("reason", "")) for e in entries]


C, E = "c", "e"
PATHS = {
    # partially filled, cancelled by the user, a late cancel rejected
    "b1": [(C, "CLIENT1", "NEW_ORDER", ""), (E, "", "NEW", ""),
           (C, "CLIENT1", "NEW_ORDER", ""), (E, "", "TRADE", ""),
           (C, "CLIENT1", "CANCEL", ""), (E, "", "CANCELLED", "USER_CANCEL"),
           (C, "CLIENT1", "CANCEL", ""), (E, "", "CANCEL_REJECTED", "ORDER_DONE")],
    # IOC filled at once
    "s1": [(C, "CLIENT1", "NEW_ORDER", ""), (E, "", "NEW", ""), (E, "", "TRADE", "")],
    # replaced, then filled
    "b2": [(C, "CLIENT1", "NEW_ORDER", ""), (E, "", "NEW", ""),
           (C, "CLIENT1", "REPLACE", ""), (E, "", "REPLACED", ""),
           (C, "CLIENT1", "NEW_ORDER", ""), (E, "", "TRADE", "")],
    # risk reject
    "big": [(C, "CLIENT1", "NEW_ORDER", ""), (E, "", "REJECTED", "NOTIONAL_ABOVE_MAX")],
    # IOC remainder
    "s3": [(C, "CLIENT1", "NEW_ORDER", ""), (E, "", "NEW", ""),
           (E, "", "CANCELLED", "IOC_REMAINDER")],
    # DAY order expired by an operator closing the instrument
    "d1": [(C, "CLIENT1", "NEW_ORDER", ""), (E, "", "NEW", ""),
           (C, "admin:olivia", "SET_STATUS", ""), (E, "", "EXPIRED", "SESSION_CLOSE")],
    # stop: pending, triggered by another pair's trade, filled
    "st1": [(C, "CLIENT1", "NEW_ORDER", ""), (E, "", "PENDING_TRIGGER", ""),
            (C, "CLIENT1", "NEW_ORDER", ""), (E, "", "TRIGGERED", ""), (E, "", "TRADE", "")],
    # cancelled by an account kill switch, then refused while it is on
    "k1": [(C, "CLIENT1", "NEW_ORDER", ""), (E, "", "NEW", ""),
           (C, "admin:kim", "KILL_SWITCH", ""), (E, "", "CANCELLED", "KILL_SWITCH_CANCEL")],
    "k2": [(C, "CLIENT1", "NEW_ORDER", ""), (E, "", "REJECTED", "ACCOUNT_KILL_SWITCH")],
    # cancelled by an operator's mass cancel
    "m1": [(C, "CLIENT1", "NEW_ORDER", ""), (E, "", "NEW", ""),
           (C, "admin:kim", "MASS_CANCEL", ""), (E, "", "CANCELLED", "MASS_CANCEL")],
    "h1": [(C, "CLIENT1", "NEW_ORDER", ""), (E, "", "REJECTED", "INSTRUMENT_HALTED")],
    # GTD expired by the scheduler's timer
    "g1": [(C, "CLIENT1", "NEW_ORDER", ""), (E, "", "NEW", ""),
           (C, "system", "TIMER", ""), (E, "", "EXPIRED", "GTD_EXPIRED")],
}


@pytest.mark.parametrize("clordid", sorted(PATHS))
def test_every_lifecycle_path_by_order_id(journal, clordid):
    cfg, ids, _ = journal
    entries = trail(cfg, order_ids={ids[clordid]})
    assert steps(entries) == PATHS[clordid]
    events = [e for e in entries if e["type"] == "event"]
    assert all(e["order_id"] == ids[clordid] for e in events)
    # events carry their command's time and seq; times never go backwards
    assert [e["ts_ns"] for e in entries] == sorted(e["ts_ns"] for e in entries)
    last = events[-1]
    assert last["state"] in ("FILLED", "CANCELLED", "REJECTED", "EXPIRED")


def test_fill_details_are_exact_decimals(journal):
    cfg, ids, _ = journal
    trade = [e for e in trail(cfg, order_ids={ids["b1"]}) if e["kind"] == "TRADE"][0]
    assert (trade["last_px"], trade["last_qty"], trade["leaves"], trade["cum_qty"]) == \
        ("150.00", "4", "6", "4")
    assert trade["liquidity"] == "MAKER" and trade["contra_order_id"] == ids["s1"]


def test_by_clordid_follows_replaces_and_shows_duplicates(journal):
    cfg, ids, _ = journal
    sid = 0
    # "r2" only named the order after its replace: the whole life of order b2 still shows
    assert steps(trail(cfg, clordid=b"r2", session=sid)) == PATHS["b2"]
    # "b1" was used twice: the order, and a later duplicate rejected with order id 0
    entries = trail(cfg, clordid=b"b1", session=sid)
    dup = [e for e in entries if e.get("reason") == "DUPLICATE_CLORDID"]
    assert len(dup) == 1 and dup[0]["order_id"] == 0
    assert steps([e for e in entries if e not in dup])[:2] == PATHS["b1"][:2]


def test_by_account_includes_admin_actions_on_it_and_time_windows(journal):
    cfg, ids, _ = journal
    entries = trail(cfg, account=1)                                     # DEMO2
    assert {e["account"] for e in entries if e["type"] == "event"} == {"DEMO2"}
    admin = [e for e in entries if e["type"] == "command" and e["actor"].startswith("admin")]
    assert [(e["actor"], e["kind"], e.get("account")) for e in admin] == [
        ("admin:kim", "MASS_CANCEL", "DEMO2")]
    middle = [e for e in entries if e["type"] == "command"][2]
    window = trail(cfg, account=1, from_ns=middle["ts_ns"], to_ns=middle["ts_ns"])
    assert {e["seq"] for e in window} == {middle["seq"]}
    assert trail(cfg, account=1, from_ns=entries[-1]["ts_ns"] + 1) == []


def test_query_errors():
    with pytest.raises(AuditError):
        AuditQuery().check()
    with pytest.raises(AuditError):
        AuditQuery(order_ids={1}, account=0).check()
    with pytest.raises(AuditError):
        AuditQuery(clordid=b"x").check()
    with pytest.raises(AuditError):
        parse_time("yesterday-ish")
    assert parse_time("1970-01-01T00:00:01.5Z") == 1_500_000_000
    assert parse_time("2026-03-02") == parse_time("2026-03-02T00:00:00+00:00")
    assert parse_time("2026-03-02T01:00:00+01:00") == parse_time("2026-03-02")
    assert format_time(1_500_000_000) == "1970-01-01T00:00:01.500000000Z"


def cli(*argv):
    p = argparse.ArgumentParser()
    audit_cli.add_arguments(p)
    return audit_cli.run(p.parse_args(list(argv)))


def test_cli(journal, capsys):
    cfg, ids, config_file = journal
    src = ["--config", str(config_file), "--journal", str(cfg.journal_dir)]
    assert cli("--order", str(ids["k1"]), *src) == 0
    out = capsys.readouterr().out.splitlines()
    assert "admin:kim" in out[2] and "KILL_SWITCH" in out[2]
    assert "KILL_SWITCH_CANCEL" in out[3] and "(kill switch cancel)" in out[3]
    assert cli("--clordid", "m1", "--session", "CLIENT1", "--json", *src) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["kind"] for x in lines] == ["NEW_ORDER", "NEW", "MASS_CANCEL", "CANCELLED"]
    assert cli("--account", "DEMO2", "--from", "2000-01-01", "--to", "2000-01-02", *src) == 1
    assert cli("--order", "999999", *src) == 1
    capsys.readouterr()
    assert cli("--clordid", "m1", *src) == 2                             # no session
    assert cli("--account", "NOBODY", *src) == 2
    assert cli("--order", "1", "--from", "soon", *src) == 2
    assert cli("--order", "1", "--config", str(config_file), "--journal",
               str(config_file.parent / "nowhere")) == 2
    err = capsys.readouterr().err
    assert "needs --session" in err and "unknown account 'NOBODY'" in err and "no journal" in err


def test_operators_targets_and_limits_in_audit_and_journal_inspect(tmp_path):
    """A session kill switch and a mass cancel name their target apart from the actor (admin);
    limit changes and disconnects show by name, in the operator's units, in audit and in
    `ordex journal inspect`'s decoding."""
    from ops_helpers import BUY, DEMO1, Harness, order
    from ordex.core.audit import format_entry
    from ordex.core.sequencer import decode_command
    cfg = ops_config(tmp_path)

    async def scenario():
        h = await Harness.start(cfg)
        await h.submit(order("k1", BUY, 14000, 1))
        await h.action("kill-switch", session="CLIENT1", on=True, operator="kim")
        await h.action("kill-switch", session="CLIENT1", on=False, operator="kim")
        await h.action("set-limit", limit="max_position", value="7", account="DEMO1",
                       instrument="MSFT", operator="lee")
        await h.action("set-limit", limit="ref_max_age_s", value="1.5", instrument="AAPL",
                       operator="lee")
        await h.action("set-limit", limit="max_orders_per_sec", value="20", session="CLIENT1",
                       operator="lee")
        await h.action("disconnect", session="CLIENT1", reason="eod", operator="lee")
        await h.stop()

    run_on("asyncio", scenario)
    entries = trail(cfg, account=DEMO1)
    kill = [e for e in entries if e["kind"] == "KILL_SWITCH"]
    assert kill[0]["actor"] == "admin:kim" and kill[0]["target_session"] == "CLIENT1"
    assert [e["reason"] for e in entries if e["kind"] == "CANCELLED"] == ["KILL_SWITCH_CANCEL"]
    limits = [e for e in entries if e["kind"] in ("SET_LIMIT", "LIMIT_SET")]
    # only the account's own limit (max_position) belongs to an account's audit
    assert [(e["kind"], e["limit"], e["value"]) for e in limits] == [
        ("SET_LIMIT", "MAX_POSITION", "7"), ("LIMIT_SET", "MAX_POSITION", "7")]
    assert limits[0]["actor"] == "admin:lee" and limits[1]["previous"] == "50000"
    for e in entries:
        assert format_entry(e)
    records = {r[0]: decode_command(r[3]) for r in read_journal(cfg.journal_dir)}
    assert records[2] == {"seq": 2, "ts_ns": records[2]["ts_ns"], "session": -1,
                          "kind": "KILL_SWITCH", "scope": "SESSION", "flags": 8,
                          "clordid": "adm:kim", "target_session": 0}
    assert (records[5]["limit"], records[5]["value"]) == ("REF_MAX_AGE", 1_500_000_000)
    assert (records[6]["limit"], records[6]["value"], records[6]["target_session"]) == \
        ("THROTTLE", 20, 0)
    assert (records[7]["kind"], records[7]["target_session"], records[7]["orig_clordid"]) == \
        ("DISCONNECT", 0, "eod")
    # the audit's rendering of what an account query does not select
    from ordex.core.audit import Names, command_entry
    from ordex.core.commands import COMMAND_DTYPE, CommandKind, Scope, command
    import numpy as np
    rows = np.frombuffer(b"".join(r[3] for r in read_journal(cfg.journal_dir)), dtype=COMMAND_DTYPE)
    names = Names(cfg.reference)
    assert command_entry(names, rows[4])["value"] == "1.5 s"
    assert command_entry(names, rows[5])["value"] == "20/s"
    assert command_entry(names, rows[5])["target_session"] == "CLIENT1"
    assert command_entry(names, rows[6])["text"] == "eod"
    # a journal from before target_session: the admin's session kill switch named its target in
    # `session`; its clordid mark still makes it the admin's
    legacy = command(CommandKind.KILL_SWITCH, session=0, scope=Scope.SESSION, clordid="adm:kim", flags=8)[0]
    entry = command_entry(names, legacy)
    assert (entry["actor"], entry["target_session"], entry["on"]) == ("admin:kim", "CLIENT1", True)


def test_actor_names_the_server_the_operator_or_the_feed(journal):
    from ordex.core.audit import Names
    from ordex.core.commands import ADMIN_SESSION, CommandKind
    cfg, _, _ = journal
    names = Names(cfg.reference)
    ref = CommandKind.REFERENCE_PRICE
    assert names.actor(ADMIN_SESSION, ref, b"feed:nasdaq\0\0\0") == "feed:nasdaq"
    assert names.actor(ADMIN_SESSION, ref, b"adm:olivia") == "admin:olivia"
    assert names.actor(ADMIN_SESSION, CommandKind.TIMER, b"") == "system"
    # a client cannot pass for a feed: its session is its actor whatever its clordid says
    assert names.actor(0, CommandKind.NEW_ORDER, b"feed:x") == "CLIENT1"
