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
