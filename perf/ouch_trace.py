"""The server's own share of an OUCH order -> ack round trip, in process:
`python3 -m ordex.perf.ouch_trace [--orders N] [--durability none]`.

Starts the `ordex perf binary` server configuration (Server + BinaryGateway, uvloop) in this
process, logs one user in over loopback, then swaps the server side's transport for one that only
counts the bytes written, and hands Enter Orders (the perf cycle: half of them trade) to the
connection's data_received one at a time: exactly the work one read of one order costs the loop
(decode, sequence, journal write, apply, replies, store append, the transport write call) minus
the kernel's socket work and the loop's wake-up.  Prints the median, p99 and mean per read, and
the time from the read's start to the reply's write call (the part on the round trip's path; the
rest of the read, e.g. the ITCH feed's encoding, runs after the reply has left).

Run it under `py-spy record -r 2000 -- python3 -m ordex.perf.ouch_trace --orders 400000` to see
where those ns go; without a network peer the sampler's rate is not limited by a second process.
"""
from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import numpy as np

from ordex.gateway import config as config_mod
from ordex.gateway.binary import soup
from ordex.gateway.binary.gateway import BinaryGateway
from ordex.gateway.client import OuchClient
from ordex.gateway.server import Server
from ordex.perf.binary import PASSWORD, encode_orders, server_config


class CountingTransport:
    """Stands in for the server side's transport: counts bytes and notes when the first write of
    each read came (the reply's moment), sends nothing."""

    def __init__(self, real):
        self.real = real
        self.bytes = 0
        self.first_write_ns = 0

    def write(self, data) -> None:
        if not self.first_write_ns:
            self.first_write_ns = time.perf_counter_ns()
        self.bytes += len(data)

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0

    def __getattr__(self, name):
        return getattr(self.real, name)


async def measure(workdir: Path, n: int, durability: str, user: str = "PERF1"
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(ns per read, ns from the read's start to its reply's write call: 0 when none)."""
    text = server_config(0, 0, durability, 4)
    cfg = config_mod.parse(text, source="ouch_trace", base_dir=workdir)
    server = Server(cfg)
    gw = BinaryGateway(cfg)
    server.gateways.append(gw)
    await server.start()
    try:
        client = await OuchClient.connect("127.0.0.1", gw.port)
        await client.login(user, PASSWORD)
        await client.next()                         # System Event S
        conn = gw.ouch.users[user].conn
        counting = CountingTransport(conn.transport)
        conn.transport = counting
        orders = encode_orders(1, n, "S000")
        packets = [bytes(r) for r in orders]
        lat = np.empty(n, dtype=np.int64)
        to_reply = np.zeros(n, dtype=np.int64)
        clock = time.perf_counter_ns
        receive = conn.data_received
        for k, pkt in enumerate(packets):
            counting.first_write_ns = 0
            t0 = clock()
            receive(pkt)
            lat[k] = clock() - t0
            if counting.first_write_ns:
                to_reply[k] = counting.first_write_ns - t0
            # let the loop run what the read scheduled (the journal's flush callback; in fsync
            # and batch the write and the replies), as it would before the next read
            await asyncio.sleep(0)
        conn.transport = counting.real
        if counting.bytes == 0 and durability == "none":
            raise RuntimeError("no reply was written: the in-read reply path is broken")
        client.close()
        return lat, to_reply
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m ordex.perf.ouch_trace",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--durability", default="none")
    args = parser.parse_args(argv)
    import uvloop
    with tempfile.TemporaryDirectory(prefix="ordex-ouch-trace-") as d:
        lat, to_reply = uvloop.run(measure(Path(d), args.orders, args.durability))
    lat, to_reply = lat[len(lat) // 10:], to_reply[len(lat) // 10:]
    to_reply = to_reply[to_reply > 0]
    print(f"{args.durability}: {len(lat)} orders, data_received per order: "
          f"p50 {np.percentile(lat, 50) / 1e3:.2f} us, p99 {np.percentile(lat, 99) / 1e3:.2f} us, "
          f"mean {lat.mean() / 1e3:.2f} us")
    if len(to_reply):
        print(f"  until the reply's write call ({len(to_reply)} reads): "
              f"p50 {np.percentile(to_reply, 50) / 1e3:.2f} us, "
              f"p99 {np.percentile(to_reply, 99) / 1e3:.2f} us")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
