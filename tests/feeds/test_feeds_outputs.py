"""Tick files in (CSV, Parquet, column mapping), the Parquet tick store and OHLCV bars out,
reference prices for the engine."""
from __future__ import annotations

import datetime as dt
import decimal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ordex.feeds.bars import BAR_DTYPE, BarBuilder
from ordex.feeds.model import EVENT_DTYPE, Flag, Instrument, Instruments, Kind
from ordex.feeds.reference import ReferencePrices
from ordex.feeds.store import TickStore, day_index, read_store
from ordex.feeds.ticks import TickNormaliser, TickSpec, read_ticks

CSV = """time,sym,px,size,side,bid,ask,bsz,asz,n
2024-01-02T14:30:00.000001Z,ABC,10.25,100,buy,,,,,1
2024-01-02T14:30:00.000002Z,ABC,,,,10.24,10.26,300,200,2
this,is,garbage
2024-01-02T14:30:00.000003Z,ABC,10.2x,100,sell,,,,,3
2024-01-02T14:30:00.000004Z,ABC,10.26,0,sell,,,,,4
2024-01-02T14:30:00.000005Z,ABC,10.26,5,sell,,,,,5
2024-01-02T14:30:00.000005Z,ABC,10.26,5,sell,,,,,5
2024-01-02T14:30:00.000006Z,XYZ,1.5,1,,,,,,9
2024-01-02T14:30:00.000007Z,ABC,10.27,1,b,,,,,4
2024-01-02T14:30:00.000008Z,ABC,,,,10.30,10.29,1,1,8
"""
MAPPING = "ts=time,symbol=sym,price=px,qty=size,bid_qty=bsz,ask_qty=asz,seq=n"


def test_csv_ticks_with_mapping_and_bad_rows(tmp_path):
    path = tmp_path / "ticks.csv"
    path.write_text(CSV)
    n = TickNormaliser(TickSpec.parse_mapping(MAPPING), Instruments(2, 0))
    ev = np.concatenate(list(read_ticks(path, n)))
    assert n.counters.as_dict() == {"garbage_line": 1, "bad_row": 1, "non_positive_size": 1,
                                    "duplicate": 1, "out_of_order": 1, "gap": 2, "crossed": 1}
    assert ev["kind"].tolist() == [Kind.TRADE, Kind.QUOTE, Kind.TRADE, Kind.TRADE, Kind.QUOTE]
    assert ev["price"].tolist() == [1025, 1024, 1026, 150, 1030]
    assert ev["qty"].tolist() == [100, 300, 5, 1, 1]
    assert ev["price2"][1] == 1026 and ev["qty2"][1] == 200
    assert ev["side"].tolist() == [1, 0, -1, 0, 0]
    assert ev["flags"][4] & Flag.F_CROSSED
    assert ev["ts_ns"][0] == 1_704_205_800_000_001_000
    assert n.tops()[0] == (1030, 1, 1029, 1)


def test_parquet_ticks_typed_columns(tmp_path):
    path = tmp_path / "ticks.parquet"
    table = pa.table({
        "t": pa.array([1_700_000_000_000, 1_700_000_000_500], pa.timestamp("ms")),
        "price": pa.array([decimal.Decimal("101.25"), decimal.Decimal("101.50")],
                          pa.decimal128(10, 2)),
        "qty": pa.array([0.1, 2.5]),              # floats: read through their shortest text
    })
    pq.write_table(table, path)
    n = TickNormaliser(TickSpec({"ts": "t"}, symbol="SYM"), Instruments(2, 1))
    ev = np.concatenate(list(read_ticks(path, n)))
    assert ev["ts_ns"].tolist() == [1_700_000_000_000_000_000, 1_700_000_000_500_000_000]
    assert ev["price"].tolist() == [10125, 10150] and ev["qty"].tolist() == [1, 25]
    assert n.counters.as_dict() == {}


def test_tick_spec_rejects_unknown_fields():
    with pytest.raises(ValueError, match="unknown tick fields"):
        TickSpec.parse_mapping("when=time")
    with pytest.raises(ValueError, match="FIELD=COLUMN"):
        TickSpec.parse_mapping("ts")


def _events(n, instruments=3, start_ns=1_700_000_000 * 10**9, step_ns=10**7, seed=1):
    rng = np.random.default_rng(seed)
    ev = np.zeros(n, EVENT_DTYPE)
    ev["ts_ns"] = start_ns + np.arange(n) * step_ns
    ev["recv_ns"] = ev["ts_ns"]
    ev["instrument"] = rng.integers(0, instruments, n)
    ev["kind"] = Kind.TRADE
    ev["price"] = 10_000 + rng.integers(-50, 50, n)
    ev["qty"] = rng.integers(1, 10, n)
    ev["seq"] = np.arange(n)
    return ev


def _inst(i):
    return Instrument(i, f"S/{i}", 2, 0)


