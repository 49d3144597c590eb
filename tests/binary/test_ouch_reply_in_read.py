"""When an order's reply leaves.  In `none` durability the gateway flushes the journal right after
a read's submit, so the Order Accepted is written to the socket inside the data_received that
brought the Enter Order (no loop iteration in between: the round trip's latency).  In fsync and
batch mode a reply is visible only once durable: nothing is written inside that call, and the
reply follows the journal's shared flush and sync."""
import pytest

from binary_helpers import LOOPS, MSFT, PX, binary_config, ouch, record_writes, run, settle, start


def _written_during(conn, data: bytes) -> list[bytes]:
    """What the server writes to `conn`'s socket while it handles `data` as one read."""
    written: list[bytes] = []
    transport = record_writes(conn, written)
    try:
        conn.data_received(data)
    finally:
        conn.transport = transport
    return written


def _accepted_refs(packets: list[bytes]) -> list[int]:
    """UserRefNums of the Order Accepted messages (Sequenced Data 'S', OUCH 'A') in packets."""
    data = b"".join(packets)
    refs, i = [], 0
    while i + 3 <= len(data):
        length = int.from_bytes(data[i:i + 2], "big")
        if data[i + 2:i + 4] == b"SA":
            refs.append(int.from_bytes(data[i + 12:i + 16], "big"))
        i += 2 + length
    return refs


@pytest.mark.parametrize("loop_kind", LOOPS)
@pytest.mark.parametrize("durability", ["none", "batch", "fsync"])
def test_order_accepted_leaves_in_the_read_only_in_none_mode(tmp_path, loop_kind, durability):
    cfg = binary_config(tmp_path, durability=durability)

    async def main():
        server, gw = await start(cfg)
        try:
            c = await ouch(gw, "MM2")
            conn = gw.ouch.users["MM2"].conn
            two = c.enter_bytes(1, "B", 10, MSFT, PX) + c.enter_bytes(2, "B", 10, MSFT, PX)
            written = _written_during(conn, two)
            refs = _accepted_refs(written)
            if durability == "none":
                assert refs == [1, 2]
            else:
                assert refs == []      # durable before visible: not before the sync
            await settle(server)
            m1 = await c.expect("OrderAccepted")
            m2 = await c.expect("OrderAccepted")
            assert (m1["UserRefNum"], m2["UserRefNum"]) == (1, 2)
            assert server.durable_seq >= server.sequencer.next_seq - 1
            c.close()
        finally:
            await server.stop()

    run(loop_kind, main())
