"""`ordex journal verify|inspect|export DIR`: the journal as an audit trail.

verify   checks every record of every segment without changing anything; exit 0 when the journal
         is sound (a torn tail, which opening the journal would truncate, is reported), 1 when it
         is corrupt (the message names file, offset and sequence), 2 when DIR holds no journal.
inspect  prints records readably, filtered by sequence range, record type, and (through the
         payload decoders of ordex.core.journal_decoders) order id, account or any decoded field.
export   writes the selected records to Parquet for analysis.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson

from ordex.core import journal_decoders as decoders
from ordex.core.journal import read_journal
from ordex.core.journal_segments import JournalCorrupt, list_segments, scan_directory


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    verify = sub.add_parser("verify", help="check every record; exit 1 if the journal is corrupt")
    verify.add_argument("dir", type=Path, metavar="DIR")
    verify.add_argument("--segments", action="store_true", help="list every segment")
    inspect = sub.add_parser("inspect", help="print records readably, with filters")
    inspect.add_argument("dir", type=Path, metavar="DIR")
    _add_filters(inspect)
    inspect.add_argument("--limit", type=int, default=0, help="stop after N records (0: all)")
    inspect.add_argument("--hex", action="store_true", help="show payloads in hex even when decoded")
    inspect.add_argument("--json", action="store_true", help="one JSON object per line")
    export = sub.add_parser("export", help="write records to a Parquet file")
    export.add_argument("dir", type=Path, metavar="DIR")
    export.add_argument("--out", "-o", type=Path, required=True, metavar="FILE",
                        help="Parquet file to write")
    _add_filters(export)


def _add_filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="from_seq", type=int, default=0, metavar="SEQ",
                   help="first sequence (default: the first)")
    p.add_argument("--to", dest="to_seq", type=int, default=None, metavar="SEQ",
                   help="last sequence (default: the last)")
    p.add_argument("--type", dest="types", action="append", default=[], metavar="TYPE",
                   help="only this record type, a number or a registered name (repeatable)")
    p.add_argument("--order-id", help="only records whose decoded payload has this order_id")
    p.add_argument("--account", help="only records whose decoded payload has this account")
    p.add_argument("--where", action="append", default=[], metavar="FIELD=VALUE",
                   help="only records whose decoded payload has FIELD equal to VALUE (repeatable)")
    p.add_argument("--decoder", action="append", default=[], metavar="MODULE",
                   help="import MODULE first, so that it registers payload decoders")


def run(args: argparse.Namespace) -> int:
    if not args.dir.is_dir():
        print(f"ordex journal: {args.dir} is not a directory", file=sys.stderr)
        return 2
    try:
        if args.action == "verify":
            return _verify(args)
        selection = _Selection(args)
        if args.action == "inspect":
            return _inspect(args, selection)
        return _export(args, selection)
    except JournalCorrupt as exc:
        print(f"CORRUPT: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"ordex journal: {exc}", file=sys.stderr)
        return 2


def _verify(args: argparse.Namespace) -> int:
    if not list_segments(args.dir):
        print(f"ordex journal: no journal segments in {args.dir}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    result = scan_directory(args.dir)
    elapsed = time.perf_counter() - t0
    print(f"journal {args.dir}: {len(result.segments)} segments, {result.records} records, "
          f"sequences {result.first_seq}..{result.last_seq}, checked in {elapsed:.3f} s")
    if args.segments:
        for s in result.segments:
            print(f"  {s.path.name}  sequences {s.first_seq}..{s.last_seq}  {s.records} records  "
                  f"data {s.data_end} of {s.file_size} bytes")
    if result.torn is not None:
        print(f"TORN TAIL (opening the journal truncates it): {result.torn.describe()}")
    print("OK")
    return 0


def format_ts(ts_ns: int) -> str:
    seconds, nanos = divmod(ts_ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos:09d}Z"


class _Selection:
    """The records the filters select, with their decoded payloads."""

    def __init__(self, args: argparse.Namespace):
        decoders.load_providers(args.decoder)
        self.dir = args.dir
        self.from_seq = args.from_seq
        self.to_seq = args.to_seq
        self.types = {decoders.type_by_name(t) for t in args.types} or None
        self.fields: dict[str, str] = {}
        if args.order_id is not None:
            self.fields["order_id"] = args.order_id
        if args.account is not None:
            self.fields["account"] = args.account
        for item in args.where:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise ValueError(f"--where needs FIELD=VALUE, got {item!r}")
            self.fields[key] = value
    def __iter__(self) -> Iterator[tuple[tuple[int, int, int, bytes], dict | None]]:
        undecodable: set[int] = set()
        for rec in read_journal(self.dir, self.from_seq, self.to_seq):
            if self.types is not None and rec[1] not in self.types:
                continue
            fields = decoders.decode(rec[1], rec[3])
            if self.fields:
                if fields is None:
                    undecodable.add(rec[1])
                    continue
                if any(str(fields.get(k)) != v for k, v in self.fields.items()):
                    continue
            yield rec, fields
        if undecodable:
            # said after the records, so that it is not lost in a long listing
            print(f"ordex journal: no payload decoders for record type(s) "
                  f"{', '.join(map(str, sorted(undecodable)))}: field filters cannot match them "
                  "(see --decoder)", file=sys.stderr)


def _inspect(args: argparse.Namespace, selection: _Selection) -> int:
    out = sys.stdout
    shown = 0
    try:
        for (seq, rtype, ts_ns, payload), fields in selection:
            if args.json:
                obj = {"seq": seq, "type": rtype, "type_name": decoders.type_name(rtype),
                       "ts_ns": ts_ns, "payload_hex": payload.hex()}
                if fields is not None:
                    obj["fields"] = fields
                out.write(orjson.dumps(obj, default=str).decode() + "\n")
            else:
                line = (f"{seq:>12}  {format_ts(ts_ns)}  {decoders.type_name(rtype)}({rtype})  "
                        f"{len(payload)} B")
                if fields is not None:
                    line += "  " + " ".join(f"{k}={v}" for k, v in fields.items())
                if fields is None or args.hex:
                    line += "  " + payload.hex()
                out.write(line + "\n")
            shown += 1
            if args.limit and shown >= args.limit:
                break
        out.flush()
    except BrokenPipeError:
        sys.stderr.close()  # the reader (e.g. `head`) has seen enough
    return 0


def _export(args: argparse.Namespace, selection: _Selection) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    with_fields = decoders.has_decoders()
    columns = [("seq", pa.uint64()), ("rtype", pa.uint16()), ("type_name", pa.string()),
               ("ts_ns", pa.int64()), ("time", pa.timestamp("ns", tz="UTC")),
               ("payload", pa.binary())]
    if with_fields:
        columns.append(("fields_json", pa.string()))
    schema = pa.schema(columns)
    rows = 0
    batch: dict[str, list] = {name: [] for name, _ in columns}

    def write(writer: pq.ParquetWriter) -> None:
        arrays = [pa.array(batch[name], type=t if name != "time" else pa.int64())
                  for name, t in columns]
        time_idx = [name for name, _ in columns].index("time")
        arrays[time_idx] = arrays[time_idx].cast(pa.timestamp("ns", tz="UTC"))
        writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
        for v in batch.values():
            v.clear()

    tmp = args.out.with_name(args.out.name + ".partial")
    try:
        with pq.ParquetWriter(tmp, schema) as writer:
            for (seq, rtype, ts_ns, payload), fields in selection:
                batch["seq"].append(seq)
                batch["rtype"].append(rtype)
                batch["type_name"].append(decoders.type_name(rtype))
                batch["ts_ns"].append(ts_ns)
                batch["time"].append(ts_ns)
                batch["payload"].append(payload)
                if with_fields:
                    batch["fields_json"].append(None if fields is None
                                                else orjson.dumps(fields, default=str).decode())
                rows += 1
                if len(batch["seq"]) >= 65536:
                    write(writer)
            if batch["seq"] or rows == 0:
                write(writer)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(args.out)
    print(f"exported {rows} records to {args.out}")
    return 0
