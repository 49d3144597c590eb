"""Every metric family appears on /metrics and moves when the thing it counts happens."""
import asyncio

import pytest

from fixclient import FixClient
from ops_helpers import (BUY, DEMO1, DEMO2, SELL, Harness, cancel, ops_config, order,
                         parse_metrics, run_on, value)


@pytest.mark.parametrize("loop_kind", ["asyncio", "uvloop"])
def test_metric_families_appear_and_move(tmp_path, loop_kind):
    cfg = ops_config(tmp_path)

    async def scenario():
        h = await Harness.start(cfg, with_fix=True)
        before = await h.metrics()
        assert value(before, "ordex_accepting") == 1
        assert value(before, "ordex_sessions_connected") == 0
        assert ("ordex_session_connected", frozenset({("session", "CLIENT1")})) in before

        await h.submit(order("b1", BUY, 15000, 10))
        await h.submit(order("s1", SELL, 14900, 4, account=DEMO2))
        await h.submit(cancel("c-unknown", "nope"))                   # CANCEL_REJECTED
        await h.submit(order("big", BUY, 15000, 60000))                # NOTIONAL_ABOVE_MAX (5M)
        await h.action("halt", instrument="MSFT")
        await h.submit(order("h1", BUY, 15000, 1))                     # INSTRUMENT_HALTED
        await h.action("resume", instrument="MSFT")
        await h.action("kill-switch", account="DEMO1", on=True)        # cancels b1's rest
        await h.action("kill-switch", account="DEMO1", on=False)
        await asyncio.sleep(0.35)                                      # a few loop-lag ticks

        after = await h.metrics()
        grew = lambda name, **labels: value(after, name, **labels) > value(before, name, **labels)
        assert value(after, "ordex_commands_total", kind="NEW_ORDER") == 4
        assert value(after, "ordex_commands_total", kind="SET_STATUS") == 2
        assert value(after, "ordex_commands_total", kind="KILL_SWITCH") == 2
        assert value(after, "ordex_session_commands_total", session="CLIENT1") == 5
        assert value(after, "ordex_session_commands_total", session="admin") == 4
        assert value(after, "ordex_orders_total", instrument="MSFT") == 2
        assert value(after, "ordex_fills_total", instrument="MSFT") == 1
        assert value(after, "ordex_events_total", kind="TRADE") == 2
        assert value(after, "ordex_rejects_total", type="order", reason="NOTIONAL_ABOVE_MAX") == 1
        assert value(after, "ordex_rejects_total", type="order", reason="INSTRUMENT_HALTED") == 1
        assert value(after, "ordex_rejects_total", type="cancel", reason="UNKNOWN_ORDER") == 1
        assert value(after, "ordex_order_ends_total", kind="CANCELLED",
                     reason="KILL_SWITCH_CANCEL") == 1
        assert value(after, "ordex_session_events_total", session="CLIENT1") >= 8
        assert grew("ordex_ack_latency_seconds_count")
        assert grew("ordex_ack_latency_seconds_sum")
        assert grew("ordex_journal_append_seconds_count")
        assert grew("ordex_journal_sync_seconds_count")
        assert grew("ordex_event_loop_lag_seconds_count")
        assert ("ordex_event_loop_lag_last_seconds", frozenset()) in after
        assert value(after, "ordex_durable_seq") == 9

        # FIX: connected sessions and per-session message counts move with a real client.
        c = await FixClient.connect(h.fix.port, sender="CLIENT1", target="ORDEX")
        await c.logon()
        await c.send(b"D", [(11, "F1"), (1, "DEMO1"), (55, "MSFT"), (54, "1"), (38, "1"),
                            (40, "2"), (44, "140.00"), (59, "1"), (60, "20261122-10:00:00.000")])
        await c.expect(b"8")
        live = await h.metrics()
        assert value(live, "ordex_sessions_connected") == 1
        assert value(live, "ordex_session_connected", session="CLIENT1") == 1
        assert value(live, "ordex_fix_messages_total", session="CLIENT1", direction="in") >= 2
        assert value(live, "ordex_fix_messages_total", session="CLIENT1", direction="out") >= 2
        assert ("ordex_fix_outbound_bytes", frozenset({("session", "CLIENT1")})) in live
        assert ("ordex_fix_inbound_queued", frozenset({("session", "CLIENT1")})) in live
        await c.logout()
        c.close()
        for _ in range(100):
            if value(await h.metrics(), "ordex_sessions_connected") == 0:
                break
            await asyncio.sleep(0.01)
        assert value(await h.metrics(), "ordex_sessions_connected") == 0
        await h.stop()

    run_on(loop_kind, scenario)


def test_queue_depths_move_before_and_after_durability(tmp_path):
    """Read synchronously right after a submit (the loop has not run the sync yet): the held
    batch and the undurable command show; once durable, both are back to zero."""
    cfg = ops_config(tmp_path)

    async def scenario():
        h = await Harness.start(cfg)
        h.server.submit(order("q1", BUY, 15000, 1))
        now = parse_metrics(h.admin.metrics.render().decode())
        assert value(now, "ordex_queue_depth", queue="held_event_batches") == 1
        assert value(now, "ordex_queue_depth", queue="journal_undurable_commands") == 1
        while h.server.durable_seq < 1 or h.server._held:
            await asyncio.sleep(0.001)
        later = await h.metrics()
        assert value(later, "ordex_queue_depth", queue="held_event_batches") == 0
        assert value(later, "ordex_queue_depth", queue="journal_undurable_commands") == 0
        assert ("ordex_queue_depth", frozenset({("queue", "journal_pending_bytes")})) in later
        await h.stop()

    run_on("asyncio", scenario)


def test_journal_failure_shows_as_not_accepting_and_not_ready(tmp_path):
    cfg = ops_config(tmp_path)

    async def scenario():
        h = await Harness.start(cfg)
        status, body = await h.http("GET", "/readyz", token=None)
        assert status == 200 and body["ready"] is True
        h.server._on_journal_failure(OSError(5, "Input/output error"))
        status, body = await h.http("GET", "/readyz", token=None)
        assert status == 503 and body["ready"] is False and "journal failed" in body["refusal"]
        assert (await h.http("GET", "/healthz", token=None))[0] == 200
        assert value(await h.metrics(), "ordex_accepting") == 0
        status, body = await h.http("POST", "/admin/halt", {"instrument": "MSFT"})
        assert status == 503 and "not accepting" in body["error"]
        await h.stop()

    run_on("asyncio", scenario)


def test_histogram_buckets_are_cumulative_and_inclusive():
    from ordex.gateway.metrics import Hist
    h = Hist("x_seconds", "test", (0.001, 0.01))
    for v in (0.0005, 0.001, 0.002, 0.5):
        h.observe(v)
    fam = h.family()
    got = {s.labels.get("le"): s.value for s in fam.samples if s.name == "x_seconds_bucket"}
    assert got == {"0.001": 2, "0.01": 3, "+Inf": 4}
    assert [s.value for s in fam.samples if s.name == "x_seconds_count"] == [4]
