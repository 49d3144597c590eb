"""`ordex perf fix`: order -> acknowledgement over FIX 4.4, end to end, against `ordex serve` in
its own process at each durability mode, against a QuickFIX C++ acceptor, and against a trivial
C acknowledging peer that shows what the load generator itself can do.

The generator (perf/fix_loadgen.c) is C, compiled at run time; each run reads its samples back.
An order counts as acknowledged at its first ExecutionReport with ExecType New (or Rejected).

Workloads, each on fresh FIX connections (ResetSeqNumFlag=Y), one session unless stated:
  closed_loop       one order outstanding: round trip order -> ack
  pipelined         --window orders outstanding (default 1000), topped up as acks arrive.
                    Durable modes hold each ack until its journal sync, so by Little's law one
                    session shows at most window / (ack latency) orders/s: in batch mode (a
                    sync every --batch-interval-ms = 2) a window of 200 caps it near
                    200 / 2 ms = 100k/s whatever the server's capacity, and an ack waits 2-3 ms
                    (the interval plus the write), so 1000 outstanding orders allow 300k-500k/s:
                    enough to show the server's throughput rather than the window's.  A real
                    pipelining client keeps that many in flight; --window 200 shows the smaller
                    client's ceiling
  open_loop         a fixed schedule of --rate orders/s (default: --rate-fraction of the same
                    server's pipelined throughput); latency counts from each order's intended
                    send time, so stalls are charged to every order they delay
  pipelined_multi   --sessions sessions, each pipelined

Reported (latencies in us; HdrHistogram-style percentiles computed from every sample):
  MODE.WORKLOAD.throughput / p50 / p99 / p999 / max     MODE: fsync, batch, none (ordex)
  MODE.pipelined.ratio_vs_quickfix                      ordex pipelined / QuickFIX pipelined
  quickfix.WORKLOAD.*                                   the QuickFIX acceptor (FileStore)
  generator.ceiling.throughput, generator.ceiling_multi.throughput,
  generator.closed_loop.*                               the generator against the trivial peer
The issue's targets are listed under the results (met or not); nothing is asserted.

Orders (perf/fix_ordex.py): limit orders cycling around a mid per session on its own
instrument, half of them crossing, so that the book stays bounded; ordex sends 2 ExecutionReports
per order on average (New, and a Trade per side of each fill); the QuickFIX acceptor and the
trivial peer send one (New) and do no matching.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from ordex.perf import fix_load, fix_ordex, fix_quickfix
from ordex.perf.fix_load import AckPeer, LoadError, LoadResult, free_port, run_load, write_spec
from ordex.perf.report import Report, percentiles_ns

DURABILITY = ("fsync", "batch", "none")
WORKLOADS = ("closed_loop", "pipelined", "open_loop", "pipelined_multi")
_GEN_MODE = {"closed_loop": "closed", "pipelined": "pipelined", "open_loop": "open",
             "pipelined_multi": "pipelined"}
SKIPPABLE = frozenset(("quickfix", "ceiling") + WORKLOADS)
# ClOrdID prefix per workload: every ClOrdID of a server's lifetime is unique per session.
_PREFIX = {"closed_loop": "C", "pipelined": "P", "open_loop": "O", "pipelined_multi": "M"}

# (result, comparison, goal, unit): the targets, reported, never asserted
TARGETS = (
    ("batch.closed_loop.p50", "<=", 40.0, "us"),
    ("batch.closed_loop.p99", "<=", 100.0, "us"),
    ("none.closed_loop.p50", "<=", 40.0, "us"),
    ("none.closed_loop.p99", "<=", 100.0, "us"),
    ("batch.pipelined.throughput", ">=", 200_000.0, "/s"),
    ("fsync.pipelined.throughput", ">=", 100_000.0, "/s"),
    ("batch.pipelined.ratio_vs_quickfix", ">=", 3.0, ""),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=float, default=2.0,
                        help="measured seconds per workload (default 2)")
    parser.add_argument("--warmup", type=float, default=0.5,
                        help="seconds of each workload not measured (default 0.5)")
    parser.add_argument("--window", type=int, default=1000,
                        help="orders outstanding per session when pipelined (default 1000: "
                             "enough to cover a batch-mode sync interval, see above)")
    parser.add_argument("--sessions", type=int, default=4,
                        help="FIX sessions of pipelined_multi (default 4; 1 skips it)")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="open-loop orders/s (default: --rate-fraction of the pipelined "
                             "throughput of the same server)")
    parser.add_argument("--rate-fraction", type=float, default=0.25,
                        help="open-loop rate as a fraction of the pipelined throughput (default "
                             "0.25: one order per loop iteration costs ordex about twice what a "
                             "pipelined one does, so 0.5 already saturates it)")
    parser.add_argument("--modes", default="fsync,batch,none",
                        help="ordex durability modes to run (default fsync,batch,none)")
    parser.add_argument("--batch-interval-ms", type=int, default=2,
                        help="[journal] batch_interval_ms of the batch mode (default 2)")
    parser.add_argument("--skip", default="",
                        help="comma list of parts to skip: quickfix, ceiling, closed_loop, "
                             "pipelined, open_loop, pipelined_multi")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run everything N times and report the median of each result "
                             "(default 1)")
    parser.add_argument("--dir", type=Path, default=None,
                        help="work directory, kept afterwards (default: a temporary one, removed)")
    parser.add_argument("--profile", type=Path, default=None, metavar="DIR",
                        help="sample each ordex server with py-spy during its closed_loop and "
                             "pipelined runs: flame graphs DIR/ordex-MODE-WORKLOAD.svg")
    parser.add_argument("--profile-format", choices=("flamegraph", "raw"), default="flamegraph",
                        help="raw: collapsed stacks with native frames, DIR/ordex-MODE-WORKLOAD"
                             ".txt, one 'frame;frame;... count' line per stack (for scripts)")


class FixReport(Report):
    """A Report that also lists the issue's targets under its results."""

    def evaluate_targets(self) -> None:
        rows = []
        for name, op, goal, unit in TARGETS:
            try:
                value = self.get(name)
            except KeyError:
                rows.append({"target": f"{name} {op} {goal:g} {unit}".strip(), "value": None,
                             "met": None})
                continue
            met = value <= goal if op == "<=" else value >= goal
            rows.append({"target": f"{name} {op} {goal:g} {unit}".strip(), "value": value,
                         "met": met})
        self.settings["targets"] = rows

    def table(self) -> str:
        targets = self.settings.get("targets", [])
        shown = Report(self.benchmark, {k: v for k, v in self.settings.items() if k != "targets"},
                       self.results)
        lines = [shown.table(), "  targets (reported, not asserted):"]
        for t in targets:
            if t["met"] is None:
                state, value = "not run", ""
            else:
                state = "met" if t["met"] else "MISSED"
                value = f"{t['value']:,.1f}" if abs(t["value"]) >= 100 else f"{t['value']:,.3f}"
            lines.append(f"    {t['target']:<48} {state:>7}  {value}")
        return "\n".join(lines)


