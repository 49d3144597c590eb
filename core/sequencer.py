"""The sequencer: the one place where commands get their sequence number and time.

Gateways hand it unsequenced commands (COMMAND_DTYPE rows); it stamps each with the next sequence
number and a non-decreasing ts_ns, appends it to the journal (input journaling: the row's bytes
are the record payload, so the wire-to-engine schema is also the disk schema), then applies it to
the engine.  The engine never reads a clock: replaying the journal through `replay()` reproduces
its state and its events exactly.  Events carry the seq of the command that caused them; the
server releases them to clients once the journal reports that seq durable (DESIGN invariant 2).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator

import numpy as np

from ordex.core import journal_decoders
from ordex.core.commands import COMMAND_DTYPE, CommandKind, Limit, OrdType, Scope, Side, Tif

RECORD_COMMAND = 1          # journal record type of an engine command


def _padding_bytes(dtype: np.dtype) -> np.ndarray:
    covered = np.zeros(dtype.itemsize, dtype=bool)
    for sub, offset, *_ in dtype.fields.values():
        covered[offset:offset + sub.itemsize] = True
    return np.flatnonzero(~covered)


# Rows built from tuples leave C padding uninitialised; the journal must hold the same bytes for
# the same commands, so the padding is zeroed before journaling.
_PADDING = _padding_bytes(COMMAND_DTYPE)
_SEQ_AT = COMMAND_DTYPE.fields["seq"][1]
_TS_AT = COMMAND_DTYPE.fields["ts_ns"][1]


class ReplayError(ValueError):
    """A journal record cannot be an engine command (wrong type or size): the journal was written
    by something else, or by an incompatible version."""


class Sequencer:
    def __init__(self, engine, journal=None, clock_ns: Callable[[], int] = time.time_ns,
                 next_seq: int = 1, last_ts_ns: int = 0):
        """last_ts_ns: the ts_ns of the last journaled command, so that time never goes backwards
        across a restart either (the clock may have been stepped back meanwhile)."""
        self.engine = engine
        self.journal = journal
        self.clock_ns = clock_ns
        self._next_seq = journal.next_seq if journal is not None else next_seq
        self._last_ts = last_ts_ns

    @property
    def next_seq(self) -> int:
        return self._next_seq

    def stamp(self, rows: np.ndarray) -> None:
        """Give rows consecutive sequence numbers and one ts_ns (never earlier than the last)."""
        ts = max(self.clock_ns(), self._last_ts)
        self._last_ts = ts
        rows["seq"] = np.arange(self._next_seq, self._next_seq + len(rows), dtype=np.int64)
        rows["ts_ns"] = ts
        self._next_seq += len(rows)

    def submit(self, rows: np.ndarray) -> int:
        """Sequence, journal and apply rows; returns the number of engine events they produced."""
        if rows.dtype != COMMAND_DTYPE:
            raise TypeError(f"commands must have dtype COMMAND_DTYPE, not {rows.dtype}")
        if self.journal is not None and len(rows):
            self.journal_rows(rows)
        else:
            self.stamp(rows)
        return self.engine.apply(rows)

    def journal_rows(self, rows: np.ndarray) -> None:
        """Stamp and journal rows as one all-or-nothing batch: one call into the encoder, which
        writes each row's seq and ts_ns into it as it frames the records (numpy field writes cost
        more than the whole append for the one or few rows of a typical batch).  If the journal
        refuses (failed, back-pressure), nothing was stamped and nothing is applied."""
        if self.journal.next_seq != self._next_seq:
            raise RuntimeError(f"journal is at sequence {self.journal.next_seq}, "
                               f"sequencer at {self._next_seq}")
        # The engine applies only C-contiguous commands: refuse others before anything is
        # journaled, never a record the engine then fails to apply.
        if not rows.flags.c_contiguous:
            raise ValueError("commands must be one C-contiguous COMMAND_DTYPE array")
        if len(_PADDING):
            rows.view(np.uint8).reshape(len(rows), COMMAND_DTYPE.itemsize)[:, _PADDING] = 0
        ts = max(self.clock_ns(), self._last_ts)
        first = self.journal.append_fixed(RECORD_COMMAND, ts, rows, COMMAND_DTYPE.itemsize,
                                          _SEQ_AT, _TS_AT)
        if first != self._next_seq:
            raise RuntimeError(f"journal gave sequence {first}, sequencer expected {self._next_seq}")
        self._next_seq = first + len(rows)
        self._last_ts = ts


def replay_chunks(engine, records: Iterable[tuple[int, int, int, bytes]], chunk: int = 65536
                  ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Apply journal records (seq, rtype, ts_ns, payload) to an engine in chunks, yielding each
    chunk's (commands, events); the engine's event buffer is cleared after each.

    Every record must be an engine command, sequence numbers consecutive, and each record's seq
    and ts_ns equal to those inside its payload (ReplayError names the first that is not)."""
    size = COMMAND_DTYPE.itemsize
    buf = bytearray()
    stamps: list[tuple[int, int]] = []
    expected = None
    for seq, rtype, ts_ns, payload in records:
        if rtype != RECORD_COMMAND or len(payload) != size:
            raise ReplayError(f"record {seq}: type {rtype} with {len(payload)} bytes is not an "
                              f"engine command (type {RECORD_COMMAND}, {size} bytes)")
        if expected is not None and seq != expected:
            raise ReplayError(f"record {seq}: expected sequence {expected}")
        expected = seq + 1
        buf += payload
        stamps.append((seq, ts_ns))
        if len(buf) >= chunk * size:
            yield _apply(engine, buf, stamps)
            buf.clear()
            stamps.clear()
    if buf:
        yield _apply(engine, buf, stamps)


