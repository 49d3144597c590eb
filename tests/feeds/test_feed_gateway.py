"""`[[feed]]` in a running server: a feed's reference prices become journaled REFERENCE_PRICE
commands, the engine's collar follows them, replay reproduces them without the feed; bad input
and failing sources are counted and logged without harming the server; the metrics move.

Expected prices come from ordex.feeds.replay (the normaliser's own offline path, run here on the
same recording) converted to the instrument's 0.01 increment with Decimal arithmetic."""
from __future__ import annotations

import asyncio
import dataclasses
import gzip
import json
import logging
import sys
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ops"))
from ops_helpers import BUY, SELL, TOKEN, Harness, order, run_on, value  # noqa: E402

from feeds_helpers import frames  # noqa: E402

from ordex.core.commands import COMMAND_DTYPE, CommandKind  # noqa: E402
from ordex.core.events import EventKind  # noqa: E402
from ordex.core.reasons import Reason  # noqa: E402
from ordex.feeds.replay import replay  # noqa: E402
from ordex.feeds.ticks import TickSpec  # noqa: E402
from ordex.gateway import config as config_mod  # noqa: E402
from ordex.gateway.admin import AdminGateway  # noqa: E402
from ordex.gateway.feed_gateway import FeedGateway  # noqa: E402
from ordex.gateway.server import Server  # noqa: E402

LOOPS = ["asyncio", "uvloop"]
AAPL, MSFT = 0, 1
INCREMENT = Decimal("0.01")    # both demo instruments' price increment
BAND_BPS = 1000                # the demo instruments' band_pct = 10


def feed_config(tmp_path, feeds_toml: str, **fields):
    cfg = config_mod.parse(config_mod.default_text() + feeds_toml, base_dir=tmp_path)
    return dataclasses.replace(cfg, durability="batch", fix_listen=None,
                               admin_listen=("127.0.0.1", 0), admin_token=TOKEN, **fields)


def toml_str(path) -> str:
    return json.dumps(str(path))


async def start(cfg) -> Harness:
    """The ops harness (admin listener for /metrics) plus the feed gateway."""
    h = Harness(cfg)
    h.server = Server(cfg)
    h.admin = AdminGateway(cfg, environ={})
    h.feeds = FeedGateway(cfg) if cfg.feeds else None
    h.server.gateways.append(h.admin)
    if h.feeds is not None:
        h.server.gateways.append(h.feeds)
    await h.server.start()
    h.server.subscribe(h._sink)
    return h


async def until(predicate, timeout=30.0, what="condition"):
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def all_durable(server) -> None:
    await until(lambda: server.durable_seq >= server.sequencer.next_seq - 1, what="durability")


def journal_references(server) -> list[tuple[int, int]]:
    """(instrument, price) of every REFERENCE_PRICE command in the journal, in sequence order;
    each marked with the feed that sent it."""
    out = []
    names = {f"feed:{f.name}".encode() for f in server.config.feeds}
    for _, _, _, payload in server.journal.read(1):
        row = np.frombuffer(payload, dtype=COMMAND_DTYPE)[0]
        if row["kind"] == CommandKind.REFERENCE_PRICE:
            assert row["clordid"] in names, row["clordid"]
            out.append((int(row["instrument"]), int(row["price"])))
    return out


def engine_reference(server, instrument: int) -> int:
    return server.engine.state()[6][instrument][3]     # (status, last_px, last_ts, ref_px, ref_ts)


def expected_ticks(path, fmt: str | None, mapping: dict[str, int], **kw) -> dict[int, int]:
    """instrument -> the last mark of the offline replay of the same recording, in 0.01 steps."""
    summary = replay(str(path), fmt, bars=False, **kw)
    return {inst: int((Decimal(summary.references[sym][0]) / INCREMENT)
                      .to_integral_value(ROUND_HALF_UP))
            for sym, inst in mapping.items()}