def _record(report: Report, prefix: str, r: LoadResult, latency: bool = True) -> None:
    report.add(f"{prefix}.throughput", "/s", r.throughput)
    if latency and len(r.latency_ns):
        report.add_latency(prefix, r.latency_ns, unit="us")


def _check(where: str, r: LoadResult, problems: list[str]) -> None:
    """A run in which the peer broke the protocol measures nothing: stop.  Rejects are answers
    (counted as acknowledged) but mean the risk configuration is wrong: noted."""
    if not r.complete:
        raise LoadError(f"{where}: {r.acked} of {r.sent} orders acknowledged, "
                        f"{r.out_of_order} out of order, {r.errors} errors: {r.stderr}")
    if not len(r.latency_ns):
        raise LoadError(f"{where}: no order was measured (is --seconds too short?)")
    if r.rejected:
        problems.append(f"{where}: {r.rejected} of {r.sent} orders rejected")


class _Profiler:
    def __init__(self, pid: int, out: Path, seconds: float, raw: bool = False):
        self.out = out
        self.proc = None
        exe = shutil.which("py-spy")
        if exe is None:
            self.error = "py-spy is not installed"
            return
        self.error = None
        out.parent.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [exe, "record", "--pid", str(pid), "--duration", str(max(1, int(seconds))),
             "--rate", "500", "-o", str(out)]
            # native frames need the process paused while sampled: slower, and more to see
            + (["--format", "raw", "--native"] if raw else ["--nonblocking"]),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def finish(self) -> str | None:
        if self.proc is None:
            return self.error
        text = self.proc.communicate(timeout=60)[0].decode(errors="replace")
        if self.proc.returncode:
            return f"py-spy failed: {text.strip()[-300:]}"
        return None


