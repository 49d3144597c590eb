"""pytest-benchmark versions of `ordex perf fixcodec`'s units of work.

    python3 -m pytest bench/test_fixcodec.py --benchmark-enable
"""
import pytest

from ordex.core import fixdict
from ordex.perf.fixcodec import (READERS, WORKLOADS, WRITERS, chunked, encoder, messages,
                                 parse_stream, template, values)

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


def test_encode_field_by_field(benchmark, workload):
    enc, row, write = encoder(), values(workload, 1), WRITERS[workload]

    def one():
        write(enc, row)
        return enc.finish()

    assert one() == enc.encode_template(template(workload), row)
    benchmark(one)
