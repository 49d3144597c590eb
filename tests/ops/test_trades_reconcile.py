"""ordex trades (Parquet and CSV equal the journal's trades) and ordex reconcile (a real FIX
drop copy reconciles; planted breaks of every kind are found and make the exit status 1)."""
import argparse
import asyncio
import csv
import io
from decimal import Decimal

import numpy as np
import pyarrow.parquet as pq
import pytest

from fixclient import FixClient
from ops_helpers import Harness, lifecycle_journal, ops_config, run_on
from ordex.core.events import EventKind
from ordex.core.journal import read_journal
from ordex.core.reconcile import read_csv, read_fix_log, reconcile
from ordex.core.sequencer import replay
from ordex.ext.engine import Engine
from ordex.gateway import config as config_mod
from ordex.gateway import reconcile_cli, trades_cli

DROP_COPY = """
[[fix.session]]
name = "DC"
begin_string = "FIX.4.4"
sender_comp_id = "ORDEX"
target_comp_id = "DC"
accounts = ["DEMO1", "DEMO2"]
drop_copy = true
"""


def journal_trades(cfg) -> np.ndarray:
    """TRADE events by an independent path: the sequencer's own replay."""
    engine = Engine(cfg.reference, max_orders=cfg.max_orders)
    got = []
    replay(engine, read_journal(cfg.journal_dir), on_events=lambda ev: got.append(ev.copy()))
    ev = np.concatenate(got)
    return ev[ev["kind"] == EventKind.TRADE]


