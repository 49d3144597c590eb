"""`ordex journal verify|inspect|export`."""
from __future__ import annotations

import json
import os
import struct

import pyarrow.parquet as pq
import pytest

from journal_helpers import flip_byte, record_offsets, segments, write_journal
from ordex.core import journal_decoders
from ordex.gateway.cli import main

ORDER = 7


def order_payload(seq: int) -> bytes:
    return struct.pack("<qq", 100 + seq % 10, 5000 + seq % 3)    # order_id, account


@pytest.fixture
def order_decoder():
    journal_decoders.register(ORDER, "new_order", lambda p: dict(
        zip(("order_id", "account"), struct.unpack("<qq", p))))
    yield
    journal_decoders.unregister(ORDER)


@pytest.fixture
def orders_journal(jdir):
    written = write_journal(jdir, 300, payload=order_payload,
                            rtype=lambda s: ORDER if s % 2 else 3)
    return jdir, written


def test_verify_ok(orders_journal, capsys):
    jdir, _ = orders_journal
    assert main(["journal", "verify", str(jdir), "--segments"]) == 0
    out = capsys.readouterr().out
    assert "300 records, sequences 1..300" in out and out.rstrip().endswith("OK")
    assert segments(jdir)[0].name in out


def test_verify_reports_a_torn_tail_without_repairing_it(orders_journal, capsys):
    jdir, _ = orders_journal
    last = segments(jdir)[-1]
    off, size, seq = record_offsets(last)[-1]
    os.truncate(last, off + 3)
    assert main(["journal", "verify", str(jdir)]) == 0
    out = capsys.readouterr().out
    assert "TORN TAIL" in out and f"offset {off}" in out and f"sequence {seq}" in out
    assert last.stat().st_size == off + 3


def test_verify_reports_corruption_precisely(orders_journal, capsys):
    jdir, _ = orders_journal
    seg = segments(jdir)[0]
    off, size, seq = record_offsets(seg)[10]
    flip_byte(seg, off + 30)
    assert main(["journal", "verify", str(jdir)]) == 1
    err = capsys.readouterr().err
    assert f"{seg}: offset {off}, sequence {seq}" in err and "checksum" in err


def test_verify_without_a_journal(tmp_path, capsys):
    assert main(["journal", "verify", str(tmp_path)]) == 2
    assert main(["journal", "verify", str(tmp_path / "missing")]) == 2


def test_inspect_filters_by_sequence_and_type(orders_journal, capsys):
    jdir, written = orders_journal
    assert main(["journal", "inspect", str(jdir), "--from", "10", "--to", "20", "--type", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [int(line.split()[0]) for line in lines] == [10, 12, 14, 16, 18, 20]
    assert "type_3(3)" in lines[0] and order_payload(10).hex() in lines[0]
    assert "1970-01-01T00:00:00.001000010Z" in lines[0]


def test_inspect_decodes_and_filters_by_order_and_account(orders_journal, order_decoder, capsys):
    jdir, written = orders_journal
    assert main(["journal", "inspect", str(jdir), "--type", "new_order", "--order-id", "103",
                 "--account", "5002", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    expected = [s for s, *_ in written if s % 2 and 100 + s % 10 == 103 and 5000 + s % 3 == 5002]
    assert [r["seq"] for r in rows] == expected and expected
    assert rows[0]["fields"] == {"order_id": 103, "account": 5002}
    assert rows[0]["type_name"] == "new_order"
    assert main(["journal", "inspect", str(jdir), "--where", "account=5001", "--limit", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all("account=5001" in line for line in lines)


def test_inspect_field_filter_without_decoders_warns(orders_journal, capsys):
    jdir, _ = orders_journal
    assert main(["journal", "inspect", str(jdir), "--order-id", "1"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and "no payload decoders" in captured.err


def test_inspect_bad_arguments(orders_journal, capsys):
    jdir, _ = orders_journal
    assert main(["journal", "inspect", str(jdir), "--type", "no_such_type"]) == 2
    assert "unknown record type" in capsys.readouterr().err
    assert main(["journal", "inspect", str(jdir), "--where", "novalue"]) == 2


def test_a_failing_decoder_is_reported_not_fatal(orders_journal, capsys):
    jdir, _ = orders_journal
    journal_decoders.register(ORDER, "new_order", lambda p: 1 / 0)
    try:
        assert main(["journal", "inspect", str(jdir), "--type", "7", "--limit", "1"]) == 0
    finally:
        journal_decoders.unregister(ORDER)
    assert "decode_error=ZeroDivisionError" in capsys.readouterr().out


def test_export_parquet(orders_journal, order_decoder, tmp_path, capsys):
    jdir, written = orders_journal
    out = tmp_path / "audit.parquet"
    assert main(["journal", "export", str(jdir), "-o", str(out), "--from", "101"]) == 0
    table = pq.read_table(out)
    assert table.num_rows == 200
    assert table.column("seq").to_pylist() == list(range(101, 301))
    assert table.column("payload").to_pylist() == [w[3] for w in written[100:]]
    assert table.column("ts_ns").to_pylist() == [w[2] for w in written[100:]]
    assert table.column("type_name").to_pylist()[:2] == ["new_order", "type_3"]
    fields = table.column("fields_json").to_pylist()
    assert json.loads(fields[0]) == {"order_id": 100 + 101 % 10, "account": 5000 + 101 % 3}
    assert fields[1] is None
    assert str(table.schema.field("time").type) == "timestamp[ns, tz=UTC]"
    assert not list(tmp_path.glob("*.partial"))


def test_export_of_a_corrupt_journal_fails_without_a_file(orders_journal, tmp_path, capsys):
    jdir, _ = orders_journal
    seg = segments(jdir)[0]
    flip_byte(seg, record_offsets(seg)[5][0] + 29)
    out = tmp_path / "audit.parquet"
    assert main(["journal", "export", str(jdir), "-o", str(out)]) == 1
    assert not out.exists() and not list(tmp_path.glob("*.partial"))
