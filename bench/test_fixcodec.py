"""pytest-benchmark versions of `ordex perf fixcodec`'s units of work.

    python3 -m pytest bench/test_fixcodec.py --benchmark-enable
"""
import pytest

from ordex.core import fixdict
from ordex.perf.fixcodec import (READERS, WORKLOADS, chunked, encoder, messages, parse_stream,
                                 template, values)

N = 20_000


@pytest.fixture(scope="module", params=WORKLOADS)
def workload(request):
    return request.param


@pytest.fixture(scope="module")
def stream(workload):
    return chunked(b"".join(messages(workload, N)), 65536)


def test_parse_stream(benchmark, workload, stream):
    """N messages fed in 64 KiB chunks, FIX 4.4 dictionary, default validation."""
    d44 = fixdict.load("FIX.4.4")
    assert benchmark(lambda: parse_stream(d44.parser(), stream)) == N


def test_parse_stream_and_read_fields(benchmark, workload, stream):
    d44 = fixdict.load("FIX.4.4")
    assert benchmark(lambda: parse_stream(d44.parser(), stream, READERS[workload])) == N


def test_parse_one_message(benchmark, workload):
    parser = fixdict.load("FIX.4.4").parser()
    (raw,) = messages(workload, 1)
    read = READERS[workload]

    def one():
        for m in parser.feed(raw):
            read(m)

    benchmark(one)


def test_encode_template(benchmark, workload):
    enc, t, row = encoder(), template(workload), values(workload, 1)
    benchmark(enc.encode_template, t, row)


def test_encode_field_by_field_new_order(benchmark):
    enc, row = encoder(), values("new_order_single", 1)

    def one():
        enc.begin(b"D")
        enc.add_int(34, row[0])
        enc.add_timestamp(52, row[1])
        enc.add_bytes(11, row[2])
        enc.add_bytes(1, row[3])
        enc.add_bytes(55, row[4])
        enc.add_bytes(54, row[5])
        enc.add_timestamp(60, row[6])
        enc.add_fixed(38, row[7], 0)
        enc.add_bytes(40, row[8])
        enc.add_fixed(44, row[9], 2)
        enc.add_bytes(59, row[10])
        return enc.finish()

    assert one() == enc.encode_template(template("new_order_single"), row)
    benchmark(one)
