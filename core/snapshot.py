"""Engine snapshots on disk, and recovery from the newest valid one plus the journal's tail.

Snapshots live in a directory beside the journal (`snapshot_dir`: `<journal dir>.snapshots`), one
file per snapshot named by the journal sequence it covers, `00000000000001234567.snap`.  The name
is the descriptor; the file carries its own header and CRC32C (format: ext/engine.pyi, Snapshots),
so a damaged or truncated file is recognised and skipped in favour of an older one.

A snapshot is written atomically: a temporary file, fsync, rename into place, fsync of the
directory.  A crash leaves either no file or a complete one (and perhaps a temporary, which the
next write removes).  After a new snapshot, all but the newest KEEP are deleted and the journal
prunes the segments the oldest kept one covers, so that if the newest turns out damaged at
start-up the older one still has its whole tail in the journal.

Only state that is durable may be snapshotted: the caller stamps a snapshot with sequence S only
when every command up to S is durable in the journal (the server waits for that before writing).
"""
from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ordex.core.commands import COMMAND_DTYPE
from ordex.core.journal_segments import (SEGMENT_HEADER_SIZE, FileOps, JournalCorrupt,
                                         classify_stop, decode_segment_header, list_segments,
                                         write_all)
from ordex.core.sequencer import RECORD_COMMAND, ReplayError
from ordex.ext.engine import Engine, SnapshotError, snapshot_header
from ordex.ext.journal import RECORD_HEADER_SIZE, RecordColumns, Status, decode_into

log = logging.getLogger("ordex.snapshot")

SUFFIX = ".snap"
TEMP_SUFFIX = ".snap.tmp"
KEEP = 2
DECODE_ROWS = 65536        # records decoded per call (the journal's scan uses the same)
REPLAY_CHUNK = 4096        # commands per engine.apply(): keeps the event buffer in cache
_NAME = re.compile(r"^(\d{20})\.snap$")


class RecoveryError(RuntimeError):
    """The snapshots and the journal do not fit together (a gap, or a journal behind a snapshot)."""


def snapshot_dir(journal_dir: Path | str) -> Path:
    """Where the snapshots of the journal in journal_dir live: a sibling directory, so that the
    journal's own directory holds only its segments."""
    journal_dir = Path(journal_dir)
    return journal_dir.with_name(journal_dir.name + ".snapshots")


def snapshot_name(seq: int) -> str:
    return f"{seq:020d}{SUFFIX}"


