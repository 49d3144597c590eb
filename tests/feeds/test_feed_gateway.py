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

from ordex.core.commands import COMMAND_DTYPE, CommandKind  # noqa: E402
from ordex.core.events import EventKind  # noqa: E402
from ordex.core.reasons import Reason  # noqa: E402
from ordex.feeds.replay import replay  # noqa: E402
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
    """(instrument, price) of every REFERENCE_PRICE command in the journal, in sequence order."""
    out = []
    for _, _, _, payload in server.journal.read(1):
        row = np.frombuffer(payload, dtype=COMMAND_DTYPE)[0]
        if row["kind"] == CommandKind.REFERENCE_PRICE:
            out.append((int(row["instrument"]), int(row["price"])))
    return out


def engine_reference(server, instrument: int) -> int:
    return server.engine.state()[6][instrument][3]     # (status, last_px, last_ts, ref_px, ref_ts)


def expected_ticks(path, fmt: str | None, mapping: dict[str, int]) -> dict[int, int]:
    """instrument -> the last mark of the offline replay of the same recording, in 0.01 steps."""
    summary = replay(str(path), fmt, bars=False)
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


@pytest.mark.parametrize("snippet, message", [
    ('name = "f"\nformat = "itch"\npath = "x"\nsymbols = { ALC = "MSFT" }\ncolour = 1',
     "[feed 1] unknown key(s): colour"),
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