class _Bench:
    def __init__(self, args: argparse.Namespace, work: Path, report: Report, binary: Path,
                 problems: list[str]):
        self.args, self.work, self.report, self.binary = args, work, report, binary
        work.mkdir(parents=True, exist_ok=True)
        self.skip = {s.strip() for s in args.skip.split(",") if s.strip()}
        self.problems = problems
        self.spec1 = write_spec(work / "spec-1", fix_ordex.session_specs(1))
        self.specn = write_spec(work / f"spec-{args.sessions}", fix_ordex.session_specs(args.sessions))

    def wanted(self, workload: str) -> bool:
        return workload not in self.skip and (workload != "pipelined_multi" or self.args.sessions > 1)

    def load(self, port: int, workload: str, rate: float = 0.0) -> LoadResult:
        a = self.args
        spec = self.specn if workload == "pipelined_multi" else self.spec1
        return run_load(self.binary, port, spec, _GEN_MODE[workload], a.seconds, warmup=a.warmup,
                        window=a.window, rate=rate or 1.0, id_prefix=_PREFIX[workload],
                        workdir=self.work)

    def ceiling(self) -> None:
        with AckPeer(self.binary, self.work) as peer:
            for workload, name in (("closed_loop", "generator.closed_loop"),
                                   ("pipelined", "generator.ceiling"),
                                   ("pipelined_multi", "generator.ceiling_multi")):
                if workload == "pipelined_multi" and self.args.sessions <= 1:
                    continue
                r = self.load(peer.port, workload)
                _check(f"trivial peer {workload}", r, self.problems)
                _record(self.report, name, r, latency=workload == "closed_loop")

    def quickfix(self, binary: Path) -> float | None:
        work = self.work / "quickfix"
        work.mkdir()
        clients = [c for c, _, _ in fix_ordex.session_names(max(1, self.args.sessions))]
        with fix_quickfix.QuickFixAcceptor(binary, work, free_port(), clients) as qf:
            for workload in ("closed_loop", "pipelined", "pipelined_multi"):
                if self.wanted(workload):
                    r = self.load(qf.port, workload)
                    _check(f"quickfix {workload}", r, self.problems)
                    _record(self.report, f"quickfix.{workload}", r)
        try:
            return self.report.get("quickfix.pipelined.throughput")
        except KeyError:
            return None

    def ordex(self, mode: str, quickfix_tput: float | None) -> None:
        a = self.args
        server = fix_ordex.OrdexServer(self.work / f"ordex-{mode}", free_port(), mode,
                                       max(1, a.sessions), batch_interval_ms=a.batch_interval_ms)
        with server:
            for workload in WORKLOADS:
                if not self.wanted(workload):
                    continue
                rate = 0.0
                if workload == "open_loop":
                    rate = a.rate or self._open_rate(mode)
                    if not rate:
                        continue
                    self.report.settings[f"{mode}.open_loop.rate"] = round(rate)
                profiler = None
                if a.profile and workload in ("closed_loop", "pipelined"):
                    raw = a.profile_format == "raw"
                    profiler = _Profiler(server.pid, a.profile / f"ordex-{mode}-{workload}."
                                         f"{'txt' if raw else 'svg'}", a.seconds, raw)
                r = self.load(server.port, workload, rate)
                if profiler is not None:
                    err = profiler.finish()
                    if err:
                        self.problems.append(f"profile of {mode}: {err}")
                _check(f"ordex {mode} {workload}", r, self.problems)
                _record(self.report, f"{mode}.{workload}", r)
                if workload == "open_loop" and len(r.send_lag_ns):
                    lag = percentiles_ns(r.send_lag_ns)
                    self.report.settings[f"{mode}.open_loop.generator_lateness_p99_us"] = round(
                        lag["p99"] / 1000, 1)
        if server.returncode:
            self.problems.append(f"ordex serve ({mode}) exited with {server.returncode}: "
                                 f"{server.tail(5)}")
        if quickfix_tput:
            try:
                ours = self.report.get(f"{mode}.pipelined.throughput")
            except KeyError:
                return
            self.report.add(f"{mode}.pipelined.ratio_vs_quickfix", "", ours / quickfix_tput)

    def _open_rate(self, mode: str) -> float:
        try:
            return self.args.rate_fraction * self.report.get(f"{mode}.pipelined.throughput")
        except KeyError:
            self.problems.append(f"{mode} open_loop not run: give --rate (pipelined was skipped)")
            return 0.0


