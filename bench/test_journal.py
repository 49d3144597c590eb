"""pytest-benchmark versions of `ordex perf journal`'s units of work.

    python3 -m pytest bench/test_journal.py --benchmark-enable
"""
import numpy as np
import pytest

from ordex.core.journal import Journal, JournalConfig, read_journal
from ordex.core.journal_segments import scan_directory
from ordex.ext import journal as framing

N = 100_000
PAYLOAD = bytes(range(36))          # 64-byte records


@pytest.fixture(scope="module")
def encoded() -> bytes:
    enc = framing.RecordEncoder(1, capacity=N * 64, limit=N * 64)
    for i in range(N):
        enc.append(1, i, PAYLOAD)
    buf, n, _, _ = enc.take()
    return bytes(buf[:n])


@pytest.fixture(scope="module")
def journal_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("bench-journal")
    with Journal.open(d, JournalConfig(durability="none", segment_bytes=1 << 20)) as journal:
        for i in range(N):
            journal.append(1, i, PAYLOAD)
            if i % 1000 == 999:
                journal.flush()
    return d


def test_append(benchmark):
    def setup():
        return (framing.RecordEncoder(1, capacity=N * 64, limit=N * 64),), {}

    def work(enc):
        append = enc.append
        for i in range(N):
            append(1, i, PAYLOAD)

    benchmark.pedantic(work, setup=setup, rounds=5)


def test_append_many(benchmark):
    rtypes, ts = np.ones(N, np.uint16), np.arange(N, dtype=np.int64)
    payloads, offsets = PAYLOAD * N, np.arange(N + 1, dtype=np.int64) * len(PAYLOAD)

    def setup():
        return (framing.RecordEncoder(1, capacity=N * 64, limit=N * 64),), {}

    benchmark.pedantic(lambda enc: enc.append_many(rtypes, ts, payloads, offsets), setup=setup,
                       rounds=5)


@pytest.mark.parametrize("crc", ["c", "python"])
def test_decode_into(benchmark, encoded, crc):
    out = framing.RecordColumns(N)
    previous = framing.use_crc_backend(crc)
    try:
        count, _, _ = benchmark(framing.decode_into, encoded, 0, 1, out)
    finally:
        framing.use_crc_backend(previous)
    assert count == N


def test_iterate(benchmark, encoded):
    assert benchmark(lambda: sum(1 for _ in framing.RecordIterator(encoded, 0, 1))) == N


def test_scan_directory(benchmark, journal_dir):
    assert benchmark(scan_directory, journal_dir).records == N


def test_read_journal(benchmark, journal_dir):
    assert benchmark(lambda: sum(1 for _ in read_journal(journal_dir))) == N


@pytest.mark.parametrize("mode", ["fsync", "none"])
def test_group_commit(benchmark, tmp_path, mode):
    """One group of 1,000 records appended, flushed and made durable."""
    journal = Journal.open(tmp_path / mode, JournalConfig(durability=mode))

    def group():
        append = journal.append
        for i in range(1000):
            append(1, i, PAYLOAD)
        journal.flush()
        journal.wait_durable(journal.next_seq - 1, 30)

    try:
        benchmark.pedantic(group, rounds=50, warmup_rounds=2)
    finally:
        journal.close()
