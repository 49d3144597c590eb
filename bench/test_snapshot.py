"""pytest-benchmark units of `ordex perf recovery`: snapshot, restore and journal replay.

    python3 -m pytest bench/test_snapshot.py --benchmark-enable
"""
import pytest

from ordex.core import snapshot
from ordex.ext.engine import Engine
from ordex.perf.engine import reference_data
from ordex.perf.recovery import MAX_ORDERS, large_book, write_journal

ORDERS = 100_000
COMMANDS = 200_000


@pytest.fixture(scope="module")
def book():
    return large_book(ORDERS, seed=1)


@pytest.fixture(scope="module")
def refdata():
    return reference_data()


def test_snapshot_100k_orders(benchmark, book):
    benchmark.pedantic(book.snapshot, args=(ORDERS,), rounds=5)


def test_restore_100k_orders(benchmark, book, refdata):
    data = book.snapshot(ORDERS)
    benchmark.pedantic(Engine.restore, args=(refdata, data), rounds=5)


def test_replay_journal_200k_commands(benchmark, tmp_path_factory, refdata):
    d = tmp_path_factory.mktemp("journal")
    write_journal(d, COMMANDS, 100_000, seed=1)
    benchmark.pedantic(lambda eng: snapshot.replay_journal(eng, d, 1),
                       setup=lambda: ((Engine(refdata, max_orders=MAX_ORDERS),), {}), rounds=3)
