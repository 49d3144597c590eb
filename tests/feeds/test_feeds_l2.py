"""Coinbase and Binance JSON level-2 feeds: the real recordings replay without unexplained gaps,
the books equal ones rebuilt independently (Decimal dicts) and the venues' own best bid/offer;
the Binance snapshot/diff rule in every branch; bad messages are counted, never fatal."""
from __future__ import annotations

import json
from decimal import Decimal

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ordex.feeds.binance import BinanceNormaliser, Sync
from ordex.feeds.coinbase import CoinbaseNormaliser
from ordex.feeds.model import Counters, Instruments, Kind, Status
from ordex.feeds.recording import merge_by_time, read_records


def scaled(text: str, decimals: int = 8) -> int:
    return int(Decimal(text).scaleb(decimals))


def records(path):
    return list(read_records(path, Counters("test")))


def lines(path):
    """(recv text, message) of a recording, parsed with the json module (independent of ours)."""
    out = []
    for line in open(path):
        line = line.strip()
        if ": " not in line or line.startswith("wss://"):
            continue
        head, body = line.split(": ", 1)
        out.append((head, json.loads(body)))
    return out


# -- Coinbase --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def coinbase(coinbase_file):
    n = CoinbaseNormaliser()
    batches = []
    for r in records(coinbase_file):
        n.feed_line(r.payload, r.recv_ns)
        batches.append(n.take())
    return n, np.concatenate(batches)


def test_coinbase_replays_without_gaps_or_errors(coinbase):
    n, events = coinbase
    assert n.reasons() == {}
    assert n.types == {"subscriptions": 3, "snapshot": 10, "ticker": 107, "last_match": 10,
                       "l2update": 9719, "match": 97}
    kinds = np.bincount(events["kind"], minlength=5)
    assert kinds[Kind.TRADE] == 107 and kinds[Kind.STATUS] == 20


def test_coinbase_books_equal_an_independent_rebuild(coinbase, coinbase_file):
    n, _ = coinbase
    books = {}
    for _, m in lines(coinbase_file):
        if m["type"] == "snapshot":
            books[m["product_id"]] = ({Decimal(p): Decimal(q) for p, q in m["bids"]},
                                      {Decimal(p): Decimal(q) for p, q in m["asks"]})
        elif m["type"] == "l2update":
            for side, p, q in m["changes"]:
                book = books[m["product_id"]][0 if side == "buy" else 1]
                if Decimal(q) == 0:
                    book.pop(Decimal(p), None)
                else:
                    book[Decimal(p)] = Decimal(q)
    assert len(books) == 10
    for symbol, (bids, asks) in books.items():
        i = n.instruments[symbol].id
        for side, lv in ((1, bids), (-1, asks)):
            want = sorted(((scaled(str(p)), scaled(str(q))) for p, q in lv.items()),
                          reverse=side > 0)
            assert [(p, q) for p, q, _ in n.books.depth(i, side)] == want, symbol


def test_coinbase_tickers_equal_the_book(coinbase, coinbase_file):
    """Every ticker after our subscription matches our top of book when it arrives; the last
    ticker of each product is among them unless it is the one sent on subscription."""
    n, _ = coinbase
    last_ticker, subscribed = {}, {}
    for _, m in lines(coinbase_file):
        if m["type"] == "ticker":
            last_ticker[m["product_id"]] = m
        elif m["type"] == "last_match":
            subscribed[m["product_id"]] = m["trade_id"]
    checks = n.bbo_checks()
    compared = 0
    for symbol, t in last_ticker.items():
        c = checks[symbol]
        assert c.mismatched == 0
        if t["trade_id"] > subscribed[symbol]:
            assert c.last == (t["sequence"], scaled(t["best_bid"]), scaled(t["best_ask"]),
                              scaled(t["best_bid"]), scaled(t["best_ask"]))
            assert c.last_equal
            compared += 1
        else:
            assert c.checked == 0 and c.skipped == 1
    assert compared == 8
    assert sum(c.checked for c in checks.values()) == 97


