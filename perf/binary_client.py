"""The C round-trip client of `ordex perf binary` (perf/soup_pingpong.c, compiled at run time with
perf/fix_load.compile_loadgen) and the loopback floor it is measured against.

    binary = compile_client(workdir)
    lat_ns = order_ack(binary, port, login_packet, orders, ref_offset, workdir)
    floor_ns = loopback_floor(binary, count, size, workdir)

The Python asyncio client's own ping-pong costs about as much as the order_ack target (FIELD-NOTES:
uvloop floor p50 ~26 us), so the server's share of the round trip is measured from C: one
blocking write and read per order, TCP_NODELAY, clock_gettime around them.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np

from ordex.perf.fix_load import LoadError, compile_loadgen

SOURCE = Path(__file__).resolve().with_name("soup_pingpong.c")
_SUMMARY = re.compile(r"(\w+)=(\d+)")


def compile_client(workdir: Path, cc: str | None = None) -> Path:
    return compile_loadgen(workdir, cc, source=SOURCE)


def _run(cmd: list[str], out: Path, timeout: float) -> tuple[dict[str, int], np.ndarray]:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise LoadError(f"the C client did not finish in {timeout:g} s: {' '.join(cmd)}") from None
    summary = {k: int(v) for k, v in _SUMMARY.findall(proc.stdout)}
    if proc.returncode or "sent" not in summary:
        raise LoadError(f"the C client failed (exit {proc.returncode}): "
                        f"{proc.stderr.strip() or proc.stdout.strip()}")
    lat = np.fromfile(out, dtype=np.int64)
    out.unlink(missing_ok=True)
    if len(lat) != summary["sent"]:
        raise LoadError(f"the C client wrote {len(lat)} latencies for {summary['sent']} orders")
    return summary, lat


def order_ack(binary: Path, port: int, login: bytes, orders: np.ndarray, ref_offset: int,
              workdir: Path, timeout: float = 300) -> np.ndarray:
    """Round trips (ns) of `orders` (rows of framed Enter Order packets, bytes) sent one at a
    time after logging in with the `login` packet; raises LoadError if any is rejected."""
    workdir = Path(workdir)
    login_path, orders_path, out = (workdir / f"c_client.{x}" for x in ("login", "orders", "lat"))
    login_path.write_bytes(login)
    orders = np.ascontiguousarray(orders)
    orders.tofile(orders_path)
    try:
        summary, lat = _run([str(binary), "client", "--port", str(port), "--login",
                             str(login_path), "--orders", str(orders_path), "--stride",
                             str(orders.shape[1]), "--ref-offset", str(ref_offset),
                             "--out", str(out)], out, timeout)
    finally:
        login_path.unlink(missing_ok=True)
        orders_path.unlink(missing_ok=True)
    if summary.get("rejected"):
        raise LoadError(f"order_ack (C client): {summary['rejected']} of {len(lat)} orders "
                        "rejected")
    return lat


def loopback_floor(binary: Path, count: int, size: int, workdir: Path,
                   timeout: float = 120) -> np.ndarray:
    """Round trips (ns) of `size` bytes echoed by a trivial C peer over loopback TCP: what
    order_ack would measure if the server took no time."""
    out = Path(workdir) / "c_floor.lat"
    return _run([str(binary), "floor", "--count", str(count), "--size", str(size),
                 "--out", str(out)], out, timeout)[1]
