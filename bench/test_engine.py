"""pytest-benchmark version of `ordex perf engine`.

    python3 -m pytest bench/test_engine.py --benchmark-enable
"""
import pytest

from ordex.perf.engine import CHUNK, fresh_engine, prepare


@pytest.fixture(scope="module")
def workload():
    return prepare(100_000, seed=1)


def test_engine_exchange_core_mix(benchmark, workload):
    _, setup, main = workload

    def work(eng):
        for start in range(0, len(main), CHUNK):
            eng.apply(main[start:start + CHUNK])
            eng.clear_events()

    benchmark.pedantic(work, setup=lambda: ((fresh_engine(setup),), {}), rounds=5)