async def check_collar(h, ref: int, tag: str) -> None:
    """Inside the band around ref: accepted; just outside, either side: PRICE_OUTSIDE_COLLAR."""
    ev = await h.submit(order(f"in-{tag}", BUY, ref * 105 // 100, 1))
    assert ev[0]["kind"] == EventKind.NEW, ev[0]
    for clordid, side, price in ((f"hi-{tag}", BUY, ref * (10000 + BAND_BPS) // 10000 + 1),
                                 (f"lo-{tag}", SELL, -(-ref * (10000 - BAND_BPS) // 10000) - 1)):
        ev = await h.submit(order(clordid, side, price, 1))
        assert (ev[0]["kind"], ev[0]["reason"]) == (EventKind.REJECTED,
                                                     Reason.PRICE_OUTSIDE_COLLAR), (price, ev[0])


@pytest.mark.parametrize("loop_kind", LOOPS)
def test_itch_recording_moves_collars_through_the_journal_and_replay_keeps_them(
        tmp_path, itch_file, loop_kind):
    cfg = feed_config(tmp_path, f"""
[[feed]]
name = "nasdaq"
format = "itch"
path = {toml_str(itch_file)}
symbols = {{ ALC = "MSFT", BOB = "AAPL" }}
min_interval_ms = 0
chunk_kb = 4
""")
    expected = expected_ticks(itch_file, "itch", {"ALC": MSFT, "BOB": AAPL})
    summary = replay(str(itch_file), "itch", bars=False)

    async def with_feed():
        h = await start(cfg)
        feed = h.feeds.market_feeds[0]
        await until(lambda: feed.state == "finished" and not feed.pending, what="feed end")
        await all_durable(h.server)
        refs = journal_references(h.server)
        for inst in (MSFT, AAPL):
            prices = [p for i, p in refs if i == inst]
            assert len(prices) > 1                       # the recording moves them
            assert all(a != b for a, b in zip(prices, prices[1:])), "an unchanged price was sent"
            assert prices[-1] == expected[inst]
            assert engine_reference(h.server, inst) == expected[inst]
        m = await h.metrics()
        for kind, n in summary.messages.items():
            assert value(m, "ordex_feed_messages_total", feed="nasdaq", type=kind) == n
        for reason, n in summary.reasons.items():
            assert value(m, "ordex_feed_filter_hits_total", feed="nasdaq", reason=reason) == n
        assert value(m, "ordex_commands_total", kind="REFERENCE_PRICE") == len(refs)
        for inst, symbol in ((MSFT, "MSFT"), (AAPL, "AAPL")):
            assert value(m, "ordex_feed_reference_prices_total", feed="nasdaq",
                         instrument=symbol) == sum(1 for i, _ in refs if i == inst)
            labels = frozenset({("feed", "nasdaq"), ("instrument", symbol)})
            assert m[("ordex_feed_reference_age_seconds", labels)] >= 0
            # the recording is from 2010: its exchange time is years old
            assert m[("ordex_feed_reference_source_age_seconds", labels)] > 3600 * 24 * 365
        assert value(m, "ordex_feed_up", feed="nasdaq") == 0      # finished
        await check_collar(h, expected[MSFT], "live")
        state = h.server.engine.state_hash()
        await h.stop()
        return state

    async def replayed():
        h = await start(dataclasses.replace(cfg, feeds=[]))      # no feed this time
        assert h.server.engine.state_hash() == state
        assert engine_reference(h.server, MSFT) == expected[MSFT]
        await check_collar(h, expected[MSFT], "replayed")
        await h.stop()

    state = run_on(loop_kind, with_feed)
    run_on(loop_kind, replayed)


def test_damaged_itch_bytes_are_counted_and_the_rest_still_used(tmp_path, itch_bytes, caplog):
    cut = len(itch_bytes) // 2
    damaged = tmp_path / "damaged-20101224.itch50"
    damaged.write_bytes(itch_bytes[:cut] + b"\x00\x05Zjunk" + bytes(range(256)) * 3
                        + itch_bytes[cut:-7])          # garbage in the middle, a torn last frame
    cfg = feed_config(tmp_path, f"""
[[feed]]
name = "bad"
format = "itch"
path = {toml_str(damaged)}
symbols = {{ ALC = "MSFT" }}
min_interval_ms = 0
""")

    async def scenario():
        h = await start(cfg)
        feed = h.feeds.market_feeds[0]
        await until(lambda: feed.state == "finished" and not feed.pending, what="feed end")
        await all_durable(h.server)
        m = await h.metrics()
        for reason in ("bad_frame", "skipped_bytes", "truncated"):
            assert value(m, "ordex_feed_filter_hits_total", feed="bad", reason=reason) > 0
        assert value(m, "ordex_accepting") == 1
        assert not feed.failures
        ref = engine_reference(h.server, MSFT)
        assert ref > 0 and journal_references(h.server)
        await check_collar(h, ref, "damaged")
        await h.stop()

    with caplog.at_level(logging.INFO, logger="ordex.feed"):
        run_on("asyncio", scenario)
    assert any("feed bad finished" in r.getMessage() and "bad_frame" in r.getMessage()
               for r in caplog.records)


def test_a_gzip_file_damaged_part_way_stops_its_feed_only(tmp_path, itch_bytes, caplog):
    packed = gzip.compress(itch_bytes)
    damaged = tmp_path / "cut-20101224.itch50.gz"
    damaged.write_bytes(packed[:len(packed) // 2] + b"\xff" * 64 + packed[len(packed) // 2:])
    cfg = feed_config(tmp_path, f"""
[[feed]]
name = "gz"
format = "itch"
path = {toml_str(damaged)}
symbols = {{ ALC = "MSFT" }}
min_interval_ms = 0
chunk_kb = 4
retry_ms = 10
""")

    async def scenario():
        h = await start(cfg)
        feed = h.feeds.market_feeds[0]
        await until(lambda: feed.state == "stopped", what="feed stop")
        m = await h.metrics()
        assert value(m, "ordex_feed_failures_total", feed="gz", reason="bad_gzip") == 1
        assert value(m, "ordex_feed_messages_total", feed="gz", type="A") > 0   # before the damage
        assert value(m, "ordex_accepting") == 1
        ev = await h.submit(order("after", BUY, 100, 1))
        assert ev[0]["kind"] in (EventKind.NEW, EventKind.REJECTED)
        assert ev[0]["reason"] in (0, Reason.PRICE_OUTSIDE_COLLAR)
        await h.stop()

    with caplog.at_level(logging.INFO, logger="ordex.feed"):
        run_on("asyncio", scenario)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "feed gz failed: bad_gzip" in text and "not read again" in text


def test_a_missing_file_is_retried_then_the_feed_stops(tmp_path, caplog):
    missing = tmp_path / "nowhere.itch50"
    cfg = feed_config(tmp_path, f"""
[[feed]]
name = "later"
format = "itch"
path = {toml_str(missing)}
symbols = {{ ALC = "MSFT" }}
retry_ms = 10
max_retries = 2
""")

    async def scenario():
        h = await start(cfg)
        feed = h.feeds.market_feeds[0]
        await until(lambda: feed.state == "stopped", what="feed stop")
        m = await h.metrics()
        assert value(m, "ordex_feed_failures_total", feed="later", reason="open_failed") == 3
        assert value(m, "ordex_accepting") == 1
        ev = await h.submit(order("still", BUY, 15000, 1))
        assert ev[0]["kind"] == EventKind.NEW
        await h.stop()

    with caplog.at_level(logging.INFO, logger="ordex.feed"):
        run_on("asyncio", scenario)
    failed = [r.getMessage() for r in caplog.records if "failed: open_failed" in r.getMessage()]
    assert len(failed) == 3 and str(missing) in failed[0]
    assert any("3 failures in a row" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("loop_kind", LOOPS)
def test_coinbase_over_tcp_metrics_move_and_a_disconnect_is_retried(tmp_path, coinbase_file,
                                                                      loop_kind):
    lines = coinbase_file.read_bytes().splitlines(keepends=True)
    half = len(lines) // 2
    expected = expected_ticks(coinbase_file, "coinbase", {"BAND-GBP": MSFT})

    async def scenario():
        more = asyncio.Event()
        connections = []

        async def venue(reader, writer):
            connections.append(writer)
            if len(connections) == 1:
                writer.write(b"".join(lines[:half]) + b"this is not a recording line\n"
                             + b'{"type": "l2update", "product_id": \n')
                await writer.drain()
                await more.wait()
                writer.write(b"".join(lines[half:]))
                await writer.drain()
            writer.close()

        listener = await asyncio.start_server(venue, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        cfg = feed_config(tmp_path, f"""
[[feed]]
name = "cb"
format = "coinbase"
connect = "127.0.0.1:{port}"
symbols = {{ "BAND-GBP" = "MSFT" }}
min_interval_ms = 0
retry_ms = 10
max_retries = 1
""")
        h = await start(cfg)
        feed = h.feeds.market_feeds[0]
        await until(lambda: feed.submitted[MSFT] > 0, what="a first reference")
        m1 = await h.metrics()
        assert value(m1, "ordex_feed_up", feed="cb") == 1
        assert value(m1, "ordex_feed_filter_hits_total", feed="cb", reason="garbage_line") == 1
        assert value(m1, "ordex_feed_filter_hits_total", feed="cb", reason="bad_json") == 1
        more.set()
        await until(lambda: feed.state == "stopped", what="feed stop")
        await all_durable(h.server)
        m2 = await h.metrics()
        for name, labels in (("ordex_feed_messages_total", {"type": "l2update"}),
                             ("ordex_feed_reference_prices_total", {"instrument": "MSFT"})):
            assert value(m2, name, feed="cb", **labels) > value(m1, name, feed="cb", **labels) > 0
        # one drop after data, one reconnect that got nothing: two in a row > max_retries = 1
        assert value(m2, "ordex_feed_failures_total", feed="cb", reason="disconnected") == 2
        assert len(connections) == 2
        assert value(m2, "ordex_feed_up", feed="cb") == 0
        assert journal_references(h.server)[-1] == (MSFT, expected[MSFT])
        assert engine_reference(h.server, MSFT) == expected[MSFT]
        await check_collar(h, expected[MSFT], "tcp")
        await h.stop()
        listener.close()
        await listener.wait_closed()

    run_on(loop_kind, scenario)


@pytest.mark.parametrize("case", ["bare-itch-then-close", "json-line-too-long"])
def test_a_stream_that_ends_badly_keeps_what_it_delivered(tmp_path, itch_file, case):
    data = itch_file.read_bytes()
    expected = expected_ticks(itch_file, "itch", {"ALC": MSFT})

    async def venue(reader, writer):
        writer.write(data if case == "bare-itch-then-close" else b'{"type": "' + b"x" * 5000)
        await writer.drain()
        writer.close()

    async def scenario():
        listener = await asyncio.start_server(venue, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        fmt = "itch" if case == "bare-itch-then-close" else "coinbase"
        cfg = feed_config(tmp_path, f"""
[[feed]]
name = "s"
format = "{fmt}"
connect = "127.0.0.1:{port}"
symbols = {{ ALC = "MSFT" }}
stale_ms = 0
min_interval_ms = 0
max_line_kb = 4
on_failure = "stop"
""")
        h = await start(cfg)
        feed = h.feeds.market_feeds[0]
        await until(lambda: feed.state == "stopped" and not feed.pending, what="feed stop")
        await all_durable(h.server)
        m = await h.metrics()
        reason = "disconnected" if case == "bare-itch-then-close" else "line_too_long"
        assert value(m, "ordex_feed_failures_total", feed="s", reason=reason) == 1
        if case == "bare-itch-then-close":
            assert engine_reference(h.server, MSFT) == expected[MSFT]
            assert value(m, "ordex_feed_messages_total", feed="s", type="P") == 5000
        else:
            assert journal_references(h.server) == []
        assert value(m, "ordex_accepting") == 1
        await h.stop()
        listener.close()
        await listener.wait_closed()

    run_on("asyncio", scenario)


def test_refresh_resends_an_unchanged_reference_only_while_the_source_lives(tmp_path,
                                                                          coinbase_file):
    lines = coinbase_file.read_bytes().splitlines(keepends=True)
    expected = expected_ticks(coinbase_file, "coinbase", {"BAND-GBP": MSFT})

    async def scenario():
        hang_up = asyncio.Event()

        async def venue(reader, writer):
            writer.write(b"".join(lines))
            await writer.drain()
            await hang_up.wait()          # connected, silent: the price stays what it was
            writer.close()

        listener = await asyncio.start_server(venue, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        cfg = feed_config(tmp_path, f"""
[[feed]]
name = "quiet"
format = "coinbase"
connect = "127.0.0.1:{port}"
symbols = {{ "BAND-GBP" = "MSFT" }}
min_interval_ms = 0
refresh_ms = 40
on_failure = "stop"
""")
        h = await start(cfg)
        feed = h.feeds.market_feeds[0]
        await until(lambda: feed.sent.get(MSFT, (0,))[0] == expected[MSFT], what="the last price")
        first = feed.submitted[MSFT]
        await until(lambda: feed.submitted[MSFT] >= first + 3, what="refreshes")
        hang_up.set()
        await until(lambda: feed.state == "stopped", what="feed stop")
        await all_durable(h.server)
        refs = journal_references(h.server)
        assert refs[-3:] == [(MSFT, expected[MSFT])] * 3        # the same price, sent again
        after = feed.submitted[MSFT]
        await asyncio.sleep(0.2)                                   # five refresh periods
        assert feed.submitted[MSFT] == after, "refreshed a feed that is not live"
        await h.stop()
        listener.close()
        await listener.wait_closed()

    run_on("asyncio", scenario)


@pytest.mark.parametrize("price, off_tick, sent, off_tick_hits", [
    ("last", "reject", [], 1),           # 100.005 is off the 0.01 grid: counted, not sent
    ("last", "nearest", [10001], 0),     # 100.005 to the nearest 0.01, half up
    ("mid", "reject", [10001], 0),       # (100.00 + 100.02) / 2, on the grid
])
def test_price_kind_and_off_tick(tmp_path, price, off_tick, sent, off_tick_hits):
    ticks = tmp_path / "quotes-and-trades.csv"
    ticks.write_text("time,sym,kind,price,size,bid,bid_qty,ask,ask_qty\n"
                     "1000,XYZ,quote,,,100.00,5,100.02,5\n"
                     "2000,XYZ,trade,100.03,1,,,,\n"
                     "3000,XYZ,trade,100.005,1,,,,\n")     # one batch: only the last counts
    cfg = feed_config(tmp_path, f"""
[[feed]]
name = "t"
format = "csv"
path = {toml_str(ticks)}
columns = {{ ts = "time", symbol = "sym", qty = "size" }}
symbols = {{ XYZ = "MSFT" }}
price = "{price}"
off_tick = "{off_tick}"
min_interval_ms = 0
""")

    async def scenario():
        h = await start(cfg)
        feed = h.feeds.market_feeds[0]
        await until(lambda: feed.state == "finished" and not feed.pending, what="feed end")
        await all_durable(h.server)
        assert [p for _, p in journal_references(h.server)] == sent
        m = await h.metrics()
        assert value(m, "ordex_feed_filter_hits_total", feed="t", reason="off_tick") == \
            off_tick_hits
        await h.stop()

    run_on("asyncio", scenario)


def test_references_wait_while_the_server_refuses_commands(tmp_path, itch_file, caplog):
    cfg = feed_config(tmp_path, f"""
[[feed]]
name = "held"
format = "itch"
path = {toml_str(itch_file)}
symbols = {{ ALC = "MSFT" }}
min_interval_ms = 0
""")
    expected = expected_ticks(itch_file, "itch", {"ALC": MSFT})

    async def scenario():
        h = await start(cfg)
        server = h.server
        server.accepting, server.refusal = False, "test: journal unavailable"
        feed = h.feeds.market_feeds[0]
        await until(lambda: feed.state == "finished", what="feed end")
        assert feed.pending[MSFT][0] == expected[MSFT] and not journal_references(server)
        server.accepting, server.refusal = True, ""
        await until(lambda: not feed.pending, what="the held price")
        await all_durable(server)
        assert journal_references(server) == [(MSFT, expected[MSFT])]
        await h.stop()

    with caplog.at_level(logging.INFO, logger="ordex.feed"):
        run_on("asyncio", scenario)
    held = [r.getMessage() for r in caplog.records if "reference prices held" in r.getMessage()]
    assert len(held) == 1 and "journal unavailable" in held[0]


def test_min_interval_coalesces_to_one_reference_per_instrument(tmp_path, itch_file):
    cfg = feed_config(tmp_path, f"""
[[feed]]
name = "slow"
format = "itch"
path = {toml_str(itch_file)}
symbols = {{ ALC = "MSFT" }}
min_interval_ms = 600000
chunk_kb = 4
""")
    expected = expected_ticks(itch_file, "itch", {"ALC": MSFT})

    async def scenario():
        h = await start(cfg)
        feed = h.feeds.market_feeds[0]
        await until(lambda: feed.state == "finished", what="feed end")
        await all_durable(h.server)
        # the first price went at once; every later one waits for the interval, the newest kept
        assert len(journal_references(h.server)) == 1
        assert feed.pending[MSFT][0] == expected[MSFT]
        assert feed.pending[MSFT][0] != engine_reference(h.server, MSFT)
        await h.stop()

    run_on("asyncio", scenario)


def write_ticks(tmp_path) -> tuple[Path, Path]:
    """A CSV of XYZ trades (with a bad row, a duplicate and an out-of-band spike) and the same
    rows as Parquet."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq
    rows = []
    for k in range(200):
        rows.append((1_600_000_000_000 + k * 10, "XYZ", f"{150 + (k * 37 % 23) / 100 + 0.005:.3f}",
                     "10"))
    rows.insert(50, rows[49])                                       # duplicate
    rows.insert(80, (1_600_000_000_800, "XYZ", "1500.000", "10"))   # out of band
    rows.insert(120, (1_600_000_001_200, "XYZ", "abc", "10"))      # bad row
    table = pa.table({"time": [r[0] for r in rows], "sym": [r[1] for r in rows],
                      "px": [r[2] for r in rows], "size": [r[3] for r in rows]})
    csv_path, pq_path = tmp_path / "ticks.csv", tmp_path / "ticks.parquet"
    pacsv.write_csv(table, csv_path)
    pq.write_table(table, pq_path)
    return csv_path, pq_path


SOURCE_KINDS = ["coinbase-file", "binance-file", "csv", "parquet", "itch-soupbintcp"]


@pytest.mark.parametrize("kind", SOURCE_KINDS)
def test_each_source_kind_ends_at_the_offline_replay_reference(tmp_path, kind, itch_file,
                                                               coinbase_file, binance_files):
    """Whatever the source, the engine's reference ends where `ordex feeds replay` of the same
    data ends, and the normaliser's filter counts appear on /metrics."""
    spec = TickSpec({"ts": "time", "symbol": "sym", "price": "px", "qty": "size"}, "ms")
    settings = "min_interval_ms = 0\nchunk_kb = 8\n"
    if kind == "coinbase-file":
        path, fmt, symbol, kw = coinbase_file, "coinbase", "BAND-GBP", {}
        source = f"path = {toml_str(path)}"
    elif kind == "binance-file":
        path, fmt, symbol, kw = binance_files[0], "binance", "RUNEEUR", {}
        source = f"path = {toml_str(path)}\nsnapshots = {toml_str(binance_files[1])}"
    elif kind in ("csv", "parquet"):
        csv_path, pq_path = write_ticks(tmp_path)
        path = csv_path if kind == "csv" else pq_path
        fmt, symbol, kw = kind, "XYZ", {"spec": spec}
        source = (f'path = {toml_str(path)}\nts_unit = "ms"\n'
                  'columns = { ts = "time", symbol = "sym", price = "px", qty = "size" }')
    else:
        path, fmt, symbol, kw = itch_file, "itch", "ALC", {}
        source = 'connect = "127.0.0.1:{port}"\nsoup = true\nstale_ms = 0\nusername = "MM1"'
    expected = expected_ticks(path, fmt, {symbol: MSFT}, **kw)
    summary = replay(str(path), fmt, bars=False, **kw)
    logins = []

    async def soup_venue(reader, writer):
        logins.append(await reader.readexactly(49))
        out = [soup(b"A" + b"S1".rjust(10) + b"1".rjust(20))]
        out += [soup(b"S" + f[2:]) for f in frames(itch_file.read_bytes())]
        writer.write(b"".join(out) + soup(b"Z"))
        await writer.drain()
        while await reader.read(4096):      # heartbeats until the client hangs up
            pass
        writer.close()

    async def scenario():
        listener = None
        text = source
        if kind == "itch-soupbintcp":
            listener = await asyncio.start_server(soup_venue, "127.0.0.1", 0)
            text = source.format(port=listener.sockets[0].getsockname()[1])
        cfg = feed_config(tmp_path, f"""
[[feed]]
name = "src"
format = "{fmt}"
symbols = {{ "{symbol}" = "MSFT" }}
{settings}{text}
""")
        h = await start(cfg)
        feed = h.feeds.market_feeds[0]
        await until(lambda: feed.state not in ("starting", "running") and not feed.pending,
                    what="feed end")
        assert feed.state == "finished" and not feed.failures
        await all_durable(h.server)
        assert engine_reference(h.server, MSFT) == expected[MSFT]
        assert journal_references(h.server)[-1] == (MSFT, expected[MSFT])
        m = await h.metrics()
        for reason, n in summary.reasons.items():
            assert value(m, "ordex_feed_filter_hits_total", feed="src", reason=reason) == n
        await h.stop()
        if listener is not None:
            listener.close()
            await listener.wait_closed()

    run_on("asyncio", scenario)
    if kind in ("csv", "parquet"):
        assert {"duplicate", "out_of_band", "bad_row"} <= set(summary.reasons)
    if kind == "itch-soupbintcp":
        assert logins and logins[0][2:3] == b"L" and logins[0][3:9] == b"MM1   "


def soup(payload: bytes) -> bytes:
    return len(payload).to_bytes(2, "big") + payload


def test_a_rejected_soupbintcp_login_is_a_failure_with_its_reason(tmp_path, caplog):
    async def venue(reader, writer):
        await reader.readexactly(49)
        writer.write(soup(b"JA"))
        await writer.drain()
        writer.close()

    async def scenario():
        listener = await asyncio.start_server(venue, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        cfg = feed_config(tmp_path, f"""
[[feed]]
name = "soup"
format = "itch"
connect = "127.0.0.1:{port}"
soup = true
symbols = {{ ALC = "MSFT" }}
on_failure = "stop"
""")
        h = await start(cfg)
        feed = h.feeds.market_feeds[0]
        await until(lambda: feed.state == "stopped", what="feed stop")
        m = await h.metrics()
        assert value(m, "ordex_feed_failures_total", feed="soup", reason="login_rejected") == 1
        assert value(m, "ordex_accepting") == 1
        await h.stop()
        listener.close()
        await listener.wait_closed()

    with caplog.at_level(logging.INFO, logger="ordex.feed"):
        run_on("asyncio", scenario)
    assert any("login_rejected" in r.getMessage() and "(A)" in r.getMessage()
               for r in caplog.records)


@pytest.mark.parametrize("snippet, message", [
    ('name = "f"\nformat = "itch"\npath = "x"\nsymbols = { ALC = "MSFT" }\ncolour = 1',
     "[feed 1] unknown key(s): colour"),
    ('name = "a feed"\nformat = "itch"\npath = "x"\nsymbols = { ALC = "MSFT" }',
     "[feed 1] name = 'a feed': 1 to 19 characters"),
    ('name = "f"\nformat = "fix"\npath = "x"\nsymbols = { ALC = "MSFT" }',
     "[feed f] format = 'fix': expected one of itch"),
    ('name = "f"\nformat = "itch"\nsymbols = { ALC = "MSFT" }',
     "[feed f] needs exactly one of path (a file) and connect"),
    ('name = "f"\nformat = "csv"\nconnect = "h:1"\nsymbols = { ALC = "MSFT" }',
     "[feed f] connect: format 'csv' is read from files only"),
    ('name = "f"\nformat = "itch"\nconnect = "nowhere"\nsymbols = { ALC = "MSFT" }',
     "[feed f] connect = 'nowhere': expected HOST:PORT"),
    ('name = "f"\nformat = "coinbase"\npath = "x"\nsoup = true\nsymbols = { A = "MSFT" }',
     "[feed f] soup = true needs format"),
    ('name = "f"\nformat = "itch"\npath = "x"\nsymbols = { ALC = "IBM" }',
     "[feed f] symbols.ALC = 'IBM': not an instrument"),
    ('name = "f"\nformat = "itch"\npath = "x"\nsymbols = { A = "MSFT", B = "MSFT" }',
     "[feed f] symbols: two feed symbols map to 'MSFT'"),
    ('name = "f"\nformat = "itch"\npath = "x"',
     "[feed f] symbols is required"),
    ('name = "f"\nformat = "itch"\npath = "x"\nsymbols = { ALC = "MSFT" }\nmin_interval_ms = -1',
     "[feed f] min_interval_ms = -1: must be at least 0"),
    ('name = "f"\nformat = "itch"\npath = "x"\nsymbols = { ALC = "MSFT" }\nprice = "vwap"',
     "[feed f] price = 'vwap': expected one of mark, last, mid"),
    ('name = "f"\nformat = "coinbase"\npath = "x"\nsymbols = { A = "MSFT" }\nscales = { A = "2" }',
     "[feed f] scales.A = '2': expected"),
    ('name = "f"\nformat = "csv"\npath = "x"\nsymbols = { A = "MSFT" }\ncolumns = { when = "t" }',
     "[feed f] columns: unknown tick fields ['when']"),
    ('name = "f"\nformat = "itch"\npath = "x"\nsymbols = { ALC = "MSFT" }\ndate = "24/12/2010"',
     "[feed f] date = '24/12/2010': expected YYYY-MM-DD"),
    ('name = "f"\nformat = "itch"\npath = "x"\nsymbols = { ALC = "MSFT" }\n[[feed]]\nname = "g"'
     '\nformat = "itch"\npath = "y"\nsymbols = { BOB = "MSFT" }',
     "[[feed]] 'g' and 'f' both map to instrument 'MSFT'"),
    ('name = "f"\nformat = "itch"\npath = "x"\nsymbols = { ALC = "MSFT" }\n[[feed]]\nname = "f"'
     '\nformat = "itch"\npath = "y"\nsymbols = { BOB = "AAPL" }',
     "[[feed]] names must be unique"),
])
def test_invalid_feed_config_fails_at_start_naming_the_key(snippet, message):
    with pytest.raises(config_mod.ConfigError) as err:
        config_mod.parse(config_mod.default_text() + "\n[[feed]]\n" + snippet, source="cfg.toml")
    assert str(err.value).startswith("cfg.toml: ") and message in str(err.value), str(err.value)


def test_the_default_config_runs_no_feed():
    assert config_mod.parse(config_mod.default_text()).feeds == []