def test_coinbase_trade_ids(coinbase_file):
    n = CoinbaseNormaliser()
    base = {"type": "match", "product_id": "X-USD", "price": "1.5", "size": "2", "side": "buy",
            "time": "2021-04-17T16:43:37.1Z", "sequence": 1}
    for tid in (10, 11, 11, 9, 14):
        n.on_message({**base, "trade_id": tid})
    assert n.reasons() == {"duplicate_trade": 1, "out_of_order_trade": 1, "trade_gap": 2}
    trades = n.take()
    assert trades["ref"].tolist() == [10, 11, 14]
    assert trades["side"].tolist() == [-1, -1, -1]      # the maker bought: a seller aggressed
    assert trades["price"].tolist() == [150_000_000] * 3


def test_coinbase_update_before_snapshot_is_dropped():
    n = CoinbaseNormaliser()
    upd = {"type": "l2update", "product_id": "A-B", "changes": [["buy", "1", "1"]],
           "time": "2021-04-17T16:43:37Z"}
    n.feed_line(orjson.dumps(upd))
    n.feed_line(orjson.dumps({"type": "snapshot", "product_id": "A-B", "bids": [["0.9", "3"]],
                              "asks": [["1.1", "4"]]}))
    n.feed_line(orjson.dumps(upd))
    assert n.reasons() == {"update_before_snapshot": 1}
    assert n.books.top(0) == (100_000_000, 100_000_000, 110_000_000, 400_000_000)


# -- Binance ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def binance(binance_files):
    ws, http = binance_files
    n = BinanceNormaliser()
    c = Counters("test")
    for r in merge_by_time(read_records(ws, c), read_records(http, c)):
        n.feed_line(r.payload, r.recv_ns, r.url)
    return n, n.take()


def test_binance_replay_follows_the_snapshot_rule(binance):
    n, events = binance
    # One diff per symbol predates its snapshot; LRCBTC's second one arrived after the snapshot
    # but is older than it (540..543 <= lastUpdateId 543): dropped too.
    assert n.reasons() == {"diff_before_snapshot": 5}
    stats = {s: dict(x.stats) for s, x in n.symbols.items()}
    assert stats == {"NKNUSDT": {"diff_before_snapshot": 1}, "BLZETH": {"diff_before_snapshot": 1},
                     "LRCBTC": {"diff_before_snapshot": 2}, "RUNEEUR": {"diff_before_snapshot": 1}}
    assert n.resyncs == 0
    assert all(s.state is Sync.LIVE for s in n.symbols.values())
    assert n.symbols["NKNUSDT"].last_u == 499870179
    assert n.types == {"depthUpdate": 177, "snapshot": 4, "bookTicker": 84, "aggTrade": 2,
                       "kline": 2}
    resets = events[(events["kind"] == Kind.STATUS) & (events["action"] == Status.ST_RESET)]
    assert len(resets) == 4


def test_binance_books_equal_an_independent_rebuild(binance, binance_files):
    n, _ = binance
    ws, http = binance_files
    snaps = {}
    for head, m in lines(http):
        snaps[head.split("symbol=")[1].split("&")[0]] = m
    books, last = {}, {}
    for sym, m in snaps.items():
        books[sym] = ({Decimal(p): Decimal(q) for p, q in m["bids"]},
                      {Decimal(p): Decimal(q) for p, q in m["asks"]})
        last[sym] = m["lastUpdateId"]
    for _, m in lines(ws):
        d = m["data"]
        if d.get("e") != "depthUpdate" or d["u"] <= last[d["s"]]:
            continue
        assert d["U"] <= last[d["s"]] + 1    # the recording has no gap
        for side, key in ((0, "b"), (1, "a")):
            for p, q in d[key]:
                if Decimal(q) == 0:
                    books[d["s"]][side].pop(Decimal(p), None)
                else:
                    books[d["s"]][side][Decimal(p)] = Decimal(q)
        last[d["s"]] = d["u"]
    for sym, (bids, asks) in books.items():
        i = n.instruments[sym].id
        for side, lv in ((1, bids), (-1, asks)):
            want = sorted(((scaled(str(p)), scaled(str(q))) for p, q in lv.items()),
                          reverse=side > 0)
            assert [(p, q) for p, q, _ in n.books.depth(i, side)] == want, sym


