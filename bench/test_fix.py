"""What one FIX order costs ordex's server, whole and stage by stage, in one process
(perf/fix_inprocess.py): the per-order side of `ordex perf fix`, without a second process.

    python3 -m pytest bench/test_fix.py --benchmark-enable

Every round handles BATCH orders of the perf mix (half of them cross: about 2 ExecutionReports
per order), so per-order cost = the round's time / BATCH.  The stages add up to less than the
whole path; the rest is the session layer, the event loop, the journal's hand-offs and the
loopback socket.  Journal durability `none`: the disk is not what these measure.
"""
import pytest

from ordex.perf.fix_inprocess import InProcessRig

BATCH = 200


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    r = InProcessRig(tmp_path_factory.mktemp("fix-bench"), durability="none")
    for _ in range(5):                       # warm the engine, the store and the codecs
        r.round_trip(r.new_orders(BATCH))
    yield r
    r.close()


def test_order_to_ack_pipelined(benchmark, rig):
    """BATCH NewOrderSingles in one write until all BATCH acks are back."""
    benchmark.pedantic(rig.round_trip, setup=lambda: ((rig.new_orders(BATCH),), {}), rounds=30)


def test_order_to_ack_one_at_a_time(benchmark, rig):
    """One order, one ack: the closed-loop path (loop wake-ups and hand-offs included)."""
    benchmark.pedantic(rig.round_trip, setup=lambda: ((rig.new_orders(1),), {}), rounds=300)


def test_stage_parse(benchmark, rig):
    data = rig.detached_orders(BATCH)
    assert len(benchmark(rig.parse, data)) == BATCH


def test_stage_translate(benchmark, rig):
    """Application.on_message per order: translation into a command, queued."""
    def setup():
        rig.submit()
        rig.drain()
        return (rig.parse(rig.detached_orders(BATCH)),), {}
    benchmark.pedantic(rig.translate, setup=setup, rounds=30)
    rig.submit()
    rig.drain()


def test_stage_submit(benchmark, rig):
    """The batch of BATCH commands to Server.submit (sequencer, journal append, engine)."""
    def setup():
        rig.drain()
        rig.translate(rig.parse(rig.detached_orders(BATCH)))
        return (), {}
    benchmark.pedantic(rig.submit, setup=setup, rounds=30)
    rig.drain()


def test_stage_execution_reports(benchmark, rig):
    """Engine events of BATCH orders -> ExecutionReports through the session."""
    events = rig.captured_events(BATCH)
    assert len(events) >= BATCH
    benchmark.pedantic(rig.report, setup=lambda: (rig.drain(), ((events,), {}))[1], rounds=30)
    rig.drain()
