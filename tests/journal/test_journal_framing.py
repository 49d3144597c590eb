"""Record framing (ext/journal.pyx): encode/decode round trips, every way a record can fail to
check, and the encoder's refusals."""
from __future__ import annotations

import errno
import os
import struct

import crc32c
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ordex.ext import journal as jx
from ordex.ext.journal import (RECORD_HEADER_SIZE, JournalBackpressure, JournalFailed,
                               RecordColumns, RecordEncoder, RecordIterator, RecordTooLarge, Status)


def encode(records, next_seq=1, **kw) -> bytes:
    enc = RecordEncoder(next_seq, **kw)
    for rtype, ts, payload in records:
        enc.append(rtype, ts, payload)
    group = enc.take()
    return b"" if group is None else bytes(group[0][:group[1]])


def decode_all(buf: bytes, expected_seq=0):
    it = RecordIterator(buf, 0, expected_seq)
    recs = list(it)
    return recs, Status(it.status), it.offset


def craft(size=None, version=1, rtype=3, seq=1, ts=7, payload=b"abc", fix_crc=True) -> bytearray:
    """A record with chosen (possibly wrong) fields, its CRC recomputed over them."""
    size = RECORD_HEADER_SIZE + len(payload) if size is None else size
    rec = bytearray(struct.pack("<IIHHQq", size, 0, version, rtype, seq, ts) + payload)
    if fix_crc:
        struct.pack_into("<I", rec, 4, crc32c.crc32c(bytes(rec[8:]), crc32c.crc32c(bytes(rec[:4]))))
    return rec


records_st = st.lists(st.tuples(st.integers(0, 0xFFFF), st.integers(-2**63, 2**63 - 1),
                                st.binary(max_size=300)), max_size=40)


@settings(max_examples=150, deadline=None)
@given(records_st, st.integers(1, 2**63))
def test_round_trip(records, first_seq):
    buf = encode(records, first_seq)
    recs, status, end = decode_all(buf, first_seq)
    assert status == Status.END and end == len(buf)
    assert recs == [(first_seq + i, r, ts, p) for i, (r, ts, p) in enumerate(records)]
    cols = RecordColumns(len(records) + 1)
    count, end2, status2 = jx.decode_into(buf, 0, first_seq, cols)
    assert (count, end2, status2) == (len(records), len(buf), Status.END)
    for i, (r, ts, p) in enumerate(records):
        assert (int(cols.seq[i]), int(cols.rtype[i]), int(cols.ts_ns[i])) == (first_seq + i, r, ts)
        assert cols.payload(buf, i) == p


@settings(max_examples=60, deadline=None)
@given(records_st)
def test_append_many_matches_append(records):
    payloads = b"".join(p for _, _, p in records)
    offsets = np.cumsum([0] + [len(p) for _, _, p in records]).astype(np.int64)
    enc = RecordEncoder(5)
    first = enc.append_many(np.array([r for r, _, _ in records], np.uint16),
                            np.array([t for _, t, _ in records], np.int64), payloads, offsets)
    assert first == 5 and enc.next_seq == 5 + len(records)
    group = enc.take()
    got = b"" if group is None else bytes(group[0][:group[1]])
    assert got == encode(records, 5)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 300), st.integers(0, 40), st.integers(-2**63, 2**63 - 1))
def test_append_fixed_matches_append(size, n, ts):
    payloads = bytes((i * 7) % 251 for i in range(size * n))
    enc = RecordEncoder(3)
    assert enc.append_fixed(11, ts, payloads, size) == 3 and enc.next_seq == 3 + n
    group = enc.take()
    got = b"" if group is None else bytes(group[0][:group[1]])
    assert got == encode([(11, ts, payloads[i * size:(i + 1) * size]) for i in range(n)], 3)


def test_append_fixed_refuses_whole_batch():
    enc = RecordEncoder(1, max_payload=100)
    with pytest.raises(ValueError, match="dividing"):
        enc.append_fixed(1, 0, bytes(10), 3)
    with pytest.raises(ValueError, match="dividing"):
        enc.append_fixed(1, 0, bytes(10), 0)
    with pytest.raises(RecordTooLarge):
        enc.append_fixed(1, 0, bytes(202), 101)
    with pytest.raises(ValueError, match="record type"):
        enc.append_fixed(70000, 0, bytes(4), 4)
    assert enc.next_seq == 1 and enc.take() is None