def test_store_round_trip_partitions_and_bounded_memory(tmp_path):
    ev = _events(50_000, step_ns=4 * 10**9)        # 2023-11-14 22:13 to 2023-11-17 01:46 UTC
    with TickStore(tmp_path, max_rows=5_000, max_open=2, source="test") as store:
        for chunk in np.array_split(ev, 25):
            store.write(chunk, _inst)
    assert store.peak_buffered <= 5_000 + 2_000
    assert store.rows_written == len(ev)
    days = {p.split("date=")[1][:10] for p in store.files}
    assert days == {"2023-11-14", "2023-11-15", "2023-11-16", "2023-11-17"}
    back = read_store(tmp_path)
    assert back.num_rows == len(ev)
    one = read_store(tmp_path, "S/1").sort_by("seq")
    want = ev[ev["instrument"] == 1]
    assert one.column("seq").to_pylist() == want["seq"].tolist()
    assert one.column("price").to_pylist() == want["price"].tolist()
    meta = pq.read_schema(store.files[0]).metadata
    assert meta[b"price_decimals"] == b"2" and meta[b"symbol"].startswith(b"S/")


def test_store_dates_follow_the_time_zone():
    # 2010-12-24 19:30 New York is 2010-12-25 00:30 UTC.
    ts = np.array([1_293_237_000 * 10**9], dtype=np.int64)
    assert day_index(ts)[0] == (dt.date(2010, 12, 25) - dt.date(1970, 1, 1)).days
    new_york = day_index(ts, "America/New_York")[0]
    assert new_york == (dt.date(2010, 12, 24) - dt.date(1970, 1, 1)).days


def naive_bars(ev, interval):
    bars = {}
    for e in ev:
        if e["kind"] != Kind.TRADE or e["flags"] & (Flag.F_NON_PRINTABLE | Flag.F_OUT_OF_BAND):
            continue
        k = (int(e["instrument"]), int(e["ts_ns"]) // interval * interval)
        p, q = int(e["price"]), int(e["qty"])
        if k not in bars:
            bars[k] = [p, p, p, p, q, 1]
        else:
            b = bars[k]
            b[1], b[2], b[3], b[4], b[5] = max(b[1], p), min(b[2], p), p, b[4] + q, b[5] + 1
    return bars


@pytest.mark.parametrize("interval", ["1s", "1m"])
def test_bars_equal_a_naive_computation(interval, tmp_path):
    from ordex.feeds.bars import INTERVALS_NS
    ev = _events(20_000, step_ns=37 * 10**6)
    ev["flags"][::97] = Flag.F_OUT_OF_BAND
    ev["kind"][::13] = Kind.QUOTE
    b = BarBuilder(intervals=(interval,))
    for chunk in np.array_split(ev, 17):
        b.add(chunk, _inst)
    b.close()
    got = {(int(r["instrument"]), int(r["start_ns"])): [int(r[f]) for f in
           ("open", "high", "low", "close", "volume", "trades")] for r in b.bars(interval)}
    assert got == naive_bars(ev, INTERVALS_NS[interval])
    assert len(b.bars(interval)) == len(got)       # each bar written once


def test_bars_to_parquet(tmp_path):
    ev = _events(5_000)
    b = BarBuilder(tmp_path, flush_rows=10)
    b.add(ev, _inst)
    b.close()
    t = pq.read_table(tmp_path / "bars_1s.parquet")
    assert t.num_rows == b.rows_written["1s"] > 0
    assert set(t.column("symbol").to_pylist()) == {"S/0", "S/1", "S/2"}
    assert int(pa.compute.sum(t.column("trades")).as_py()) == 5_000
    assert BAR_DTYPE.names[1:] == tuple(t.column_names[1:8])


def test_reference_prices_band_stale_and_marks():
    refs = ReferencePrices(stale_ns=10**9, band_bps=100, reanchor_after=3)
    refs.bind(_inst)
    ev = np.zeros(9, EVENT_DTYPE)
    ev["kind"] = [Kind.TRADE, Kind.TRADE, Kind.TRADE, Kind.QUOTE, Kind.TRADE, Kind.TRADE,
                  Kind.TRADE, Kind.TRADE, Kind.QUOTE]
    ev["price"] = [10_000, 10_050, 20_000, 10_000, 10_000, 12_000, 12_000, 12_000, 11_990]
    ev["price2"][ev["kind"] == Kind.QUOTE] = [10_010, 12_010]
    ev["ts_ns"] = np.arange(1, 10) * 10**9
    ev["recv_ns"] = ev["ts_ns"]
    ev["recv_ns"][4] += 5 * 10**9                   # arrived 5 s late: stale
    refs.process(ev)
    flags = ev["flags"].tolist()
    assert flags[2] == Flag.F_OUT_OF_BAND and flags[4] == Flag.F_STALE
    assert flags[5] == flags[6] == Flag.F_OUT_OF_BAND and flags[7] == 0   # third one re-anchors
    assert refs.reasons() == {"stale": 1, "out_of_band": 3, "band_reanchor": 1}
    mark = refs.get("S/0")
    assert (mark.price, mark.ts_ns, mark.kind) == (12_000, 9 * 10**9, "mid")
    assert refs.get("S/0", "last").price == 12_000
    assert refs.fresh("S/0", 10 * 10**9, 10**9).price == 12_000
    assert refs.fresh("S/0", 11 * 10**9, 10**9) is None
    assert [r.symbol for r in refs.changed()] == ["S/0"] and refs.changed() == []
    assert refs.get("S/9") is None
