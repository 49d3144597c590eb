"""A server reading an ITCH file through its feed gateway: messages per second from the file to
reference prices in the journal, and how long the feed holds the event loop at a time.

    python3 -m pytest bench/test_feed_gateway.py --benchmark-enable -s

The loop is probed by a 1 ms timer; its lateness is what a FIX or OUCH client would wait behind
one feed step (chunk_kb of ITCH parsed, book built, references coalesced).  Figures are printed
and kept in extra_info (no timing assertions).
"""
import asyncio
import dataclasses
import json
import logging
import time

import pytest

from ordex.feeds.synth import synthetic_itch
from ordex.gateway import config as config_mod
from ordex.gateway.feed_gateway import FeedGateway
from ordex.gateway.server import Server

N = 1_000_000


@pytest.fixture(scope="module")
def itch_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("feed") / "synthetic-20240102.itch50"
    path.write_bytes(synthetic_itch(N, n_instruments=50))
    return path


def run_feed(itch_file, data_dir, chunk_kb: int) -> dict:
    text = config_mod.default_text() + f"""
[[feed]]
name = "bench"
format = "itch"
path = {json.dumps(str(itch_file))}
symbols = {{ S0000 = "MSFT", S0001 = "AAPL" }}
min_interval_ms = 0
chunk_kb = {chunk_kb}
"""
    cfg = dataclasses.replace(config_mod.parse(text, base_dir=data_dir), durability="none",
                              fix_listen=None, admin_listen=None)

    async def main():
        server = Server(cfg)
        gw = FeedGateway(cfg)
        server.gateways.append(gw)
        loop = asyncio.get_running_loop()
        lags = []
        due = [loop.time() + 0.001]

        def probe():
            now = loop.time()
            lags.append(now - due[0])
            due[0] = now + 0.001
            loop.call_at(due[0], probe)

        await server.start()            # recovery blocks the loop by design: not timed
        t0 = time.perf_counter()        # the feed's task has not run yet
        due[0] = loop.time() + 0.001
        loop.call_at(due[0], probe)
        feed = gw.market_feeds[0]
        while feed.state in ("starting", "running") or feed.pending:
            await asyncio.sleep(0.001)
        took = time.perf_counter() - t0
        await server.stop()
        lags.sort()
        return {"messages": sum(feed.message_counts().values()),
                "references": sum(feed.submitted.values()), "seconds": took,
                "messages_per_s": sum(feed.message_counts().values()) / took,
                "loop_lag_p50_ms": lags[len(lags) // 2] * 1e3,
                "loop_lag_p99_ms": lags[int(len(lags) * 0.99)] * 1e3,
                "loop_lag_max_ms": lags[-1] * 1e3}

    logging.getLogger("ordex").setLevel(logging.WARNING)
    try:
        return asyncio.run(main())
    finally:
        logging.getLogger("ordex").setLevel(logging.NOTSET)


def run_bare(itch_file, chunk_kb: int) -> float:
    """The same normalising and filtering without server, loop or commands (messages/s)."""
    from ordex.feeds.itch import ItchSource
    from ordex.feeds.reference import ReferencePrices
    data = itch_file.read_bytes()
    src = ItchSource(0)
    refs = ReferencePrices(stale_ns=10 ** 9, band_bps=1000)
    refs.bind(src.instrument)
    step = chunk_kb << 10
    t0 = time.perf_counter()
    for i in range(0, len(data), step):
        for batch in src.feed(data[i:i + step]):
            refs.process(batch)
            refs.changed_ids()
    return sum(src.counts().values()) / (time.perf_counter() - t0)


@pytest.mark.parametrize("chunk_kb", [16, 64, 256])
def test_feed_gateway_itch_file(benchmark, itch_file, tmp_path, chunk_kb):
    runs = []

    def once():
        d = tmp_path / f"run{len(runs)}"
        runs.append(run_feed(itch_file, d, chunk_kb))
        return runs[-1]

    result = benchmark.pedantic(once, rounds=3, iterations=1)
    assert result["messages"] == N and result["references"] > 0
    for r in runs:
        r["bare_messages_per_s"] = run_bare(itch_file, chunk_kb)
        r["ratio_vs_bare"] = r["messages_per_s"] / r["bare_messages_per_s"]
    med = {k: sorted(r[k] for r in runs)[len(runs) // 2] for k in runs[0]}
    benchmark.extra_info.update(med)
    print(f"\nchunk_kb={chunk_kb} (median of {len(runs)}): "
          f"{med['messages_per_s']:,.0f} messages/s ({med['ratio_vs_bare']:.2f} of the bare "
          f"normaliser's {med['bare_messages_per_s']:,.0f}/s), "
          f"{med['references']:.0f} references, loop lag p50 {med['loop_lag_p50_ms']:.2f} ms "
          f"p99 {med['loop_lag_p99_ms']:.2f} ms max {med['loop_lag_max_ms']:.2f} ms")