def test_append_fixed_stamps_seq_and_ts_into_the_rows_and_the_records():
    rows = np.zeros(3, dtype=[("a", "<i4"), ("seq", "<i8"), ("ts", "<i8"), ("b", "<i4")])
    rows["a"] = [7, 8, 9]
    size = rows.dtype.itemsize
    enc = RecordEncoder(40)
    assert enc.append_fixed(5, 123, rows, size, rows.dtype.fields["seq"][1],
                            rows.dtype.fields["ts"][1]) == 40
    assert rows["seq"].tolist() == [40, 41, 42] and rows["ts"].tolist() == [123] * 3
    group = enc.take()
    assert bytes(group[0][:group[1]]) == encode(
        [(5, 123, rows[i:i + 1].tobytes()) for i in range(3)], 40)
    with pytest.raises(BufferError):                     # stamping needs a writable buffer
        enc.append_fixed(5, 0, rows.tobytes(), size, 0)
    with pytest.raises(ValueError, match="8 bytes inside"):
        enc.append_fixed(5, 0, rows, size, size - 7)
    assert enc.next_seq == 43 and enc.take() is None


def test_encode_record_and_crc_match_the_package():
    rec = jx.encode_record(9, 42, -5, b"payload")
    assert rec == encode([(9, -5, b"payload")], 42)
    assert jx.record_crc(rec) == struct.unpack_from("<I", rec, 4)[0]
    assert jx.record_crc(rec) == crc32c.crc32c(rec[8:], crc32c.crc32c(rec[:4]))


def test_crc_backends_agree():
    assert jx.crc_backend() == "c", "the crc32c package's C function should be usable here"
    records = [(i % 3, i, bytes(range(i % 200))) for i in range(300)]
    fast = encode(records)
    previous = jx.use_crc_backend("python")
    try:
        assert encode(records) == fast
        recs, status, _ = decode_all(fast, 1)
        assert status == Status.END and len(recs) == 300
    finally:
        jx.use_crc_backend(previous)
    with pytest.raises(ValueError, match="unknown crc backend"):
        jx.use_crc_backend("table")


def test_empty_and_zero_buffers_are_clean_ends():
    for buf in (b"", bytes(5), bytes(RECORD_HEADER_SIZE), bytes(4096)):
        recs, status, end = decode_all(buf)
        assert (recs, status, end) == ([], Status.END, 0)


def test_every_cut_of_a_buffer_is_torn_or_a_clean_boundary():
    buf = encode([(1, 1, b"x" * 10), (2, 2, b""), (3, 3, b"y" * 40)])
    bounds = {0, 38, 66, len(buf)}
    for cut in range(len(buf) + 1):
        recs, status, end = decode_all(buf[:cut], 1)
        if cut in bounds:
            assert status == Status.END and end == cut
        else:
            assert status == Status.TORN and end == max(b for b in bounds if b < cut)
        assert all(r[0] == i + 1 for i, r in enumerate(recs))


def test_every_bit_flip_in_a_record_is_detected():
    buf = encode([(1, 10, b"first"), (2, 20, b"second record"), (3, 30, b"third")])
    second = RECORD_HEADER_SIZE + 5
    end_second = second + RECORD_HEADER_SIZE + 13
    for pos in range(second, end_second):
        for bit in range(8):
            bad = bytearray(buf)
            bad[pos] ^= 1 << bit
            recs, status, end = decode_all(bytes(bad), 1)
            assert len(recs) == 1 and end == second, (pos, bit)
            assert status in (Status.BAD_CHECKSUM, Status.BAD_LENGTH, Status.BAD_VERSION,
                              Status.TORN), (pos, bit, status)


def test_statuses_of_crafted_records():
    good = craft(seq=1)
    assert jx.check_record(bytes(good), 0, 1) == (Status.VALID, len(good))
    assert jx.check_record(bytes(craft(version=2)), 0, 1)[0] == Status.BAD_VERSION
    assert jx.check_record(bytes(craft(version=0)), 0, 1)[0] == Status.BAD_VERSION
    assert jx.check_record(bytes(craft(size=12)), 0, 1)[0] == Status.BAD_LENGTH
    huge = craft(size=RECORD_HEADER_SIZE + jx.MAX_PAYLOAD_LIMIT + 1)
    assert jx.check_record(bytes(huge), 0, 1)[0] == Status.BAD_LENGTH
    assert jx.check_record(bytes(craft(size=100)), 0, 1)[0] == Status.TORN
    assert jx.check_record(bytes(craft(seq=5)), 0, 4)[0] == Status.BAD_SEQUENCE
    assert jx.check_record(bytes(craft(seq=5)), 0, 0)[0] == Status.VALID
    assert jx.check_record(bytes(craft(fix_crc=False)), 0, 1)[0] == Status.BAD_CHECKSUM