def test_binance_last_book_ticker_equals_the_book(binance, binance_files):
    n, _ = binance
    ws, _ = binance_files
    last = {}
    for _, m in lines(ws):
        if m["stream"].endswith("@bookTicker"):
            last[m["data"]["s"]] = m["data"]
    assert set(last) == {"NKNUSDT", "BLZETH", "LRCBTC"}
    for sym, t in last.items():
        c = n.bbo_checks()[sym]
        assert c.mismatched == 0
        assert c.last == (t["u"], scaled(t["b"]), scaled(t["a"]), scaled(t["b"]), scaled(t["a"]))
        assert c.last_equal


def diff(U, u, bids=(), asks=(), s="ABCUSDT"):
    return {"e": "depthUpdate", "E": 1_633_998_512_000, "s": s, "U": U, "u": u,
            "b": [list(x) for x in bids], "a": [list(x) for x in asks]}


def snap(lid, bids=(("1.00", "5"),), asks=(("1.10", "5"),)):
    return {"lastUpdateId": lid, "bids": [list(x) for x in bids], "asks": [list(x) for x in asks]}


def test_binance_rule_buffer_drop_straddle():
    n = BinanceNormaliser()
    n.on_message(diff(95, 100, bids=[("0.50", "1")]))         # older than the snapshot: dropped
    n.on_message(diff(101, 104, bids=[("1.01", "2")]))        # straddles 101: applied
    assert n.needs_snapshot() == ["ABCUSDT"]
    n.on_snapshot("ABCUSDT", snap(100), 1)
    assert n.symbols["ABCUSDT"].state is Sync.LIVE
    n.on_message(diff(105, 105, asks=[("1.10", "0")]))
    n.on_message(diff(103, 105, bids=[("9.00", "1")]))        # already applied: dropped
    assert n.reasons() == {"diff_before_snapshot": 1, "stale_diff": 1}
    assert n.books.depth(0, 1) == [(101_000_000, 200_000_000, 0), (100_000_000, 500_000_000, 0)]
    assert n.books.depth(0, -1) == []


def test_binance_gap_forces_a_resync_from_a_new_snapshot():
    n = BinanceNormaliser()
    n.on_snapshot("ABCUSDT", snap(100), 1)
    n.on_message(diff(101, 101, bids=[("1.01", "1")]))
    n.on_message(diff(103, 104, bids=[("1.02", "1")]))        # 102 is missing
    s = n.symbols["ABCUSDT"]
    assert s.state is Sync.WAIT_SNAPSHOT and n.needs_snapshot() == ["ABCUSDT"]
    assert n.books.depth(0, 1) == [] and n.resyncs == 1
    n.on_message(diff(105, 106, asks=[("1.20", "3")]))        # buffered meanwhile
    n.on_snapshot("ABCUSDT", snap(104, bids=[("1.02", "1")]), 2)
    assert s.state is Sync.LIVE and s.last_u == 106
    assert n.books.top(0) == (102_000_000, 100_000_000, 110_000_000, 500_000_000)
    assert n.reasons() == {"gap": 1, "diff_before_snapshot": 1}
    ev = n.take()
    resets = ev[(ev["kind"] == Kind.STATUS) & (ev["action"] == Status.ST_RESET)]
    assert len(resets) == 3     # snapshot, gap, snapshot


def test_binance_first_diff_must_straddle():
    n = BinanceNormaliser()
    n.on_snapshot("ABCUSDT", snap(100), 1)
    n.on_message(diff(105, 106))
    assert n.symbols["ABCUSDT"].state is Sync.WAIT_SNAPSHOT
    assert n.reasons() == {"gap": 1}


def test_binance_older_snapshot_is_ignored_and_buffer_is_bounded():
    from ordex.feeds import binance
    n = BinanceNormaliser()
    n.on_snapshot("ABCUSDT", snap(100), 1)
    n.on_message(diff(101, 110))
    n.on_snapshot("ABCUSDT", snap(105), 2)
    assert n.reasons() == {"old_snapshot": 1}
    for i in range(binance.MAX_BUFFERED_DIFFS + 5):
        n.on_message(diff(1000 + i, 1000 + i, s="XYZUSDT"))
    assert len(n.symbols["XYZUSDT"].buffer) == binance.MAX_BUFFERED_DIFFS
    assert n.reasons()["buffer_overflow"] == 5


# -- bad input -------------------------------------------------------------------------------

