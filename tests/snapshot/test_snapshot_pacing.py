"""Snapshot pacing (gateway/server.py snapshot_due): the state copy runs on the loop and grows
with the day's ClOrdIDs, so the next snapshot waits until the loop's share of copying stays under
SNAPSHOT_LOOP_SHARE, whatever the command and time triggers say."""
import asyncio

from test_server_snapshots import demo_config, orders, until

from ordex.core import snapshot
from ordex.gateway.server import SNAPSHOT_POLL_S, Server



def test_snapshot_due_bounds_the_loops_share_of_copying():
    from ordex.gateway.server import SNAPSHOT_LOOP_SHARE, snapshot_due
    # the triggers as before when the last copy was cheap
    assert snapshot_due(1000, 0.5, 0.0, 1000, 0)
    assert not snapshot_due(999, 0.5, 0.0, 1000, 0)
    assert snapshot_due(1, 300.0, 0.0, 0, 300)
    assert not snapshot_due(0, 1e9, 0.0, 1000, 300)            # nothing new: never
    assert not snapshot_due(10**9, 1e9, 0.0, 0, 0)             # both triggers off
    # a copy that took the loop 0.1 s: the next one waits 0.1 / share seconds, whatever is due
    wait = 0.1 / SNAPSHOT_LOOP_SHARE
    assert not snapshot_due(10**7, 0.99 * wait, 0.1, 1000, 1)
    assert snapshot_due(10**7, wait, 0.1, 1000, 1)


def test_an_expensive_copy_delays_the_next_snapshot(tmp_path):
    cfg = demo_config(tmp_path, snapshot_every_commands=10, snapshot_every_s=0)
    snap_dir = snapshot.snapshot_dir(cfg.journal_dir)

    async def scenario():
        server = Server(cfg)
        server.recover()
        server.submit(orders(15, 0))
        await until(lambda: len(snapshot.list_snapshots(snap_dir)) == 1)
        # as if copying that state had taken the loop 10 s: no snapshot for 200 s, however
        # many commands arrive
        server._snapshot_copy_s = 10.0
        server.submit(orders(15, 15))
        await asyncio.sleep(3 * SNAPSHOT_POLL_S)
        assert len(snapshot.list_snapshots(snap_dir)) == 1
        server._snapshot_copy_s = 0.0
        await until(lambda: len(snapshot.list_snapshots(snap_dir)) == 2)
        await server.stop()

    asyncio.run(scenario())