def test_iterator_and_columns_stop_at_a_sequence_gap():
    buf = encode([(1, 1, b"a"), (1, 2, b"b")], 1) + encode([(1, 3, b"c")], 7)
    recs, status, end = decode_all(buf, 1)
    assert [r[0] for r in recs] == [1, 2] and status == Status.BAD_SEQUENCE
    cols = RecordColumns(10)
    assert jx.decode_into(buf, 0, 0, cols)[::2] == (2, Status.BAD_SEQUENCE)


def test_decode_into_reports_a_full_output_as_valid():
    buf = encode([(1, i, b"p") for i in range(10)])
    cols = RecordColumns(4)
    count, off, status = jx.decode_into(buf, 0, 1, cols)
    assert (count, status) == (4, Status.VALID)
    count, off, status = jx.decode_into(buf, off, 5, cols)
    assert (count, status, int(cols.seq[0])) == (4, Status.VALID, 5)
    count, off, status = jx.decode_into(buf, off, 9, cols)
    assert (count, off, status) == (2, len(buf), Status.END)


def test_iterator_skips_below_from_seq_but_checks_them():
    buf = bytearray(encode([(1, i, b"p%d" % i) for i in range(10)]))
    assert [r[0] for r in RecordIterator(bytes(buf), 0, 1, 8)] == [8, 9, 10]
    buf[RECORD_HEADER_SIZE + 1] ^= 0xFF     # damage record 1, which from_seq skips over
    it = RecordIterator(bytes(buf), 0, 1, 8)
    assert list(it) == [] and it.status == Status.BAD_CHECKSUM and it.offset == 0


def test_bad_offsets_and_arguments_are_rejected():
    buf = encode([(1, 1, b"a")])
    with pytest.raises(ValueError):
        RecordIterator(buf, len(buf) + 1)
    with pytest.raises(ValueError):
        jx.decode_into(buf, -1, 0, RecordColumns(1))
    with pytest.raises(ValueError):
        RecordColumns(0)
    with pytest.raises(ValueError):
        jx.read_header(buf, len(buf) - 3)
    with pytest.raises(ValueError):
        jx.record_crc(b"short")


