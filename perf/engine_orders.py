"""The engine on `ordex perf binary`'s pipelined order mix, in process: what the server's submit()
costs per order once the gateway is out of the way (Engine.apply + events_array + the book's
events_array for the feed + clear_events, in batches like the gateway's reads).

The mix is perf/fix_ordex.py's cycle (eight limit DAY orders around a drifting mid, four rest and
four cross them, half of the orders trade) for one session on one account that may short, on
instrument S001 of ten, as the OUCH gateway would submit it (clordid = UserRefNum, 10 digits).

    python3 -m ordex.perf.engine_orders [--orders N] [--batch B] [--repeat R] [--profile]

prints orders/s (median of --repeat runs, each a fresh engine).  --profile runs the workload once,
long, for `perf record -g` or `py-spy record --native`.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from ordex.core import refdata
from ordex.core.commands import COMMAND_DTYPE, CommandKind, OrdType, Tif
from ordex.ext.engine import Engine
from ordex.perf.fix_ordex import CYCLE, DRIFT

INSTRUMENTS = 10
SYMBOL = 1            # S001: the pipelined run's instrument


def reference_data() -> refdata.ReferenceData:
    insts = [{"symbol": f"S{i:03d}", "currency": "USD", "price_increment": "0.01",
              "qty_increment": "1", "max_qty": "1000000"} for i in range(INSTRUMENTS)]
    accts = [{"name": n, "balances": {"USD": "100000000000"}, "may_short": True}
             for n in ("MMACCT", "TAKER")]
    return refdata.from_dicts(insts, accts, [{"name": "PERF1", "accounts": ["MMACCT"]},
                                             {"name": "PERF2", "accounts": ["TAKER"]}],
                              currencies={"USD": "0.0001"})


def commands(n: int, first_ref: int = 10_000_000) -> np.ndarray:
    """n NEW_ORDER rows of the cycle (prices in ticks of 0.01 around 100.00)."""
    out = np.zeros(n, dtype=COMMAND_DTYPE)
    k = np.arange(n)
    cyc = np.array(CYCLE)[k % len(CYCLE)]
    drift = np.array(DRIFT)[(k // len(CYCLE)) % len(DRIFT)]
    out["seq"] = k + 1
    out["ts_ns"] = (k + 1) * 1000
    out["kind"] = CommandKind.NEW_ORDER
    out["session"] = 0
    out["account"] = 0
    out["instrument"] = SYMBOL
    out["side"] = cyc[:, 0]
    out["ord_type"] = OrdType.LIMIT
    out["tif"] = Tif.DAY
    out["price"] = 10_000 + drift + cyc[:, 1]
    out["qty"] = cyc[:, 2]
    out["clordid"] = [b"%010d" % (first_ref + i) for i in range(n)]
    return out


def run_once(rows: np.ndarray, batch: int) -> tuple[float, int, int]:
    eng = Engine(reference_data(), max_orders=1 << 22)
    apply, events, book = eng.apply, eng.events_array, eng.book
    clear = eng.clear_events
    n_ev = n_bev = 0
    t0 = time.perf_counter_ns()
    for s in range(0, len(rows), batch):
        apply(rows[s:s + batch])
        n_ev += len(events())
        n_bev += len(book.events_array())
        clear()
    dt = (time.perf_counter_ns() - t0) / 1e9
    return len(rows) / dt, n_ev, n_bev


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--orders", type=int, default=400_000)
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--profile", action="store_true", help="one long run (for perf/py-spy)")
    a = p.parse_args(argv)
    rows = commands(a.orders)
    if a.profile:
        for _ in range(a.repeat):
            run_once(rows, a.batch)
        return
    runs = [run_once(rows, a.batch) for _ in range(a.repeat)]
    rates = [r[0] for r in runs]
    print(f"orders={a.orders} batch={a.batch} events/order={runs[0][1] / a.orders:.2f} "
          f"book events/order={runs[0][2] / a.orders:.2f}")
    print(f"orders/s median {statistics.median(rates):,.0f}  runs "
          + " ".join(f"{r:,.0f}" for r in rates))


if __name__ == "__main__":
    main()