@pytest.fixture(scope="module")
def lifecycle(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("trades")
    cfg = ops_config(tmp)
    run_on("asyncio", lambda: lifecycle_journal(cfg))
    config_file = tmp / "ordex.toml"
    config_file.write_text(config_mod.default_text())
    return cfg, ["--config", str(config_file), "--journal", str(cfg.journal_dir)]


def run_cli(module, *argv):
    p = argparse.ArgumentParser()
    module.add_arguments(p)
    return module.run(p.parse_args(list(argv)))


def test_parquet_round_trip_equals_the_journals_trades(lifecycle, tmp_path):
    cfg, src = lifecycle
    out = tmp_path / "trades.parquet"
    assert run_cli(trades_cli, *src, "--format", "parquet", "--out", str(out)) == 0
    schema = pq.read_schema(out)
    table = pq.read_table(out, columns=[n for n in schema.names if n != "time"]).to_pylist()
    want = journal_trades(cfg)
    assert len(table) == len(want) == 8
    inc = {i.id: (i.price_increment, i.qty_increment) for i in cfg.reference.instruments}
    for row, t in zip(table, want):
        assert (row["seq"], row["exec_id"], row["order_id"], row["contra_order_id"],
                row["price_ticks"], row["qty_lots"], row["fee_cash"]) == (
            t["seq"], t["exec_id"], t["order_id"], t["other_order_id"], t["last_px"],
            t["last_qty"], t["fee"])
        px_inc, qty_inc = inc[int(t["instrument"])]
        assert row["price"] == Decimal(int(t["last_px"])) * px_inc
        assert row["qty"] == Decimal(int(t["last_qty"])) * qty_inc
        assert row["account"] == ("DEMO1", "DEMO2")[t["account"]]
        assert row["side"] == ("BUY" if t["side"] == 1 else "SELL")
    assert str(schema.field("price").type).startswith("decimal128")
    times = pq.read_table(out, columns=["time"]).column("time").cast("int64").to_pylist()
    assert times == want["ts_ns"].tolist()


def test_csv_and_filters(lifecycle, tmp_path):
    cfg, src = lifecycle
    out = tmp_path / "t.csv"
    assert run_cli(trades_cli, *src, "--account", "DEMO2", "--out", str(out)) == 0
    rows = list(csv.DictReader(out.open()))
    want = journal_trades(cfg)
    want = want[want["account"] == 1]
    assert [int(r["exec_id"]) for r in rows] == want["exec_id"].tolist()
    assert {r["account"] for r in rows} == {"DEMO2"}
    assert rows[0]["price"] == "150.00" and rows[0]["qty"] == "4"
    late = int(want["ts_ns"][-1])
    assert run_cli(trades_cli, *src, "--from", str(late), "--to", str(late), "--out",
                   str(out)) == 0
    assert len(list(csv.DictReader(out.open()))) == 4          # the stop's trade pair and b5/s5
    assert run_cli(trades_cli, *src, "--format", "parquet") == 2  # parquet needs --out
    assert run_cli(trades_cli, *src, "--account", "NOBODY", "--out", str(out)) == 2


def test_reconcile_clean_and_planted_breaks_csv(lifecycle, tmp_path, capsys):
    cfg, src = lifecycle
    venue = tmp_path / "venue.csv"
    assert run_cli(trades_cli, *src, "--out", str(venue)) == 0
    assert run_cli(reconcile_cli, *src, "--venue", str(venue)) == 0
    assert "breaks: 0 -- RECONCILED" in capsys.readouterr().out
    rows = list(csv.DictReader(venue.open()))
    fields = list(rows[0])
    gone = rows.pop(0)                                           # missing at the venue
    rows[0]["qty"] = str(Decimal(rows[0]["qty"]) + 1)             # quantity mismatch
    rows[1]["price"] = "151.00"                                  # price mismatch
    rows[2]["side"] = "BUY" if rows[2]["side"] == "SELL" else "SELL"   # field mismatch
    rows.append({**rows[3], "exec_id": "990001"})                # missing in ordex
    rows.append({**rows[4], "qty": "999"})                       # same ExecID, other content
    rows.append({**rows[5]})                                     # identical repeat: fine
    rows.append({**rows[6], "exec_id": "990002", "price": "1.2.3"})   # unreadable price
    buf = io.StringIO()
    w = csv.DictWriter(buf, fields, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    buf.write("990003,too,few\n")                                  # unreadable: short row
    venue.write_text(buf.getvalue())
    assert run_cli(reconcile_cli, *src, "--venue", str(venue), "--json") == 1
    import json
    result = json.loads(capsys.readouterr().out)
    c = result["counts"]
    assert (c["missing_at_venue"], c["qty_mismatch"], c["price_mismatch"], c["field_mismatch"],
            c["missing_in_ordex"], c["duplicate_conflict"], c["unreadable"]) == (1, 1, 1, 1, 1, 1, 2)
    assert result["matched"] == 8 - 1 - 3
    missing = [b for b in result["breaks"] if b["kind"] == "missing_at_venue"][0]
    assert missing["exec_id"] == gone["exec_id"]


def test_reconcile_rejects_unusable_files(lifecycle, tmp_path, capsys):
    cfg, src = lifecycle
    bad = tmp_path / "bad.csv"
    bad.write_text("when,what\n1,2\n")
    assert run_cli(reconcile_cli, *src, "--venue", str(bad)) == 2
    assert run_cli(reconcile_cli, *src, "--venue", str(tmp_path / "absent.csv")) == 2
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert run_cli(reconcile_cli, *src, "--venue", str(empty)) == 2
    err = capsys.readouterr().err
    assert "needs column(s) exec_id, qty, price" in err and "cannot read" in err


def test_matching_rules():
    ours, _ = read_csv("exec_id,qty,price,symbol\n1,10,150.0,MSFT\n2,5,1.5,AAPL\n")
    theirs, problems = read_csv("exec_id,qty,price\n1,10.000,150\n2,5,1.50\n")
    r = reconcile(ours, theirs, problems)
    assert r.matched == 2 and not r.breaks                       # decimals compare by value
    _, problems = read_csv("exec_id,qty,price\n3,1e999999999,1\n4,NaN,1\n5,1,\n")
    assert [b.kind for b in problems] == ["unreadable"] * 3


def test_reconcile_against_a_real_fix_drop_copy(tmp_path, capsys):
    """A drop-copy session receives every ExecutionReport of CLIENT1's trades; its log, written
    the way QuickFIX logs (timestamp, ' : ', message), reconciles with the journal, and planted
    breaks are found."""
    text = config_mod.default_text() + DROP_COPY
    config_file = tmp_path / "ordex.toml"
    config_file.write_text(text)
    cfg = config_mod.parse(text, base_dir=tmp_path)
    import dataclasses
    cfg = dataclasses.replace(cfg, fix_listen=("127.0.0.1", 0), admin_listen=("127.0.0.1", 0),
                              admin_token="t" * 20)

    async def scenario():
        h = await Harness.start(cfg, with_fix=True)
        dc = await FixClient.connect(h.fix.port, sender="DC", target="ORDEX")
        await dc.logon()
        c = await FixClient.connect(h.fix.port, sender="CLIENT1", target="ORDEX")
        await c.logon()
        for cl, acct, side, qty, px in [("B1", "DEMO1", "1", "10", "150.00"),
                                        ("S1", "DEMO2", "2", "4", "149.00"),
                                        ("S2", "DEMO2", "2", "3", "150.00"),
                                        ("S3", "DEMO2", "2", "2", "150.00")]:
            await c.send(b"D", [(11, cl), (1, acct), (55, "MSFT"), (54, side), (38, qty),
                                (40, "2"), (44, px), (59, "1"), (60, "20261122-10:00:00.000")])
        log = []
        fills = 0
        while fills < 6:
            m = await dc.expect(b"8")
            pairs = [(int(t), v.decode()) for t, v in m.pairs]
            log.append("20261122-10:00:00.000 : " + "\x01".join(f"{t}={v}" for t, v in pairs) + "\x01")
            fills += dict(pairs).get(150) == "F"
        c.close()
        dc.close()
        await h.stop()
        return log

    log = run_on("asyncio", scenario)
    src = ["--config", str(config_file), "--journal", str(cfg.journal_dir)]
    venue = tmp_path / "dropcopy.log"
    venue.write_text("\n".join(log) + "\n")
    assert run_cli(reconcile_cli, *src, "--venue", str(venue)) == 0
    assert "matched: 6" in capsys.readouterr().out
    fill_lines = [i for i, line in enumerate(log) if "\x01150=F\x01" in line]
    planted = list(log)
    planted[fill_lines[1]] = planted[fill_lines[1]].replace("\x0132=", "\x0132=1", 1)  # qty
    planted[fill_lines[2]] = planted[fill_lines[2]].replace("\x0131=", "\x0131=9", 1)  # price
    del planted[fill_lines[0]]                                            # missing at venue
    fake = log[fill_lines[3]].replace("\x0117=", "\x0117=88", 1)
    bust = log[fill_lines[4]].replace("\x01150=F", "\x01150=H", 1)
    planted += [fake, bust, "20261122-10:00:01.000 : 8=FIX.4.4 garbage without separators"]
    venue.write_text("\n".join(planted).replace("\x01", "|") + "\n")    # '|' logs read too
    assert run_cli(reconcile_cli, *src, "--venue", str(venue)) == 1
    out = capsys.readouterr().out
    for kind, n in [("missing_at_venue", 1), ("qty_mismatch", 1), ("price_mismatch", 1),
                    ("missing_in_ordex", 1), ("unsupported", 1), ("unreadable", 1)]:
        assert f"{kind}: {n}" in out, (kind, out)
    assert "matched: 3" in out
    execs, problems = read_fix_log("\n".join(log))
    assert len(execs) == 6 and not problems
