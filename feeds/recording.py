"""Reading recorded venue traffic: one JSON message per line, optionally with a receive stamp.

Accepted line shapes (the first is plain JSON lines; the others are cryptofeed's recordings, as in
../shared/data/marketdata):
    {"type": ...}                              message, receive time unknown
    1618677817.118783: {"type": ...}           message received at that Unix time (seconds)
    wss://host/path <- 1618677817.02: {...}    message WE sent (subscription): skipped
    https://host/path?x=y -> 1633998512.32: {} HTTP response (REST snapshot) for that URL
    wss://host/path <-> 1618677816.84          connection opened: skipped
"""
from __future__ import annotations

import heapq
import os
from typing import Iterable, Iterator, NamedTuple

from ordex.ext.itch_levels import parse_decimal
from ordex.feeds.itch import open_binary
from ordex.feeds.model import Counters


class Record(NamedTuple):
    recv_ns: int        # 0 when the line carries no receive time
    url: bytes          # b"" for stream messages; the request URL for HTTP responses
    payload: bytes      # the JSON text
    line: int           # 1-based line number in its file, for error messages


def read_records(path: str | os.PathLike, counters: Counters,
                 progress=None) -> Iterator[Record]:
    """Records of a recording; malformed lines are counted (garbage_line) and skipped."""
    with open_binary(path) as f:
        raw = getattr(f, "fileobj", None) or f
        for n, line in enumerate(f, 1):
            if progress is not None and n % 4096 == 0:
                progress(raw.tell())
            rec = parse_line(line, n, counters, path)
            if rec is not None:
                yield rec


def parse_line(line: bytes, n: int, counters: Counters, where: object = "") -> Record | None:
    """One line of a recording (or of a live stream in the same shapes) as a Record; None for
    blank lines, lines we sent, connection markers and garbage (counted as garbage_line)."""
    line = line.strip()
    if not line:
        return None
    if line[:1] in (b"{", b"["):
        return Record(0, b"", line, n)
    i = line.find(b": ")
    head = line[:i] if i >= 0 else line
    parts = head.split()
    if i < 0 or not parts:
        if b" <-> " not in line:
            counters.hit("garbage_line", f"{where}:{n}: {line[:60]!r}")
        return None
    try:
        recv_ns = parse_decimal(parts[-1], 9)
    except ValueError:
        counters.hit("garbage_line", f"{where}:{n}: bad receive time {parts[-1][:30]!r}")
        return None
    if len(parts) == 1:
        return Record(recv_ns, b"", line[i + 2:], n)
    if len(parts) == 3 and parts[1] == b"->":
        return Record(recv_ns, parts[0], line[i + 2:], n)
    if len(parts) != 3 or parts[1] != b"<-":
        counters.hit("garbage_line", f"{where}:{n}: {head[:60]!r}")
    return None


def merge_by_time(*streams: Iterable[Record]) -> Iterator[Record]:
    """Interleave recordings by receive time (each must already be in receive order)."""
    return heapq.merge(*streams, key=lambda r: r.recv_ns)
