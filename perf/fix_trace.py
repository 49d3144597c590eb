"""Where one FIX order's round trip goes: `python3 -m ordex.perf.fix_trace [--orders N]`.

Starts `ordex serve` (the perf configuration, one session) in its own process with timestamp
probes wrapped around each stage of the order path, sends N NewOrderSingles one at a time from
a blocking client in this process (closed loop: the next order leaves when the previous ack is
in), and prints, per stage, the median and p99 of the microseconds since the previous stamp.
Both processes stamp with CLOCK_MONOTONIC (time.perf_counter_ns on Linux), so the client's
send and receive times line up with the server's stamps.

The probes cost a few hundred ns each (a Python wrapper and a clock read): the traced round
trip is slower than an untraced one by about that times the number of stamps; compare stages
with each other, and the total with `ordex perf fix` for the untraced figure.

Stamps (server side, in path order):
    recv        _Connection.data_received entered (the loop woke up with the order's bytes)
    app_in      FixApplication.on_messages entered (parse + session checks done)
    app_out     on_messages returned (translated, queued for the iteration's batch)
    submit_in   FixApplication.flush entered (after the call_soon hop, if any)
    server_in   Server.submit entered (the batch copied out)
    rows_in     Sequencer.journal_rows entered
    stamped     Sequencer.stamp returned (sequence numbers and ts_ns written into the rows)
    append_in   Journal.append_fixed called (padding zeroed, rows viewed as bytes)
    journaled   Sequencer.journal_rows returned (stamp + journal append)
    applied     Server.submit's engine apply done (Sequencer.submit returned)
    submit_out  Server.submit returned (events held)
    jflush_in   Journal.flush entered (after its hop, if any)
    durable_in  Server._on_durable entered (the group written, in `none` mode)
    reports_in  FixApplication.on_events entered
    store_in    MessageStore.flush entered (ExecutionReports built and appended)
    store_out   MessageStore.flush returned (writev + sequence numbers written)
    sent        the transport.write of the session's output returned (after the client has
                read the ack: a loopback send runs the receiver's side too)
    out         _on_durable returned
Loop iterations are not counted here (uvloop exposes no iteration hook): the stamps show
them as the gaps app_out->submit_in and submit_out->jflush_in (a call_soon hop each when the
stage runs in a later iteration, about 1 us when it runs in the same call stack).
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ordex.perf import fix_ordex

_ACK = b"\x01150=0\x01"
STAGES = ("recv", "app_in", "app_out", "submit_in", "server_in", "rows_in", "stamped", "append_in", "journaled", "applied", "submit_out",
          "jflush_in", "durable_in", "reports_in", "store_in", "store_out", "sent", "out")


# -- server side: probes --------------------------------------------------------------------------
def _install_probes(out_path: str) -> None:
    from ordex.core import journal as journal_mod
    from ordex.core import sequencer as seq_mod
    from ordex.gateway import server as server_mod
    from ordex.gateway.fix import application, session, session_core, store

    clock = time.perf_counter_ns
    log: list = []
    mark = log.append

    def wrap(cls, name, before, after=None):
        fn = getattr(cls, name)

        def probe(*a, **k):
            if before:
                mark((before, clock()))
            r = fn(*a, **k)
            if after:
                mark((after, clock()))
            return r
        setattr(cls, name, probe)

    wrap(session._Connection, "data_received", "recv")
    wrap(application.FixApplication, "on_messages", "app_in", "app_out")
    wrap(application.FixApplication, "flush", "submit_in")
    wrap(seq_mod.Sequencer, "journal_rows", "rows_in", "journaled")
    wrap(seq_mod.Sequencer, "submit", None, "applied")
    wrap(server_mod.Server, "submit", "server_in", "submit_out")
    wrap(journal_mod.Journal, "flush", "jflush_in")
    wrap(seq_mod.Sequencer, "stamp", None, "stamped")
    init = journal_mod.Journal.__init__

    def journal_init(self, *a, **k):
        init(self, *a, **k)
        append_fixed = self.append_fixed

        def probe(*a):
            mark(("append_in", clock()))
            return append_fixed(*a)
        self.append_fixed = probe
    journal_mod.Journal.__init__ = journal_init
    wrap(server_mod.Server, "_on_durable", "durable_in", "out")
    wrap(application.FixApplication, "on_events", "reports_in")
    wrap(store.MessageStore, "flush", "store_in", "store_out")

    flush = session_core.FixSession._flush

    def session_flush(self):
        had = bool(self._out)
        flush(self)
        if had:
            mark(("sent", clock()))
    session_core.FixSession._flush = session_flush

    import atexit

    def dump():
        with open(out_path, "w") as f:
            json.dump(log, f)
    atexit.register(dump)


def serve(config: str, out_path: str) -> int:
    _install_probes(out_path)
    from ordex.gateway.cli import main
    return main(["serve", "--config", config])


# -- client side ----------------------------------------------------------------------------------
def _frame(body: bytes) -> bytes:
    head = b"8=FIX.4.4\x019=%d\x01" % len(body)
    return head + body + b"10=%03d\x01" % ((sum(head) + sum(body)) & 255)


def _stamp() -> bytes:
    from ordex.gateway.fix.session import utc_stamp
    return utc_stamp(time.time_ns())


def run_client(port: int, orders: int, warmup: int) -> list[tuple[int, int]]:
    client, account, symbol = fix_ordex.session_names(1)[0]
    mix = fix_ordex.order_mix(account, symbol)
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(_frame(b"35=A\x0134=1\x0149=%s\x0156=ORDEX\x0152=%s\x0198=0\x01108=30\x01141=Y\x01"
                     % (client.encode(), _stamp())))
    buf = b""
    while b"\x0135=A\x01" not in buf:
        buf += s.recv(65536)
    times = []
    tail = b""
    for i in range(warmup + orders):
        stamp = _stamp()
        body = mix[i % len(mix)].replace("|", "\x01").encode()
        msg = _frame(b"35=D\x0134=%d\x0149=%s\x0156=ORDEX\x0152=%s\x0111=T%d\x01%s%s\x01"
                     % (i + 2, client.encode(), stamp, i, body, stamp))
        t0 = time.perf_counter_ns()
        s.sendall(msg)
        while True:
            data = s.recv(65536)
            if not data:
                raise RuntimeError("server closed the connection")
            chunk = tail + data
            if _ACK in chunk:
                t1 = time.perf_counter_ns()
                tail = b""
                break
            tail = chunk[-(len(_ACK) - 1):]
        if i >= warmup:
            times.append((t0, t1))
        time.sleep(0.0002)      # let trailing trade reports arrive before the next order
        s.setblocking(False)
        try:
            while s.recv(65536):
                pass
        except BlockingIOError:
            pass
        s.setblocking(True)
    s.close()
    return times


def analyse(times: list[tuple[int, int]], log: list) -> dict[str, list[float]]:
    """Per order: the server stamps after its send, as deltas (us) from the previous stamp;
    'client_send->recv' from the client's send, 'store_out->client_recv' from the store flush
    (just before the socket write) to the client's receive.  The write itself returns after
    the client has the ack (a loopback send runs the receiver's TCP stack and wakes it), so
    `sent` lies beyond the client's receive: 'store_out->sent' is the server's view of it."""
    log.sort(key=lambda e: e[1])
    deltas: dict[str, list[float]] = {}
    j = 0
    for n_order, (t0, t1) in enumerate(times):
        end = times[n_order + 1][0] if n_order + 1 < len(times) else t1 + 10**6
        while j < len(log) and log[j][1] < t0:
            j += 1
        # each stage: its first stamp after the previous stage's (a stage may also run
        # idle, e.g. the session's store flush after reading)
        seen: dict[str, int] = {}
        k = j
        for stage in STAGES:
            m = k
            while m < len(log) and log[m][1] < end and log[m][0] != stage:
                m += 1
            if m < len(log) and log[m][1] < end:
                seen[stage] = log[m][1]
                k = m + 1
        if "recv" not in seen or "store_out" not in seen or "sent" not in seen:
            continue
        prev_name, prev = "client_send", t0
        for name in STAGES[:STAGES.index("store_out") + 1]:
            if name in seen:
                deltas.setdefault(f"{prev_name}->{name}", []).append((seen[name] - prev) / 1e3)
                prev_name, prev = name, seen[name]
        deltas.setdefault("store_out->client_recv", []).append((t1 - seen["store_out"]) / 1e3)
        deltas.setdefault("(store_out->sent)", []).append((seen["sent"] - seen["store_out"]) / 1e3)
        deltas.setdefault("(recv->store_out: server)", []).append(
            (seen["store_out"] - seen["recv"]) / 1e3)
        deltas.setdefault("total", []).append((t1 - t0) / 1e3)
    return deltas


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--orders", type=int, default=2000)
    p.add_argument("--warmup", type=int, default=500)
    p.add_argument("--durability", default="none")
    p.add_argument("--serve", nargs=2, metavar=("CONFIG", "OUT"), help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.serve:
        return serve(*a.serve)
    from ordex.perf.fix_load import free_port
    with tempfile.TemporaryDirectory(prefix="fix-trace-") as d:
        port = free_port()
        cfg = Path(d) / "ordex.toml"
        cfg.write_text(fix_ordex.server_config(port, a.durability, 1))
        out = Path(d) / "stamps.json"
        logf = open(Path(d) / "server.log", "w")
        proc = subprocess.Popen([sys.executable, "-m", "ordex.perf.fix_trace", "--serve",
                                 str(cfg), str(out)], cwd=d, stdout=logf, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port)).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise RuntimeError((Path(d) / "server.log").read_text())
                    time.sleep(0.1)
            time.sleep(0.3)
            times = run_client(port, a.orders, a.warmup)
        finally:
            proc.terminate()
            proc.wait(30)
        deltas = analyse(times, json.loads(out.read_text()))
    print(f"{len(times)} orders, durability {a.durability}, load {os.getloadavg()[0]:.2f}")
    print(f"{'stage':<28}{'n':>6}{'p50 us':>9}{'p90 us':>9}{'p99 us':>9}")
    for name, v in deltas.items():
        v.sort()
        print(f"{name:<28}{len(v):>6}{statistics.median(v):>9.1f}{v[int(len(v) * .9)]:>9.1f}"
              f"{v[int(len(v) * .99)]:>9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
