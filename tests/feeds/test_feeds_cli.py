"""`ordex feeds replay`: every format end to end through the real command entry point."""
from __future__ import annotations

import gzip
import json

import pyarrow.parquet as pq
import pytest

from ordex.gateway.cli import main


def test_replay_itch_writes_ticks_bars_and_summary(itch_file, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["feeds", "replay", str(itch_file), "--out", str(out), "--json",
                 str(tmp_path / "s.json"), "--progress", "always"]) == 0
    text = capsys.readouterr()
    assert "A 4,997" in text.out and "unknown_order" in text.out
    assert "BOB" in text.out and "100.0%" in text.err
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["format"] == "itch"
    assert summary["messages"]["P"] == 5000
    assert summary["reasons"]["unknown_order"] == 117
    assert set(summary["tops"]) == {"ALC", "BOB", "CHAR"}
    ticks = list((out / "ticks").rglob("*.parquet"))
    # Locate 0 carries the venue-wide system events.
    assert {p.parent.name for p in ticks} == {"instrument=ALC", "instrument=BOB",
                                               "instrument=CHAR", "instrument=_SYSTEM"}
    assert all(p.parent.parent.name == "date=2010-12-24" for p in ticks)
    assert sum(pq.read_metadata(p).num_rows for p in ticks) == 12_474
    assert pq.read_table(out / "bars" / "bars_1m.parquet").num_rows > 0


def test_replay_itch_gzip(itch_bytes, tmp_path, capsys):
    path = tmp_path / "day-20101224.itch50.gz"
    path.write_bytes(gzip.compress(itch_bytes))
    assert main(["feeds", "replay", str(path), "--json", str(tmp_path / "s.json")]) == 0
    assert json.loads((tmp_path / "s.json").read_text())["messages"]["A"] == 4997


def test_replay_coinbase(coinbase_file, tmp_path, capsys):
    assert main(["feeds", "replay", str(coinbase_file), "--out", str(tmp_path),
                 "--json", str(tmp_path / "s.json")]) == 0
    s = json.loads((tmp_path / "s.json").read_text())
    assert s["format"] == "coinbase"
    # Only the tickers and last trades sent on subscription are old enough to be stale.
    assert s["reasons"] == {"stale": 14}
    assert all(c["mismatched"] == 0 for c in s["bbo"].values())
    assert len(s["tops"]) == 10 and len(s["references"]) == 10


def test_replay_binance_finds_its_snapshots(binance_files, tmp_path, capsys):
    ws, _ = binance_files
    assert main(["feeds", "replay", str(ws), "--json", str(tmp_path / "s.json")]) == 0
    s = json.loads((tmp_path / "s.json").read_text())
    assert s["format"] == "binance" and s["reasons"] == {"diff_before_snapshot": 5}
    assert s["tops"]["NKNUSDT"] == ["0.35270000", "9602.00000000", "0.35310000", "152.00000000"]


def test_replay_csv_with_mapping(tmp_path, capsys):
    path = tmp_path / "t.csv"
    path.write_text("when,px,q\n1704205800.5,10.25,3\n1704205801,10.5,1\nbroken\n")
    assert main(["feeds", "replay", str(path), "--map", "ts=when,price=px,qty=q",
                 "--ts-unit", "s", "--symbol", "ABC", "--decimals", "2,0",
                 "--json", str(tmp_path / "s.json")]) == 0
    s = json.loads((tmp_path / "s.json").read_text())
    assert s["events"] == {"trade": 2} and s["reasons"] == {"garbage_line": 1}
    assert s["references"]["ABC"] == ["10.50", 1_704_205_801_000_000_000]


@pytest.mark.parametrize("args, message", [
    (["/nonexistent/file.log"], "No such file"),
    (["{tmp}/junk.bin"], "cannot tell the format"),
    (["{tmp}/junk.bin", "--format", "csv", "--map", "price"], "FIELD=COLUMN"),
])
def test_replay_bad_invocations_exit_2(tmp_path, capsys, args, message):
    (tmp_path / "junk.bin").write_bytes(b"\x07" * 100)
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert main(["feeds", "replay", *args]) == 2
    assert message in capsys.readouterr().err


def test_replay_corrupt_itch_still_summarises(itch_bytes, tmp_path, capsys):
    path = tmp_path / "bad-20101224.itch50"
    path.write_bytes(itch_bytes[:3000] + b"\xff" * 50 + itch_bytes[3000:-5])
    assert main(["feeds", "replay", str(path), "--format", "itch",
                 "--json", str(tmp_path / "s.json")]) == 0
    r = json.loads((tmp_path / "s.json").read_text())["reasons"]
    assert r["bad_frame"] >= 1 and r["truncated"] == 1 and r["skipped_bytes"] >= 50
