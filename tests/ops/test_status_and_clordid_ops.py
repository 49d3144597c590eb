"""Operations around trading status and ClOrdID days: `ordex audit --instrument` shows every status
change with its actor (the STATUS_CHANGED events), `purge-clordids` is an authorised, journaled
admin action whose effect a replay reproduces, and an operator's refused command counts in
ordex_rejects_total{type="admin"}."""
import argparse
import json

import numpy as np

from ops_helpers import (BUY, MSFT, Harness, lifecycle_journal, ops_config, order, run_on, value)
from ordex.core.audit import AuditQuery, audit
from ordex.core.commands import COMMAND_DTYPE, CommandKind
from ordex.core.journal import read_journal
from ordex.core.sequencer import replay
from ordex.ext.engine import Engine
from ordex.gateway import audit_cli


def test_audit_by_instrument_shows_status_changes_with_their_actor(tmp_path):
    cfg = ops_config(tmp_path)
    run_on("asyncio", lambda: lifecycle_journal(cfg))
    entries = list(audit(cfg.reference, lambda: read_journal(cfg.journal_dir),
                         AuditQuery(instrument=MSFT)))
    shape = [(e["type"], e["actor"], e["kind"], e.get("status"), e.get("previous"))
             for e in entries]
    olivia = "admin:olivia"
    assert shape == [
        ("command", olivia, "SET_STATUS", "closed", None),
        ("event", olivia, "STATUS_CHANGED", "closed", "open"),
        ("command", olivia, "SET_STATUS", "open", None),
        ("event", olivia, "STATUS_CHANGED", "open", "closed"),
        ("command", olivia, "SET_STATUS", "halted", None),
        ("event", olivia, "STATUS_CHANGED", "halted", "open"),
        ("command", olivia, "SET_STATUS", "open", None),
        ("event", olivia, "STATUS_CHANGED", "open", "halted")]
    assert all(e["instrument"] == "MSFT" for e in entries)
    assert not list(audit(cfg.reference, lambda: read_journal(cfg.journal_dir),
                          AuditQuery(instrument=0)))                  # AAPL never changed

    # the command line: --instrument SYMBOL
    config_file = tmp_path / "ordex.toml"
    from ordex.gateway import config as config_mod
    config_file.write_text(config_mod.default_text())
    parser = argparse.ArgumentParser()
    audit_cli.add_arguments(parser)
    args = parser.parse_args(["--instrument", "MSFT", "--journal", str(cfg.journal_dir),
                              "--config", str(config_file), "--json"])
    import contextlib
    import io
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert audit_cli.run(args) == 0
    kinds = [json.loads(line)["kind"] for line in out.getvalue().splitlines()]
    assert kinds.count("STATUS_CHANGED") == 4


def test_purge_clordids_action_is_journaled_and_replayed(tmp_path):
    cfg = ops_config(tmp_path)

    async def scenario():
        h = await Harness.start(cfg)
        await h.submit(order("a", BUY, 14000, 1))                     # live: kept
        await h.submit(order("b", BUY, 0, 1))                         # rejected: forgotten
        status, _ = await h.http("POST", "/admin/purge-clordids", {}, token="wrong-token")
        assert status in (401, 403)
        status, body = await h.http("POST", "/admin/purge-clordids", {"what": 1})
        assert status == 400 and "unknown field" in json.dumps(body)
        result = await h.action("purge-clordids", operator="olivia")
        assert (result["forgotten"], result["kept"]) == (1, 1)
        again_b = await h.submit(order("b", BUY, 14000, 1))
        again_a = await h.submit(order("a", BUY, 14000, 1))
        # a trading session may not purge: refused, and counted as an admin reject
        row = np.zeros(1, dtype=COMMAND_DTYPE)
        row["kind"], row["session"], row["clordid"] = CommandKind.PURGE_CLORDIDS, 0, b"x"
        refused = await h.submit(row)
        metrics = await h.metrics()
        live = h.server.engine.state_hash()
        await h.stop()
        return result, again_b, again_a, refused, metrics, live

    result, again_b, again_a, refused, metrics, live = run_on("asyncio", scenario)
    assert again_b[0]["kind"] == 1                                     # NEW
    assert again_a[0]["kind"] == 2 and again_a[0]["reason"] == 113     # DUPLICATE_CLORDID
    assert refused[0]["kind"] == 15 and refused[0]["reason"] == 700    # ADMIN_REJECTED NOT_ADMIN
    assert value(metrics, "ordex_rejects_total", type="admin", reason="NOT_ADMIN") == 1
    assert value(metrics, "ordex_commands_total", kind="PURGE_CLORDIDS") == 2
    rows = np.frombuffer(b"".join(r[3] for r in read_journal(cfg.journal_dir)), dtype=COMMAND_DTYPE)
    purges = rows[rows["kind"] == CommandKind.PURGE_CLORDIDS]
    assert purges["clordid"].tolist() == [b"adm:olivia", b"x"]
    again = Engine(cfg.reference, max_orders=cfg.max_orders)
    replay(again, read_journal(cfg.journal_dir))
    assert again.state_hash() == live

