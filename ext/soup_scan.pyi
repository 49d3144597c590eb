"""SoupBinTCP packet scanning in C, for clients that count what they receive (the perf tools'
feed subscribers and order-entry load): a Python loop over packets caps a reader near a million
packets per second, below the feed's target, so a benchmark could not tell the feed's limit from
its own.

scan(buf, counts) -> int
    Walks the packets of buf (2-byte big-endian length, type, payload) from offset 0 and adds 1 to
    counts[message type] for each Sequenced Data packet ('S') with a message (counts: int64[256]).
    Returns the offset where the complete packets end; the bytes after it are a partial packet.
"""
import numpy as np

def scan(buf: bytes | bytearray | memoryview, counts: np.ndarray) -> int: ...
