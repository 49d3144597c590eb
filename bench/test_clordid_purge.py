"""PURGE_CLORDIDS on a day of 1M orders: the ClOrdID table before and after (the engine's own
counters), the cost of the purge command itself, and a second day of the same commands (new
ClOrdIDs, so that order ids line up) that grows the table not at all -- so the O(n) rehash pauses
of day one (among its slowest commands) do not come back.

    python3 -m pytest bench/test_clordid_purge.py --benchmark-enable -s
    python3 bench/test_clordid_purge.py [N_COMMANDS] [REPEAT]     # the figures as a table
"""
from __future__ import annotations

import statistics
import sys
import time

import numpy as np

from ordex.core.commands import ADMIN_SESSION, CommandKind, command
from ordex.core.events import EventKind
from ordex.perf.engine import fresh_engine, prepare

N = 1_000_000


def day_two(main: np.ndarray, first_order_id: int, seq0: int) -> np.ndarray:
    """The same commands again, order ids and seqs shifted past day one's; ClOrdIDs "d<seq>"
    (reusing day one's would hit the names of orders still live, which stay duplicates)."""
    again = main.copy()
    again["order_id"] = np.where(again["order_id"] != 0, again["order_id"] + first_order_id, 0)
    again["seq"] += seq0
    again["ts_ns"] = again["seq"] * 1000
    again["clordid"] = np.char.encode(np.char.add("d", again["seq"].astype(str)))
    return again


def measure(n: int = N, purge_between: bool = True) -> dict:
    """Day one, PURGE_CLORDIDS (or, as the control, nothing), day two."""
    _, setup, main = prepare(n, seed=1)
    eng = fresh_engine(setup)
    lat1 = np.empty(len(main), dtype=np.int64)
    eng.apply_timed(main.copy(), lat1)
    before = eng.clordid_stats()
    last_seq = int(main["seq"][-1])
    if not purge_between:
        offset = eng.state()[0] - 1 - int((setup["kind"] == CommandKind.NEW_ORDER).sum())
        lat2 = np.empty(len(main), dtype=np.int64)
        eng.apply_timed(day_two(main, offset, last_seq + 1), lat2)
        return {"before": before, "day_two": eng.clordid_stats(),
                "day2_max_us": int(lat2.max()) / 1e3,
                "day2_p9999_us": float(np.percentile(lat2, 99.99)) / 1e3}
    purge = command(CommandKind.PURGE_CLORDIDS, session=ADMIN_SESSION, clordid="adm:bench",
                    seq=last_seq + 1, ts_ns=(last_seq + 1) * 1000)
    eng.clear_events()
    t0 = time.perf_counter_ns()
    eng.apply(purge)
    purge_ns = time.perf_counter_ns() - t0
    ev = eng.events_array()
    assert len(ev) == 1 and ev["kind"][0] == EventKind.CLORDIDS_PURGED
    eng.clear_events()
    after = eng.clordid_stats()
    offset = eng.state()[0] - 1 - int((setup["kind"] == CommandKind.NEW_ORDER).sum())
    again = day_two(main, offset, last_seq + 1)
    lat2 = np.empty(len(again), dtype=np.int64)
    eng.apply_timed(again, lat2)
    second = eng.clordid_stats()
    return {"commands": len(main), "before": before, "after": after, "day_two": second,
            "purge_ms": purge_ns / 1e6, "forgotten": int(ev["qty"][0]), "kept": int(ev["leaves"][0]),
            "day1_max_us": int(lat1.max()) / 1e3, "day2_max_us": int(lat2.max()) / 1e3,
            "day1_p9999_us": float(np.percentile(lat1, 99.99)) / 1e3,
            "day2_p9999_us": float(np.percentile(lat2, 99.99)) / 1e3}


def test_clordid_purge_on_a_million_orders(benchmark):
    figures = measure()
    print_figures([figures])
    benchmark.extra_info.update({k: v for k, v in figures.items() if not isinstance(v, dict)})
    # the purge itself, on a fresh full table each round
    _, setup, main = prepare(N, seed=1)
    last = int(main["seq"][-1])

    def full():
        eng = fresh_engine(setup)
        eng.apply(main)
        eng.clear_events()
        return (eng,), {}

    benchmark.pedantic(lambda eng: eng.apply(command(
        CommandKind.PURGE_CLORDIDS, session=ADMIN_SESSION, seq=last + 1, ts_ns=last + 1)),
        setup=full, rounds=3)


def print_figures(runs: list[dict], control: dict | None = None) -> None:
    med = lambda k: statistics.median(r[k] for r in runs)
    r = runs[0]
    b, a, d = r["before"], r["after"], r["day_two"]
    print(f"\n{r['commands']:,} commands (exchange-core mix, {len(runs)} run(s), medians)")
    print(f"  ClOrdID entries  before {b['entries']:,}  after {a['entries']:,}  "
          f"(forgotten {r['forgotten']:,}, kept {r['kept']:,})  after day two {d['entries']:,}")
    print(f"  table bytes      before {b['bytes'] / 2**20:.1f} MiB  after {a['bytes'] / 2**20:.1f} MiB"
          f"  after day two {d['bytes'] / 2**20:.1f} MiB  (slots {b['slots']:,} -> "
          f"{d['slots']:,})")
    print(f"  purge command    {med('purge_ms'):.1f} ms")
    print(f"  slowest command  day one {med('day1_max_us'):.0f} us (p99.99 "
          f"{med('day1_p9999_us'):.1f} us), day two {med('day2_max_us'):.0f} us (p99.99 "
          f"{med('day2_p9999_us'):.1f} us)")
    if control is not None:
        c = control["day_two"]
        print(f"  control, no purge: day two ends with {c['entries']:,} entries, "
              f"{c['bytes'] / 2**20:.1f} MiB (slots {c['slots']:,}); slowest command "
              f"{control['day2_max_us']:.0f} us (p99.99 {control['day2_p9999_us']:.1f} us)")


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else N
    repeat = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    print_figures([measure(n) for _ in range(repeat)], measure(n, purge_between=False))