def replay(engine, records: Iterable[tuple[int, int, int, bytes]], chunk: int = 65536,
           on_events: Callable[[np.ndarray], object] | None = None) -> int:
    """Apply journal records to an engine (see replay_chunks); returns how many.  on_events, if
    given, receives each chunk's events (replay tests hash them)."""
    count = 0
    for rows, events in replay_chunks(engine, records, chunk):
        count += len(rows)
        if on_events is not None:
            on_events(events)
    return count


def _apply(engine, buf: bytearray, stamps: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    rows = np.frombuffer(bytes(buf), dtype=COMMAND_DTYPE).copy()
    expected = np.array(stamps, dtype=np.int64)
    mismatch = np.flatnonzero((rows["seq"] != expected[:, 0]) | (rows["ts_ns"] != expected[:, 1]))
    if len(mismatch):
        i = int(mismatch[0])
        raise ReplayError(f"record {stamps[i][0]}: its payload says seq {rows['seq'][i]}, "
                          f"ts_ns {rows['ts_ns'][i]}; the record says ts_ns {stamps[i][1]}")
    engine.apply(rows)
    events = engine.events_array()
    engine.clear_events()
    return rows, events


_ENUMS = {"kind": CommandKind, "side": Side, "ord_type": OrdType, "tif": Tif, "scope": Scope}


def decode_command(payload: bytes) -> dict:
    """A journaled command as a flat dict for `ordex journal inspect/export`: enum fields by name,
    ClOrdIDs as text, zero fields left out.  "order_id" is present only for commands that name an
    order by id (a NEW_ORDER's id is assigned by the engine: `ordex audit` replays to find it).
    target_session shows the session id (the record holds id + 1); a SET_LIMIT's status and qty
    show as limit (by name) and value."""
    if len(payload) != COMMAND_DTYPE.itemsize:
        raise ValueError(f"{len(payload)} bytes, an engine command has {COMMAND_DTYPE.itemsize}")
    row = np.frombuffer(payload, dtype=COMMAND_DTYPE)[0]
    # who and what a command is about stays even when 0 (account 0 is an account)
    order_fields = row["kind"] in (CommandKind.NEW_ORDER, CommandKind.QUOTE)
    identity = {"kind", "session"} | ({"account", "instrument", "side", "ord_type", "tif"}
                                      if order_fields else set())
    out = {}
    for name in COMMAND_DTYPE.names:
        value = row[name].item()
        if isinstance(value, bytes):
            value = value.rstrip(b"\0").decode("latin-1")
        if not value and name not in identity:
            continue
        enum = _ENUMS.get(name)
        if enum is not None:
            try:
                value = enum(value).name
            except ValueError:
                pass
        out[name] = value
    if "target_session" in out:                 # session id + 1 (commands.target)
        out["target_session"] -= 1
    if row["kind"] == CommandKind.SET_LIMIT:    # `status` selects the limit, `qty` is its value
        status = int(row["status"])
        out.pop("status", None)
        out["limit"] = Limit(status).name if status in Limit._value2member_map_ else status
        out["value"] = out.pop("qty", 0)
    return out


journal_decoders.register(RECORD_COMMAND, "command", decode_command)