def run(args: argparse.Namespace) -> Report:
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = [m for m in modes if m not in DURABILITY]
    if bad:
        raise SystemExit(f"ordex perf fix: --modes: unknown {', '.join(bad)} "
                         f"(use {', '.join(DURABILITY)})")
    skip = {x.strip() for x in args.skip.split(",") if x.strip()}
    if skip - SKIPPABLE:
        raise SystemExit(f"ordex perf fix: --skip: unknown {', '.join(sorted(skip - SKIPPABLE))} "
                         f"(use {', '.join(sorted(SKIPPABLE))})")
    if (args.seconds <= 0 or args.warmup < 0 or args.window < 1 or args.repeat < 1
            or not 1 <= args.sessions <= 256):
        raise SystemExit("ordex perf fix: --seconds > 0, --warmup >= 0, --window >= 1, "
                         "--repeat >= 1, --sessions 1..256")
    report = FixReport("fix", settings={
        "generator": "perf/fix_loadgen.c (C, epoll, coalesced writes), compiled at run time",
        "server": "ordex serve --config (generated), its own process, uvloop",
        "orders": "FIX 4.4 NewOrderSingle limit orders, cycle of 8 around a mid, half crossing",
        "seconds": args.seconds, "warmup": args.warmup, "window": args.window,
        "sessions_multi": args.sessions, "batch_interval_ms": args.batch_interval_ms,
        "repeat": args.repeat, "loadavg_1m_at_start": round(os.getloadavg()[0], 2),
    })
    work = args.dir or Path(tempfile.mkdtemp(prefix="ordex-perf-fix-"))
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    problems: list[str] = []
    runs: list[Report] = []
    try:
        binary = fix_load.compile_loadgen(work)
        quickfix = None
        if "quickfix" not in skip:
            try:
                quickfix = fix_quickfix.compile_acceptor(work)
                report.settings["quickfix"] = (f"libquickfix-dev {fix_quickfix.version() or '?'}, "
                                               "SocketAcceptor, FileStore, FIX44.xml validation")
            except fix_quickfix.QuickFixUnavailable as e:
                problems.append(f"QuickFIX baseline not run: {e}")
        for i in range(args.repeat):
            one = Report("fix")
            bench = _Bench(args, work / f"run{i + 1}", one, binary, problems)
            if "ceiling" not in bench.skip:
                bench.ceiling()
            quickfix_tput = bench.quickfix(quickfix) if quickfix else None
            for mode in modes:
                bench.ordex(mode, quickfix_tput)
            runs.append(one)
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)
    _merge(report, runs)
    report.settings["elapsed_s"] = round(time.monotonic() - t0, 1)
    if problems:
        report.settings["problems"] = sorted(set(problems))
    report.evaluate_targets()
    return report


def _merge(report: Report, runs: list[Report]) -> None:
    """Each result is the median of the runs; a setting that differs between runs (such as a
    derived open-loop rate) is listed per run."""
    for r in runs[0].results:
        values = [x["value"] for run in runs for x in run.results if x["name"] == r["name"]]
        report.add(r["name"], r["unit"], statistics.median(values))
    for key in runs[0].settings:
        values = [run.settings.get(key) for run in runs]
        report.settings[key] = values[0] if all(v == values[0] for v in values) else values
