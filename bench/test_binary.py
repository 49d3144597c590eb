"""pytest-benchmark units of the binary gateway (the work per batch, without sockets):

    python3 -m pytest bench/test_binary.py --benchmark-enable

  enter_orders_run      N Enter Order packets (one read) -> engine command rows (ext/ouch_in)
  enter_order_one       one Enter Order -> a command row (the same path)
  replies_numpy         a batch of engine events -> OUCH Sequenced Data packets (ext/ouch_out)
  replies_each          a few events -> packets (struct path)
  itch_encode          N book events (rest / fill / cancel) -> ITCH packets (ext/itch_out)
  store_append          one batch of packets into the user's replay store (os.write, no sync)
  soup_scan             a client counting N ITCH packets by type (ext/soup_scan, one call)
End-to-end figures over sockets: `ordex perf binary`.
"""
import asyncio
import tempfile
from pathlib import Path

import numpy as np
import pytest

from ordex.core.commands import COMMAND_DTYPE, CommandKind, OrdType, Tif
from ordex.ext.engine import Engine
from ordex.ext.ouch_in import OrderTerms
from ordex.gateway import config as config_mod
from ordex.gateway.binary import ouch as ouch_mod
from ordex.gateway.binary.itch_feed import ItchFeed
from ordex.gateway.binary.ouch import OuchGateway
from ordex.gateway.binary.store import SequencedStore
from ordex.perf.binary import encode_orders

N = 4096


class _Server:
    """What the gateway's codecs need from a server, without journal or sockets."""

    def __init__(self, cfg):
        self.engine = Engine(cfg.reference)
        self.clock_ns = lambda: 1_700_000_000_000_000_000
        self.accepting = True

    def subscribe(self, sink):
        pass

    def subscribe_book(self, sink):
        pass


@pytest.fixture(scope="module")
def ctx():
    tmp = Path(tempfile.mkdtemp(prefix="ordex-bench-binary-"))
    cfg = config_mod.parse(config_mod.default_text(), base_dir=tmp)
    loop = asyncio.new_event_loop()
    server = _Server(cfg)

    async def build():
        return (OuchGateway(server, cfg.binary, cfg.reference),
                ItchFeed(server, cfg.binary, cfg.reference))

    app, feed = loop.run_until_complete(build())
    user = app.users["MM1"]
    rows = np.zeros(N, dtype=COMMAND_DTYPE)
    k = np.arange(N)
    rows["seq"], rows["ts_ns"] = k + 1, server.clock_ns()
    rows["kind"], rows["session"], rows["account"] = CommandKind.NEW_ORDER, user.sid, 1
    rows["instrument"], rows["side"] = 1, 1 + k % 2
    rows["ord_type"], rows["tif"] = OrdType.LIMIT, Tif.DAY
    rows["price"], rows["qty"] = 15000 + (k // 2) % 5, 1
    rows["clordid"] = [b"%010d" % r for r in (k + 1).tolist()]
    server.engine.apply(rows)
    events = server.engine.events_array()
    book_events = server.engine.book.events_array()
    server.engine.clear_events()
    yield app, feed, user, events, book_events
    user.store.close()
    loop.close()


def test_enter_orders_run(benchmark, ctx):
    app, _, user, _, _ = ctx
    data = encode_orders(1, N, "MSFT").tobytes()
    stride = len(data) // N
    codecs = app.codecs["nasdaq"]

    def run():
        user.max_userref, user.terms = 0, OrderTerms()
        pending = ouch_mod._Pending()
        app._enter_orders(user, codecs, pending, data, 0, N, stride)
        return pending.count

    assert benchmark(run) == N


def test_enter_order_one(benchmark, ctx):
    app, _, user, _, _ = ctx
    packet = encode_orders(1, 1, "MSFT").tobytes()
    codecs = app.codecs["nasdaq"]

    def run():
        user.max_userref, user.terms = 0, OrderTerms()
        pending = ouch_mod._Pending()
        app._enter_orders(user, codecs, pending, packet, 0, 1, len(packet))
        return pending.count

    assert benchmark(run) == 1


def test_replies_numpy(benchmark, ctx):
    app, _, user, events, _ = ctx
    state = user.terms.copy()

    def run():
        user.terms = state.copy()
        return app._replies_numpy(user, events)[1]

    assert benchmark(run) == len(events)


def test_replies_each(benchmark, ctx):
    app, _, user, events, _ = ctx
    few = events[:4].tolist()
    assert benchmark(lambda: app._replies_each(user, few)[1]) == 4


def test_itch_encode(benchmark, ctx):
    _, feed, _, _, book_events = ctx

    def run():
        feed.orders.clear()
        return feed.encode(book_events)[1]

    assert benchmark(run) > N // 2


def test_store_append(benchmark, ctx, tmp_path):
    store = SequencedStore(tmp_path, "BENCH")
    packet = b"\x00\x41S" + bytes(64)
    batch = packet * 256
    benchmark(lambda: store.append(batch, 256))
    store.close()


def test_soup_scan(benchmark, ctx):
    from ordex.ext.soup_scan import scan
    _, feed, _, _, book_events = ctx
    feed.orders.clear()
    data, count = feed.encode(book_events)
    counts = np.zeros(256, dtype=np.int64)

    def run():
        counts[:] = 0
        return scan(data, counts)

    assert benchmark(run) == len(data) and counts.sum() == count
