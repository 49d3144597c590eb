"""Recovery: replaying the journal through the engine, and snapshots.

The exchange-core mix (as in `ordex perf engine`) is journaled as --commands engine commands: a
generated block of --block commands repeated with its order ids shifted, each repetition ending
with an admin MASS_CANCEL so that the next one meets the book it was generated for.  Then, with
the page cache warm (the journal was just written):
  replay.exchange_core_mix.throughput      commands/s of decode + apply (snapshot.replay_journal)
                                           over the first --records-commands, fresh engine
  replay_records.exchange_core_mix.throughput   the same through sequencer.replay(read_journal)
                                           (a tuple per record)
  replay.exchange_core_mix.ratio_vs_records
  apply.exchange_core_mix.throughput       engine.apply alone on the same commands, in memory
  recovery.full_10m.seconds / .throughput  start-up as the server does it: Journal.open (checks
                                           every record) + replay of all --commands
  recovery.scan_10m.seconds                the Journal.open part
  recovery.snapshot_10m.seconds            Journal.open + newest snapshot (covering all but the
                                           last --tail commands) + replay of the tail
  recovery.snapshot_10m.read_seconds / restore_seconds / tail_seconds / megabytes   its parts
                                           (one run): read + CRC check, Engine.restore, tail
The snapshot cost of a large book: an engine holding --orders resting orders (and as many
ClOrdIDs), its snapshot taken, written (fsync) and restored:
  snapshot.orders_1m.take_seconds / write_seconds / restore_seconds / megabytes
Seconds and throughputs are medians of --repeat runs.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from ordex.core import snapshot
from ordex.core.commands import COMMAND_DTYPE, CommandKind, OrdType, Scope, Tif
from ordex.core.journal import Journal, JournalConfig, read_journal
from ordex.core.sequencer import RECORD_COMMAND, replay
from ordex.ext.engine import Engine
from ordex.perf.engine import prepare, reference_data
from ordex.perf.report import Report

MAX_ORDERS = 1 << 16
WRITE_CHUNK = 100_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--commands", type=int, default=10_000_000, help="commands journaled")
    parser.add_argument("--block", type=int, default=200_000,
                        help="commands generated once and repeated (with shifted ids)")
    parser.add_argument("--tail", type=int, default=1_000_000,
                        help="commands after the snapshot (the snapshot interval's worst case)")
    parser.add_argument("--records-commands", type=int, default=1_000_000,
                        help="commands replayed through the record-tuple path for comparison")
    parser.add_argument("--orders", type=int, default=1_000_000,
                        help="resting orders in the large-book snapshot measurement")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", type=Path, default=None,
                        help="where to write the journal and snapshots (default: a temporary "
                             "directory in /tmp, removed afterwards)")


def _clordids(rows: np.ndarray, first: int) -> None:
    """ClOrdIDs "c" + 12 decimal digits of a global counter, written straight into the field
    (np.char over millions of rows takes longer than the replay being measured)."""
    n = len(rows)
    ids = np.arange(first, first + n, dtype=np.int64)
    raw = rows.view(np.uint8).reshape(n, COMMAND_DTYPE.itemsize)
    at = COMMAND_DTYPE.fields["clordid"][1]
    raw[:, at:at + 24] = 0
    raw[:, at] = ord("c")
    for k in range(12):
        raw[:, at + 12 - k] = ids // 10 ** k % 10 + ord("0")


def _blocks(total: int, block: int, seed: int):
    """Yield command arrays (seq/ts/ids/ClOrdIDs final) adding up to `total` commands."""
    _, setup, main = prepare(max(block - 1000, 1), seed)
    base = np.concatenate([setup, main])[:block - 1]
    new_orders = int((base["kind"] == CommandKind.NEW_ORDER).sum())
    shift_rows = base["kind"] != CommandKind.NEW_ORDER
    end = np.zeros(1, dtype=COMMAND_DTYPE)
    end["kind"], end["session"], end["scope"], end["instrument"] = (
        CommandKind.MASS_CANCEL, -1, Scope.ALL, -1)
    seq = 1
    rep = 0
    while seq <= total:
        rows = np.concatenate([base, end])[:total - seq + 1].copy()
        rows["order_id"][:len(base)] += np.where(shift_rows, rep * new_orders, 0)[:len(rows)]
        rows["seq"] = np.arange(seq, seq + len(rows))
        rows["ts_ns"] = rows["seq"] * 1000
        _clordids(rows, seq)
        seq += len(rows)
        rep += 1
        yield rows


def write_journal(directory: Path, total: int, block: int, seed: int) -> None:
    config = JournalConfig(durability="none", preallocate="none", max_pending_bytes=512 << 20)
    size = COMMAND_DTYPE.itemsize
    offsets = np.arange(0, (WRITE_CHUNK + 1) * size, size, dtype=np.int64)
    types = np.full(WRITE_CHUNK, RECORD_COMMAND, dtype=np.uint16)
    with Journal.open(directory, config) as journal:
        for rows in _blocks(total, block, seed):
            for s in range(0, len(rows), WRITE_CHUNK):
                part = rows[s:s + WRITE_CHUNK]
                k = len(part)
                journal.append_many(types[:k], np.ascontiguousarray(part["ts_ns"]),
                                    part.view(np.uint8), offsets[:k + 1])
                journal.flush()
                if journal.pending_bytes > 256 << 20:
                    journal.wait_durable(journal.next_seq - 1, 120)
        journal.wait_durable(journal.next_seq - 1, 120)


def _recover(journal_dir: Path, rd, use_snapshots: bool) -> tuple[float, float, Engine]:
    """(total seconds, of which Journal.open, engine) for one start-up as the server does it."""
    t0 = time.perf_counter()
    found = snapshot.latest_valid(snapshot.snapshot_dir(journal_dir)) if use_snapshots else None
    journal = Journal.open(journal_dir, JournalConfig(durability="none", preallocate="none"),
                           first_seq=found.seq + 1 if found else 1)
    t_open = time.perf_counter() - t0
    try:
        rec = snapshot.recover(rd, MAX_ORDERS, journal, found)
    finally:
        journal.close()
    return time.perf_counter() - t0, t_open, rec.engine


def _replay_runs(report: Report, base: Path, args) -> None:
    journal_dir = base / "journal"
    t0 = time.perf_counter()
    write_journal(journal_dir, args.commands, args.block, args.seed)
    report.settings["journal_write_s"] = round(time.perf_counter() - t0, 1)
    rd = reference_data()
    m = min(args.records_commands, args.commands)
    columnar, records, applied = [], [], []
    rows = np.concatenate(list(_blocks(m, args.block, args.seed)))
    for _ in range(args.repeat):
        eng = Engine(rd, max_orders=MAX_ORDERS)
        t0 = time.perf_counter()
        snapshot.replay_journal(eng, journal_dir, 1, m)
        columnar.append(m / (time.perf_counter() - t0))
        eng = Engine(rd, max_orders=MAX_ORDERS)
        t0 = time.perf_counter()
        replay(eng, read_journal(journal_dir, 1, m))
        records.append(m / (time.perf_counter() - t0))
        eng = Engine(rd, max_orders=MAX_ORDERS)
        t0 = time.perf_counter()
        for s in range(0, m, snapshot.REPLAY_CHUNK):
            eng.apply(rows[s:s + snapshot.REPLAY_CHUNK])
            eng.clear_events()
        applied.append(m / (time.perf_counter() - t0))
    del eng, rows
    rate = statistics.median(columnar)
    report.add("replay.exchange_core_mix.throughput", "/s", rate)
    report.add("replay_records.exchange_core_mix.throughput", "/s", statistics.median(records))
    report.add("replay.exchange_core_mix.ratio_vs_records", "", rate / statistics.median(records))
    report.add("apply.exchange_core_mix.throughput", "/s", statistics.median(applied))

    n = args.commands
    label = f"{n // 1_000_000}m" if n % 1_000_000 == 0 else str(n)
    full, scans = [], []
    for _ in range(args.repeat):
        total, t_open, engine = _recover(journal_dir, rd, use_snapshots=False)
        full.append(total)
        scans.append(t_open)
    full_hash = engine.state_hash()
    del engine
    # The snapshot a server taking one every --tail commands would have at worst.
    covered = max(n - args.tail, 0)
    eng = Engine(rd, max_orders=MAX_ORDERS)
    snapshot.replay_journal(eng, journal_dir, 1, covered)
    snapshot.write_snapshot(snapshot.snapshot_dir(journal_dir), covered, eng.snapshot(covered))
    del eng
    with_snap = []
    for _ in range(args.repeat):
        total, _, engine = _recover(journal_dir, rd, use_snapshots=True)
        with_snap.append(total)
        if engine.state_hash() != full_hash:
            raise AssertionError("snapshot + tail recovery disagrees with the full replay")
        del engine
    report.add(f"recovery.full_{label}.seconds", "s", statistics.median(full))
    report.add(f"recovery.full_{label}.throughput", "/s", n / statistics.median(full))
    report.add(f"recovery.scan_{label}.seconds", "s", statistics.median(scans))
    report.add(f"recovery.snapshot_{label}.seconds", "s", statistics.median(with_snap))
    # Where the snapshot start-up goes, step by step (one more run).
    t0 = time.perf_counter()
    found = snapshot.latest_valid(snapshot.snapshot_dir(journal_dir))
    t1 = time.perf_counter()
    eng = Engine.restore(rd, found.data, max_orders=MAX_ORDERS)
    t2 = time.perf_counter()
    snapshot.replay_journal(eng, journal_dir, covered + 1)
    t3 = time.perf_counter()
    report.add(f"recovery.snapshot_{label}.read_seconds", "s", t1 - t0)
    report.add(f"recovery.snapshot_{label}.restore_seconds", "s", t2 - t1)
    report.add(f"recovery.snapshot_{label}.tail_seconds", "s", t3 - t2)
    report.add(f"recovery.snapshot_{label}.megabytes", "MB", len(found.data) / 1e6)


def large_book(n: int, seed: int) -> Engine:
    """An engine with n resting limit orders (bids below, asks above a centre) from 1,000
    accounts, each with its ClOrdID recorded."""
    rng = np.random.default_rng(seed)
    rows = np.zeros(n, dtype=COMMAND_DTYPE)
    rows["seq"] = np.arange(1, n + 1)
    rows["ts_ns"] = rows["seq"] * 1000
    rows["kind"], rows["ord_type"], rows["tif"] = CommandKind.NEW_ORDER, OrdType.LIMIT, Tif.GTC
    side = rng.integers(1, 3, n)
    off = rng.integers(1, 5000, n)
    rows["side"] = side
    rows["price"] = np.where(side == 1, 100_000 - off, 100_000 + off)
    rows["qty"] = rng.integers(1, 100, n)
    rows["account"] = rng.integers(0, 1000, n)
    _clordids(rows, 1)
    engine = Engine(reference_data(), max_orders=max(2 * n, MAX_ORDERS))
    for s in range(0, n, 65536):
        engine.apply(rows[s:s + 65536])
        engine.clear_events()
    if engine.order_count != n:
        raise AssertionError(f"{engine.order_count} of {n} orders rest")
    return engine


def _snapshot_runs(report: Report, base: Path, args) -> None:
    engine = large_book(args.orders, args.seed)
    label = f"{args.orders // 1_000_000}m" if args.orders % 1_000_000 == 0 else str(args.orders)
    take, write, restore = [], [], []
    d = base / "large-snapshots"
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        data = engine.snapshot(args.orders)
        take.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        path = snapshot.write_snapshot(d, args.orders, data)
        write.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        Engine.restore(reference_data(), data)
        restore.append(time.perf_counter() - t0)
        path.unlink()
    report.add(f"snapshot.orders_{label}.take_seconds", "s", statistics.median(take))
    report.add(f"snapshot.orders_{label}.write_seconds", "s", statistics.median(write))
    report.add(f"snapshot.orders_{label}.restore_seconds", "s", statistics.median(restore))
    report.add(f"snapshot.orders_{label}.megabytes", "MB", len(data) / 1e6)


def run(args: argparse.Namespace) -> Report:
    report = Report("recovery", settings={
        "commands": args.commands, "block": args.block, "tail": args.tail,
        "orders": args.orders, "repeat": args.repeat, "seed": args.seed,
        "replay_chunk": snapshot.REPLAY_CHUNK, "page_cache": "warm (journal just written)"})
    made_base = args.dir is None
    base = Path(tempfile.mkdtemp(prefix="ordex-perf-recovery-")) if made_base else args.dir
    base.mkdir(parents=True, exist_ok=True)
    report.settings["dir"] = str(base)
    try:
        _replay_runs(report, base, args)
        _snapshot_runs(report, base, args)
    finally:
        if made_base:
            shutil.rmtree(base, ignore_errors=True)
    return report
