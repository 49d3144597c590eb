"""The ITCH feed read by independent parsers: subscribers record what they receive (one from the
start, one joining late, which gets a snapshot), meatpy rebuilds the books from each recording and
they must equal ordex's own book level by level; itchfeed decodes the same files to the same
message counts.  The order flow covers adds, executions, iceberg replenishment, reductions,
replaces, cancels and IOC remainders on two instruments."""
import datetime as dt
import random
from collections import Counter

import pytest

from binary_helpers import binary_config, itch, ouch, run, settle, start

meatpy_itch = pytest.importorskip("meatpy.itch50")

SYMBOLS = {"MSFT": 1, "AAPL": 0}          # symbol -> instrument id in the demo config
LOT = {"MSFT": 1, "AAPL": 1_000_000}      # one share in quantity increments


def max_floor(n: int) -> bytes:
    return bytes([5, 5]) + n.to_bytes(4, "big")


async def order_flow(mm1, mm2, rnd: random.Random, steps: int, refs: dict) -> None:
    """Random traffic: MM1 requotes both instruments, MM2 enters, replaces, reduces and cancels."""
    live2: list[tuple[int, str, int]] = refs.setdefault("live2", [])
    for _ in range(steps):
        sym = rnd.choice(list(SYMBOLS))
        lot = LOT[sym]
        op = rnd.random()
        if op < 0.2:
            refs["q"] += 1
            entries = []
            for s in SYMBOLS:
                bid = 1_500_000 - rnd.randrange(1, 30) * 100
                ask = 1_500_000 + rnd.randrange(1, 30) * 100
                entries.append((s, refs["n1"] + 1, bid, rnd.randrange(0, 6) * LOT[s],
                                refs["n1"] + 2, ask, rnd.randrange(1, 6) * LOT[s]))
                refs["n1"] += 2
            mm1.mass_quote(refs["q"], entries)
        elif op < 0.6 or not live2:
            refs["n2"] += 1
            side = rnd.choice("BS")
            px = 1_500_000 + rnd.randrange(-40, 41) * 100
            qty = rnd.randrange(1, 9) * lot
            tif = "3" if rnd.random() < 0.15 else "0"
            app = max_floor(2 * lot) if rnd.random() < 0.2 and qty > 2 * lot else b""
            mm2.enter(refs["n2"], side, qty, sym, px, tif=tif, appendage=app)
            if tif == "0":
                live2.append((refs["n2"], sym, qty))
        elif op < 0.75:
            ref, s, qty = live2.pop(rnd.randrange(len(live2)))
            refs["n2"] += 1
            px = 1_500_000 + rnd.randrange(-40, 41) * 100
            mm2.replace(ref, refs["n2"], qty, px)
            live2.append((refs["n2"], s, qty))
        elif op < 0.87:
            ref, s, qty = live2[rnd.randrange(len(live2))]
            mm2.cancel(ref, max(qty // 2 // LOT[s], 1) * LOT[s])
        else:
            ref, s, qty = live2.pop(rnd.randrange(len(live2)))
            mm2.cancel(ref)


def rebuild(path) -> dict[str, tuple[list, list]]:
    procs = {s: meatpy_itch.ITCH50MarketProcessor(s, dt.datetime(2026, 1, 2)) for s in SYMBOLS}
    reader = meatpy_itch.ITCH50MessageReader()
    for msg in reader.read_file(path):
        for p in procs.values():
            p.process_message(msg)
    books = {}
    for s, p in procs.items():
        lob = p.current_lob
        if lob is None:
            books[s] = ([], [])
            continue
        books[s] = ([(int(lv.price), int(lv.volume)) for lv in lob.bid_levels],
                    [(int(lv.price), int(lv.volume)) for lv in lob.ask_levels])
    return books


def ordex_books(server) -> dict[str, tuple[list, list]]:
    book = server.engine.book
    out = {}
    for s, inst in SYMBOLS.items():
        step = 100     # both demo instruments: price increment 0.01 = 100 wire units
        out[s] = tuple([(px * step, qty) for px, qty, _n in book.depth(inst, side, 100000)]
                       for side in (1, 2))
    return out


@pytest.mark.parametrize("loop_kind", ["asyncio", "uvloop"])
def test_recorded_feed_rebuilds_ordex_book(tmp_path, loop_kind):
    cfg = binary_config(tmp_path)
    early, late = tmp_path / "early.itch", tmp_path / "late.itch"

    async def main():
        server, gw = await start(cfg)
        a = await itch(gw, record=str(early))
        mm1, mm2 = await ouch(gw, "MM1"), await ouch(gw, "MM2")
        rnd = random.Random(7)
        refs = {"n1": 0, "n2": 0, "q": 0}
        await order_flow(mm1, mm2, rnd, 300, refs)
        await settle(server, 0.2)
        b = await itch(gw, record=str(late))
        await order_flow(mm1, mm2, rnd, 300, refs)
        await settle(server, 0.3)
        books = ordex_books(server)
        counts = (a.messages, b.messages)
        for c in (a, b, mm1, mm2):
            c.close()
        await server.stop()
        return books, counts

    books, counts = run(loop_kind, main())
    assert all(books[s][0] and books[s][1] for s in SYMBOLS), books     # the flow left a book
    assert rebuild(early) == books
    assert rebuild(late) == books
    types_early = Counter(_itchfeed_types(early))
    assert sum(types_early.values()) == counts[0]
    for kind in ("A", "E", "X", "D", "U", "R", "H", "S"):
        assert types_early[kind] > 0, (kind, types_early)
    assert Counter(_itchfeed_types(late))["A"] > 0


def _itchfeed_types(path) -> list[str]:
    from itch.parser import MessageParser
    with open(path, "rb") as f:
        return [m.message_type.decode() for m in MessageParser().parse_file(f)]