def list_snapshots(directory: Path | str) -> list[tuple[int, Path]]:
    """(seq, path) of every snapshot file, oldest first; other files are ignored."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    out = []
    for entry in os.scandir(directory):
        m = _NAME.match(entry.name)
        if m and entry.is_file():
            out.append((int(m.group(1)), Path(entry.path)))
    out.sort()
    return out


def write_snapshot(directory: Path | str, seq: int, data: bytes,
                   ops: FileOps | None = None) -> Path:
    """Write data as the snapshot covering seq, atomically; returns its path.  On failure
    (ENOSPC, EIO) the temporary file is removed and the error raised: no partial snapshot ever
    carries a snapshot's name."""
    ops = ops or FileOps()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    remove_temporaries(directory, ops)
    final = directory / snapshot_name(seq)
    temp = directory / (snapshot_name(seq)[:-len(SUFFIX)] + TEMP_SUFFIX)
    fd = ops.open(str(temp), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        try:
            write_all(ops, fd, [data], 0)
            ops.fsync(fd)
        finally:
            ops.close(fd)
        ops.rename(str(temp), str(final))
    except BaseException:
        try:
            ops.unlink(str(temp))
        except OSError:
            pass
        raise
    ops.fsync_dir(str(directory))
    return final


def remove_temporaries(directory: Path | str, ops: FileOps | None = None) -> None:
    """Remove snapshots whose writing never finished (a crash between create and rename)."""
    ops = ops or FileOps()
    directory = Path(directory)
    if not directory.is_dir():
        return
    for entry in os.scandir(directory):
        if entry.name.endswith(TEMP_SUFFIX):
            log.warning("snapshot: removing %s, a snapshot whose writing did not finish", entry.path)
            ops.unlink(entry.path)


@dataclass
class FoundSnapshot:
    seq: int
    path: Path
    data: bytes


def check_snapshot(path: Path, seq: int) -> bytes:
    """The bytes of the snapshot file at path, checked (framing, CRC32C, covered sequence equal
    to the name's); SnapshotError or OSError when it cannot be used."""
    data = path.read_bytes()
    header = snapshot_header(data)
    if header.seq != seq:
        raise SnapshotError(f"header says it covers sequence {header.seq}, the name {seq}")
    return data


def latest_valid(directory: Path | str) -> FoundSnapshot | None:
    """The newest snapshot that checks out, or None.  Each one skipped is logged with the reason;
    reference data is not checked here (Engine.restore refuses a mismatch loudly)."""
    for seq, path in reversed(list_snapshots(directory)):
        try:
            return FoundSnapshot(seq, path, check_snapshot(path, seq))
        except (SnapshotError, OSError) as e:
            log.error("snapshot %s skipped: %s", path, e)
    return None


def prune_snapshots(directory: Path | str, keep: int = KEEP,
                    ops: FileOps | None = None) -> list[Path]:
    """Delete all but the newest `keep` snapshots; returns what was deleted."""
    if keep < 1:
        raise ValueError(f"keep must be at least 1, got {keep}")
    ops = ops or FileOps()
    snaps = list_snapshots(directory)
    removed = [path for _, path in snaps[:-keep]]
    for path in removed:
        ops.unlink(str(path))
    if removed:
        ops.fsync_dir(str(directory))
    return removed


def prune(directory: Path | str, journal, keep: int = KEEP,
          prune_journal: bool = False) -> tuple[list[Path], list[Path]]:
    """prune_snapshots, then (only with prune_journal) let the journal delete the segments that the
    oldest kept snapshot covers.  The journal is the audit trail (`ordex audit`, `trades`,
    `reconcile` replay it from the start), so deleting it is an explicit operator choice.
    Returns (snapshots removed, segments removed)."""
    removed = prune_snapshots(directory, keep)
    kept = list_snapshots(directory)
    segments = journal.prune(kept[0][0] + 1) if kept and prune_journal else []
    return removed, segments


@dataclass
class Recovery:
    engine: Engine
    snapshot_seq: int          # the sequence the snapshot covered, 0 when none was used
    snapshot_path: Path | None
    replayed: int              # journal records applied after the snapshot


def replay_journal(engine: Engine, directory: Path | str, from_seq: int, to_seq: int | None = None,
                   on_events: Callable[[np.ndarray], object] | None = None,
                   chunk: int = REPLAY_CHUNK) -> int:
    """Apply the journal's command records from_seq..to_seq (default: to the end) to engine;
    returns how many.  The same records, checks and errors as sequencer.replay() over
    Journal.read(), but decoded a segment at a time into columns (no tuple per record): command
    records all have one size, so each decoded run is one strided numpy view.  on_events
    receives the events of each chunk of `chunk` commands.

    RecoveryError when from_seq lies before the journal's first record (pruned); ReplayError for
    a record that is not an engine command or disagrees with its payload's seq / ts_ns;
    JournalCorrupt as the journal's own reader raises it."""
    segments = list_segments(directory)
    if not segments or (to_seq is not None and to_seq < from_seq):
        return 0
    if 0 < from_seq < segments[0][0]:
        raise RecoveryError(f"replay from sequence {from_seq} needs records the journal in "
                            f"{directory} no longer has: its first segment starts at "
                            f"{segments[0][0]}")
    start = max((i for i, (first, _) in enumerate(segments) if first <= from_seq), default=0)
    cols = RecordColumns(DECODE_ROWS)
    applied, expected_first = 0, None
    for i in range(start, len(segments)):
        first_seq, path = segments[i]
        if to_seq is not None and first_seq > to_seq:
            break
        if expected_first is not None and first_seq != expected_first:
            raise JournalCorrupt(path, 0, first_seq, f"missing segment: expected one starting "
                                                     f"at sequence {expected_first}")
        buf = path.read_bytes()      # a copy: a writer may truncate the file (journal.py, _load)
        if decode_segment_header(buf, path).first_seq != first_seq:
            raise JournalCorrupt(path, 16, None, "header and file name disagree on the first "
                                                 "sequence")
        offset, expected = SEGMENT_HEADER_SIZE, first_seq
        while True:
            count, next_offset, status = decode_into(buf, offset, expected, cols)
            if count:
                applied += _apply_decoded(engine, buf, cols, count, from_seq, to_seq, on_events,
                                          chunk)
            expected += count
            offset = next_offset
            # At to_seq stop without looking further: on a live journal the next record may
            # still be being written.
            if to_seq is not None and expected > to_seq:
                return applied
            if status != Status.VALID:
                break
        classify_stop(buf, path, offset, expected, Status(status), i == len(segments) - 1)
        expected_first = expected
    return applied


def _apply_decoded(engine, buf: bytes, cols: RecordColumns, count: int, from_seq: int,
                   to_seq: int | None, on_events, chunk: int) -> int:
    seqs = cols.seq[:count]
    first = int(seqs[0])
    lo = max(0, from_seq - first)
    hi = count if to_seq is None else min(count, to_seq - first + 1)
    if lo >= hi:
        return 0
    size = COMMAND_DTYPE.itemsize
    # The first record that is not a command ends what can be decoded; mismatches before it are
    # reported first, so the error names the earliest bad record.
    bad = np.flatnonzero((cols.rtype[lo:hi] != RECORD_COMMAND) | (cols.length[lo:hi] != size))
    end = lo + int(bad[0]) if len(bad) else hi
    # Equal sizes back to back: the payloads sit at a fixed stride.
    rows = np.ascontiguousarray(np.ndarray(
        (end - lo,), dtype=COMMAND_DTYPE, buffer=buf,
        offset=int(cols.offset[lo]) + RECORD_HEADER_SIZE, strides=(RECORD_HEADER_SIZE + size,)))
    wrong = np.flatnonzero((rows["seq"] != seqs[lo:end].astype(np.int64))
                           | (rows["ts_ns"] != cols.ts_ns[lo:end]))
    if len(wrong):
        k = int(wrong[0])
        raise ReplayError(f"record {int(seqs[lo + k])}: its payload carries seq "
                          f"{int(rows['seq'][k])} and ts_ns {int(rows['ts_ns'][k])}, the record "
                          f"ts_ns {int(cols.ts_ns[lo + k])}")
    if end < hi:
        raise ReplayError(f"record {int(seqs[end])}: type {int(cols.rtype[end])} with "
                          f"{int(cols.length[end])} bytes is not an engine command (type "
                          f"{RECORD_COMMAND}, {size} bytes)")
    for s in range(0, len(rows), chunk):
        engine.apply(rows[s:s + chunk])
        if on_events is not None:
            on_events(engine.events_array())
        engine.clear_events()
    return hi - lo


def recover(refdata, max_orders: int, journal, found: FoundSnapshot | None,
            on_events: Callable[[np.ndarray], object] | None = None) -> Recovery:
    """Rebuild the engine from a snapshot (`latest_valid`; None: a fresh engine) and the
    journal's records after it.  The journal must be open (recovered) already; open an empty one
    with first_seq = found.seq + 1 so that it continues the snapshot.

    RecoveryError when the journal cannot continue the snapshot (it ends before the snapshot's
    sequence, or its records start after the one needed next); SnapshotMismatch when the
    snapshot was made with other reference data."""
    last = journal.next_seq - 1
    if found is None:
        engine, start = Engine(refdata, max_orders=max_orders), 1
    else:
        if found.seq > last:
            raise RecoveryError(f"snapshot {found.path} covers sequence {found.seq}, but the "
                                f"journal in {journal.directory} ends at {last}: the journal "
                                f"lost records a snapshot had seen")
        engine = Engine.restore(refdata, found.data, max_orders=max_orders)
        start = found.seq + 1
        log.info("restored snapshot %s (sequence %d, %d orders)", found.path, found.seq,
                 engine.order_count)
    first = journal.recovery.first_seq
    if start <= last and first is not None and first > start:
        what = "no usable snapshot" if found is None else f"the snapshot covers up to {found.seq}"
        raise RecoveryError(f"{what}, and the journal in {journal.directory} starts at "
                            f"sequence {first}: records {start}..{first - 1} are gone")
    replayed = replay_journal(engine, journal.directory, start, last, on_events=on_events)
    if replayed != max(last - start + 1, 0):
        raise RecoveryError(f"journal in {journal.directory} gave {replayed} records for "
                            f"sequences {start}..{last}")
    engine.clear_events()
    return Recovery(engine, found.seq if found else 0, found.path if found else None, replayed)
