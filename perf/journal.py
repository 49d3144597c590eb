"""Write-ahead journal: append throughput per durability mode, commit and fdatasync latency,
record encode/decode speed, and the time to recover and replay 10 million records.

Reported (throughputs are the median of --repeat runs; latencies pool all runs):
  MODE.append.throughput         records/s made durable (MODE: fsync, batch, none), appended from
                                 an event loop, --group records per loop iteration, one flush per
                                 iteration, durable callbacks through call_soon_threadsafe
  MODE.append_commit.p50/..      flush -> on_durable callback on the loop, per group (us)
  fsync.fdatasync.p50/..         duration of each fdatasync in those fsync runs (us)
  fsync.paced_commit.p50/..      commit latency at a steady --paced-rate (groups of --paced-group)
  fsync.paced_fdatasync.p50/..   fdatasync duration in that run
  fsync.append_prealloc_P.throughput, fsync.fdatasync_prealloc_P.p50   P: none, fallocate, zero
  encode.append.throughput       RecordEncoder.append from Python, no I/O
  encode.append_many.throughput  columnar append_many
  decode.decode_into.throughput  checksum + decode into numpy columns (65,536 rows per call)
  decode.iterator.throughput     RecordIterator: one (seq, type, ts, payload) tuple per record
  decode.decode_into.ratio_vs_python_crc   C checksum call vs the crc32c package's Python function
  recovery.scan_10m.seconds / .throughput  Journal.open over --scan-records records (checks all)
  replay.read_10m.seconds / .throughput    read_journal over all of them (tuples, for replay)
The page cache is warm for recovery and replay (the journal was just written).
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from ordex.core.journal import Journal, JournalConfig, read_journal
from ordex.ext import journal as framing
from ordex.perf.report import Report

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is a dependency, but the bench runs without it
    uvloop = None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--records", type=int, default=2_000_000, help="records per append run")
    parser.add_argument("--group", type=int, default=1000, help="records appended per loop iteration")
    parser.add_argument("--payload", type=int, default=36,
                        help="payload bytes per record (36 + 28 header = 64-byte records)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per throughput figure")
    parser.add_argument("--modes", default="fsync,batch,none", help="durability modes to run")
    parser.add_argument("--batch-interval-ms", type=float, default=2.0)
    parser.add_argument("--preallocate", default="zero", choices=("zero", "fallocate", "none"))
    parser.add_argument("--paced-rate", type=int, default=100_000, help="records/s of the paced run")
    parser.add_argument("--paced-group", type=int, default=100, help="records per paced iteration")
    parser.add_argument("--paced-seconds", type=float, default=2.0)
    parser.add_argument("--scan-records", type=int, default=10_000_000,
                        help="records in the recovery/replay journal (64 B each by default)")
    parser.add_argument("--decode-records", type=int, default=1_000_000)
    parser.add_argument("--skip", default="", help="comma list of parts to skip: "
                                                   "append,paced,prealloc,codec,recovery")
    parser.add_argument("--dir", type=Path, default=None,
                        help="where to write journals (default: a temporary directory in /tmp; "
                             "removed afterwards)")


def _new_loop() -> asyncio.AbstractEventLoop:
    return uvloop.new_event_loop() if uvloop is not None else asyncio.new_event_loop()


class _LoopRun:
    """Appends from an event loop like the server will: a producer callback appends a group per
    iteration, the journal schedules its flush with call_soon, durable reports come back through
    call_soon_threadsafe."""

    def __init__(self, directory: Path, config: JournalConfig, records: int, group: int,
                 payload: bytes, interval_s: float = 0.0):
        self.directory = directory
        self.records = records
        self.group = group
        self.payload = payload
        self.interval_s = interval_s
        self.loop = _new_loop()
        self.done = self.loop.create_future()
        self.flushed: collections.deque = collections.deque()   # (last_seq, t_flush_ns)
        self.commit_ns: list[int] = []
        self.journal = Journal.open(directory, config, on_durable=self._durable,
                                    call_soon_threadsafe=self.loop.call_soon_threadsafe,
                                    schedule_flush=self._schedule_flush)
        self.sync_ns = self.journal.sample_sync_latencies()
        self.bound = 8 * 1024 * 1024

    def _schedule_flush(self, flush) -> None:
        self.loop.call_soon(self._flush, flush)

    def _flush(self, flush) -> None:
        flush()
        self.flushed.append((self.journal.next_seq - 1, time.perf_counter_ns()))

    def _durable(self, seq: int) -> None:
        now = time.perf_counter_ns()
        while self.flushed and self.flushed[0][0] <= seq:
            self.commit_ns.append(now - self.flushed.popleft()[1])
        if seq >= self.records and not self.done.done():
            self.done.set_result(now)

    def _produce(self) -> None:
        journal = self.journal
        left = self.records - (journal.next_seq - 1)
        if left <= 0:
            return
        if journal.pending_bytes < self.bound:   # back-pressure: let the disk catch up
            append, p = journal.append, self.payload
            for i in range(min(self.group, left)):
                append(1, i, p)
        if self.interval_s:
            self.loop.call_later(self.interval_s, self._produce)
        else:
            self.loop.call_soon(self._produce)

    def run(self) -> float:
        """Seconds until every record was reported durable."""
        try:
            t0 = time.perf_counter_ns()
            self.loop.call_soon(self._produce)
            t1 = self.loop.run_until_complete(asyncio.wait_for(self.done, 120))
            return (t1 - t0) / 1e9
        finally:
            self.journal.close()
            self.loop.close()
            shutil.rmtree(self.directory, ignore_errors=True)   # keep peak disk use to one run


def _fresh(base: Path, name: str) -> Path:
    d = base / name
    shutil.rmtree(d, ignore_errors=True)
    return d


def _append_runs(report: Report, base: Path, args, payload: bytes) -> None:
    for mode in [m for m in args.modes.split(",") if m]:
        rates, commits, syncs = [], [], []
        for _ in range(args.repeat):
            config = JournalConfig(durability=mode, batch_interval_ms=args.batch_interval_ms,
                                   preallocate=args.preallocate)
            run = _LoopRun(_fresh(base, f"append-{mode}"), config, args.records, args.group, payload)
            rates.append(args.records / run.run())
            commits += run.commit_ns
            syncs += run.sync_ns
        report.add(f"{mode}.append.throughput", "/s", statistics.median(rates))
        if commits:
            report.add_latency(f"{mode}.append_commit", np.array(commits), unit="us")
        if mode == "fsync" and syncs:
            report.add_latency("fsync.fdatasync", np.array(syncs), unit="us")


def _paced_run(report: Report, base: Path, args, payload: bytes) -> None:
    interval = args.paced_group / args.paced_rate
    records = int(args.paced_rate * args.paced_seconds)
    config = JournalConfig(durability="fsync", preallocate=args.preallocate)
    run = _LoopRun(_fresh(base, "paced"), config, records, args.paced_group, payload, interval)
    run.run()
    report.add_latency("fsync.paced_commit", np.array(run.commit_ns), unit="us")
    report.add_latency("fsync.paced_fdatasync", np.array(run.sync_ns), unit="us")


def _prealloc_runs(report: Report, base: Path, args, payload: bytes) -> None:
    for mode in ("none", "fallocate", "zero"):
        rates, syncs = [], []
        for _ in range(args.repeat):
            config = JournalConfig(durability="fsync", preallocate=mode)
            run = _LoopRun(_fresh(base, f"prealloc-{mode}"), config, args.records, args.group,
                           payload)
            rates.append(args.records / run.run())
            syncs += run.sync_ns
        report.add(f"fsync.append_prealloc_{mode}.throughput", "/s", statistics.median(rates))
        report.add(f"fsync.fdatasync_prealloc_{mode}.p50", "us", float(np.median(syncs)) / 1000)


def _columns(n: int, payload_len: int):
    rtypes = np.ones(n, np.uint16)
    ts = np.arange(n, dtype=np.int64)
    payloads = np.random.default_rng(7).integers(0, 256, n * payload_len, dtype=np.uint8).tobytes()
    offsets = np.arange(n + 1, dtype=np.int64) * payload_len
    return rtypes, ts, payloads, offsets


DECODE_CHUNK = 65536   # rows per decode_into call, as the recovery scan uses


def _decode_chunks(data: bytes, out) -> int:
    offset, expected, total = 0, 1, 0
    while True:
        count, offset, status = framing.decode_into(data, offset, expected, out)
        total += count
        expected += count
        if status != framing.Status.VALID:
            return total


def _codec(report: Report, args, payload: bytes) -> None:
    n = args.decode_records
    rates = {"append": [], "append_many": [], "decode_into": [], "iterator": [], "python_crc": []}
    cols = _columns(n, len(payload))
    limit = (n + 1) * (64 + len(payload))
    for _ in range(args.repeat):
        enc = framing.RecordEncoder(1, capacity=limit, limit=limit)
        append = enc.append
        t0 = time.perf_counter()
        for i in range(n):
            append(1, i, payload)
        rates["append"].append(n / (time.perf_counter() - t0))
        enc = framing.RecordEncoder(1, capacity=limit, limit=limit)
        t0 = time.perf_counter()
        enc.append_many(*cols)
        rates["append_many"].append(n / (time.perf_counter() - t0))
        buf, nbytes, _, _ = enc.take()
        data = bytes(buf[:nbytes])
        out = framing.RecordColumns(DECODE_CHUNK)
        t0 = time.perf_counter()
        assert _decode_chunks(data, out) == n
        rates["decode_into"].append(n / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        count = sum(1 for _ in framing.RecordIterator(data, 0, 1))
        rates["iterator"].append(n / (time.perf_counter() - t0))
        assert count == n
        previous = framing.use_crc_backend("python")
        try:
            t0 = time.perf_counter()
            assert _decode_chunks(data, out) == n
            rates["python_crc"].append(n / (time.perf_counter() - t0))
        finally:
            framing.use_crc_backend(previous)
    med = {k: statistics.median(v) for k, v in rates.items()}
    report.add("encode.append.throughput", "/s", med["append"])
    report.add("encode.append_many.throughput", "/s", med["append_many"])
    report.add("decode.decode_into.throughput", "/s", med["decode_into"])
    report.add("decode.iterator.throughput", "/s", med["iterator"])
    report.add("decode.decode_into.ratio_vs_python_crc", "", med["decode_into"] / med["python_crc"])


def _recovery(report: Report, base: Path, args) -> None:
    d = _fresh(base, "recovery")
    n, chunk = args.scan_records, 100_000
    cols = _columns(chunk, args.payload)
    config = JournalConfig(durability="none", preallocate="none", max_pending_bytes=256 << 20)
    with Journal.open(d, config) as journal:
        for start in range(0, n, chunk):
            k = min(chunk, n - start)
            journal.append_many(cols[0][:k], cols[1][:k], cols[2], cols[3][:k + 1])
            journal.flush()
            if journal.pending_bytes > 128 << 20:
                journal.wait_durable(journal.next_seq - 1, 60)
    t0 = time.perf_counter()
    journal = Journal.open(d, JournalConfig(durability="none"))
    scan_s = time.perf_counter() - t0
    try:
        assert journal.recovery.records == n, journal.recovery.records
    finally:
        journal.close()
    t0 = time.perf_counter()
    count = 0
    for _ in read_journal(d):
        count += 1
    read_s = time.perf_counter() - t0
    assert count == n, count
    report.add("recovery.scan_10m.seconds", "s", scan_s)
    report.add("recovery.scan_10m.throughput", "/s", n / scan_s)
    report.add("replay.read_10m.seconds", "s", read_s)
    report.add("replay.read_10m.throughput", "/s", n / read_s)
    shutil.rmtree(d, ignore_errors=True)


def run(args: argparse.Namespace) -> Report:
    skip = {s for s in args.skip.split(",") if s}
    payload = bytes(range(args.payload % 256)) * (args.payload // 256 + 1)
    payload = payload[:args.payload]
    report = Report("journal", settings={
        "records": args.records, "group": args.group, "record_bytes": 28 + args.payload,
        "repeat": args.repeat, "batch_interval_ms": args.batch_interval_ms,
        "preallocate": args.preallocate, "crc_backend": framing.crc_backend(),
        "paced": f"{args.paced_rate}/s in groups of {args.paced_group}",
        "scan_records": args.scan_records, "loop": "uvloop" if uvloop else "asyncio",
        "page_cache": "warm for recovery/replay"})
    made_base = args.dir is None
    base = Path(tempfile.mkdtemp(prefix="ordex-perf-journal-")) if made_base else args.dir
    base.mkdir(parents=True, exist_ok=True)
    report.settings["dir"] = str(base)
    try:
        if "append" not in skip:
            _append_runs(report, base, args, payload)
        if "paced" not in skip:
            _paced_run(report, base, args, payload)
        if "prealloc" not in skip:
            _prealloc_runs(report, base, args, payload)
        if "codec" not in skip:
            _codec(report, args, payload)
        if "recovery" not in skip:
            _recovery(report, base, args)
    finally:
        if made_base:
            shutil.rmtree(base, ignore_errors=True)
        else:
            shutil.rmtree(base / "recovery", ignore_errors=True)
    return report
