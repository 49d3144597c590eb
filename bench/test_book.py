"""pytest-benchmark versions of `ordex perf book`'s units of work.

    python3 -m pytest bench/test_book.py --benchmark-enable
"""
import pytest

from ordex.ext.book import OrderBook, Side
from ordex.perf.book import fresh_book
from ordex.perf.book_workloads import as_calls, exchange_core_mix, insert_heavy, run_calls

N = 100_000


@pytest.fixture(scope="module", params=["exchange_core_mix", "insert_heavy"])
def workload(request):
    return exchange_core_mix(N) if request.param == "exchange_core_mix" else insert_heavy(N)


def test_batch_execute(benchmark, workload):
    def setup():
        return (fresh_book(workload), workload.main.copy()), {}

    def work(book, cmds):
        for start in range(0, len(cmds), 4096):
            book.execute(cmds[start:start + 4096])
            book.clear_events()

    benchmark.pedantic(work, setup=setup, rounds=5)


def test_per_call(benchmark, workload):
    calls = as_calls(workload.main)
    benchmark.pedantic(run_calls, setup=lambda: ((fresh_book(workload), calls), {}), rounds=5)


def test_single_limit_and_cancel(benchmark):
    book = OrderBook(max_orders=1024, max_instruments=1)
    book.add_instrument(0)
    book.limit(0, 1, Side.SELL, 101, 10)

    def one():
        book.limit(0, 2, Side.BUY, 100, 10)
        book.cancel(2)
        book.clear_events()

    benchmark(one)