BAD_MESSAGES = [
    b"not json at all", b"[1, 2, 3]", b'"text"', b"{}", b'{"type": 5}', b'{"type": "mystery"}',
    b'{"type": "snapshot"}', b'{"type": "snapshot", "product_id": "A-B", "bids": 7, "asks": []}',
    b'{"type": "snapshot", "product_id": "A-B", "bids": [["x", "1"], [1.5, "1"], ["1"]], '
    b'"asks": [["2", "-3"], ["0", "1"], ["2.000000001", "1"]]}',
    b'{"type": "l2update", "product_id": "A-B", "changes": [["up", "1", "1"], null], '
    b'"time": "2021-04-17T16:43:37Z"}',
    b'{"type": "l2update", "product_id": "A-B", "changes": [], "time": "yesterday"}',
    b'{"type": "match", "product_id": "A-B", "trade_id": "7"}',
    b'{"type": "match", "product_id": "A-B", "trade_id": 8, "price": "1", "size": "0", '
    b'"side": "buy", "time": "2021-04-17T16:43:37Z"}',
    b'{"type": "ticker", "product_id": "A-B", "best_bid": null, "best_ask": "1"}',
    b'{"type": "error", "message": "bad"}',
]


def test_coinbase_bad_messages_are_counted():
    n = CoinbaseNormaliser()
    for m in BAD_MESSAGES:
        n.feed_line(m, 1)
    r = n.reasons()
    assert r["bad_json"] == 1 and r["not_an_object"] == 2 and r["unknown_type"] == 3
    assert r["malformed"] == 3 and r["venue_error"] == 1
    assert r["bad_price"] == 3 and r["off_grid"] == 1 and r["bad_level"] == 3
    assert r["non_positive_price"] == 1 and r["non_positive_size"] == 2 and r["bad_side"] == 1
    assert n.books.depth(0, 1) == [] and n.books.depth(0, -1) == []


def test_coinbase_ignores_http_responses():
    n = CoinbaseNormaliser()
    n.feed_line(b'{"bids": []}', 1, b"https://api.exchange.coinbase.com/products/X/book")
    assert n.reasons() == {"unexpected_http": 1}


def test_garbage_lines_in_recordings(tmp_path):
    path = tmp_path / "x.log"
    path.write_bytes(b"1618677817.1: {\"type\": \"heartbeat\"}\n\nrandom words here\n"
                     b"abc: {\"type\": \"x\"}\n{\"type\": \"status\"}\n")
    c = Counters("t")
    got = list(read_records(path, c))
    assert [r.recv_ns for r in got] == [1_618_677_817_100_000_000, 0]
    assert c.as_dict() == {"garbage_line": 2}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["type", "product_id", "changes", "bids", "asks", "time", "trade_id",
                         "e", "s", "U", "u", "b", "a", "E", "lastUpdateId", "p", "q", "m", "T"]),
        inner, max_size=8),
    max_leaves=20)


@settings(max_examples=200, deadline=None)
@given(st.lists(json_values, max_size=6))
def test_random_messages_never_crash(msgs):
    cb, bn = CoinbaseNormaliser(), BinanceNormaliser()
    for m in [{"type": "snapshot", "product_id": "A-B", "bids": [], "asks": []}] + msgs:
        cb.on_message(m, 1)
        bn.on_message(m, 1)
        bn.on_snapshot("ABC", m, 1)
    cb.take()
    bn.take()


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_truncated_recording_lines_never_crash(coinbase_file, data):
    recs = records(coinbase_file)[:400]
    n = CoinbaseNormaliser()
    for r in recs:
        cut = data.draw(st.integers(0, len(r.payload)))
        n.feed_line(r.payload[:cut] if cut % 3 == 0 else r.payload, r.recv_ns)
    n.take()


def test_decimal_scales_per_instrument():
    inst = Instruments(8, 8, scales={"BTC-USD": (2, 8)})
    n = CoinbaseNormaliser(inst)
    n.on_message({"type": "snapshot", "product_id": "BTC-USD", "bids": [["60000.01", "0.5"]],
                  "asks": [["60000.015", "1"]]})
    assert n.books.depth(0, 1) == [(6_000_001, 50_000_000, 0)]
    assert n.books.depth(0, -1) == [] and n.reasons() == {"off_grid": 1}