class TestEncoderRefusals:
    def test_record_type_range(self):
        enc = RecordEncoder()
        for bad in (-1, 0x10000):
            with pytest.raises(ValueError, match="record type"):
                enc.append(bad, 0, b"")
        assert enc.next_seq == 1 and enc.pending_bytes == 0

    def test_too_large_appends_nothing(self):
        enc = RecordEncoder(max_payload=100)
        enc.append(1, 0, b"x" * 100)
        with pytest.raises(RecordTooLarge):
            enc.append(1, 0, b"x" * 101)
        assert enc.next_seq == 2 and enc.pending_bytes == RECORD_HEADER_SIZE + 100

    def test_configuration_errors(self):
        with pytest.raises(ValueError):
            RecordEncoder(0)
        with pytest.raises(ValueError):
            RecordEncoder(max_payload=jx.MAX_PAYLOAD_LIMIT + 1)
        with pytest.raises(ValueError):
            RecordEncoder(max_payload=1000, limit=500)

    def test_backpressure_until_released(self):
        enc = RecordEncoder(max_payload=100, limit=1000)
        appended = 0
        with pytest.raises(JournalBackpressure):
            while True:
                enc.append(1, 0, b"x" * 72)     # 100-byte records
                appended += 1
        assert appended == 10 and enc.next_seq == 11
        buf, n, first, last = enc.take()
        assert (n, first, last) == (1000, 1, 10)
        with pytest.raises(JournalBackpressure):
            enc.append(1, 0, b"x")              # taken but not written still counts
        enc.release(buf, n)
        assert enc.append(1, 0, b"x") == 11

    def test_failed_encoder_refuses_everything(self):
        enc = RecordEncoder()
        enc.append(1, 0, b"a")
        enc.fail(JournalFailed("disk gone"))
        for _ in range(2):
            with pytest.raises(JournalFailed, match="disk gone"):
                enc.append(1, 0, b"b")
        with pytest.raises(JournalFailed):
            enc.append_many(np.ones(1, np.uint16), np.ones(1, np.int64), b"x",
                            np.array([0, 1], np.int64))
        with pytest.raises(TypeError):
            enc.fail("not an exception")

    def test_append_many_is_all_or_nothing(self):
        enc = RecordEncoder(max_payload=10)
        rt, ts = np.ones(3, np.uint16), np.zeros(3, np.int64)
        with pytest.raises(RecordTooLarge):
            enc.append_many(rt, ts, b"x" * 30, np.array([0, 5, 25, 30], np.int64))
        with pytest.raises(ValueError, match="decrease"):
            enc.append_many(rt, ts, b"x" * 30, np.array([0, 5, 3, 30], np.int64))
        with pytest.raises(ValueError, match="within"):
            enc.append_many(rt, ts, b"x" * 30, np.array([0, 5, 10, 31], np.int64))
        with pytest.raises(ValueError, match="len"):
            enc.append_many(rt, ts[:2], b"x" * 30, np.array([0, 5, 10, 15], np.int64))
        assert enc.next_seq == 1 and enc.pending_bytes == 0
        assert enc.append_many(rt[:0], ts[:0], b"", np.zeros(1, np.int64)) == 1

    def test_first_append_hook_runs_once_per_group_and_can_veto(self):
        calls = []
        enc = RecordEncoder(on_first_append=lambda: calls.append(1))
        enc.append(1, 0, b"a")
        enc.append(1, 0, b"b")
        assert calls == [1]
        enc.take()
        enc.append(1, 0, b"c")
        assert calls == [1, 1]

        def veto():
            raise RuntimeError("loop closed")
        enc = RecordEncoder(on_first_append=veto)
        with pytest.raises(RuntimeError):
            enc.append(1, 0, b"a")
        assert enc.next_seq == 1 and enc.pending_bytes == 0 and enc.take() is None

    def test_buffers_are_recycled_and_groups_keep_their_bytes(self):
        enc = RecordEncoder(capacity=4096)
        enc.append(1, 0, b"a" * 5000)            # grows past the initial capacity
        buf1, n1, _, _ = enc.take()
        kept = bytes(buf1[:n1])
        enc.append(1, 0, b"b")                   # goes to a fresh buffer, buf1 untouched
        assert bytes(buf1[:n1]) == kept
        enc.release(buf1, n1)
        assert enc.take()[3] == 2 and enc.take() is None


def test_zero_helpers():
    buf = bytearray(2048)
    assert jx.first_nonzero(buf) == -1
    buf[1500] = 1
    assert jx.first_nonzero(buf) == 1500 and jx.first_nonzero(buf, 1501) == -1
    assert jx.first_nonzero(buf, 0, 1500) == -1
    buf = bytearray(b"\x01" * 2048)
    assert not jx.has_zero_sector(buf, 100, 1200)
    buf[300:400] = bytes(100)                         # zeros inside a piece: data, not a hole
    assert not jx.has_zero_sector(buf, 100, 1200)
    buf[512:1024] = bytes(512)
    assert jx.has_zero_sector(buf, 100, 1200)
    assert jx.has_zero_sector(buf, 100, 600)          # the piece 512..600 was never written
    buf2 = bytearray(b"\x01" * 2048)
    buf2[1024:1200] = bytes(176)                      # the last piece, 1024..1200 of [100, 1200)
    assert jx.has_zero_sector(buf2, 100, 1200)
    buf2[1024:1050] = b"\x01" * 26                  # zeros that start off a sector boundary
    assert not jx.has_zero_sector(buf2, 100, 1200)


def test_write_sync(tmp_path):
    path = tmp_path / "f"
    fd = os.open(path, os.O_CREAT | os.O_WRONLY)
    try:
        assert jx.write_sync(fd, [b"abc", memoryview(b"defg")[1:], bytearray(b"!")], 0, False) == 0
        assert jx.write_sync(fd, [b"X"], 1, True) >= 0
    finally:
        os.close(fd)
    assert path.read_bytes() == b"aXcefg!"
    with pytest.raises(OSError) as info:
        jx.write_sync(fd, [b"abc"], 0, True)          # closed descriptor
    assert info.value.errno == errno.EBADF and "pwritev" in str(info.value)
