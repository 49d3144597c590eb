"""`ordex perf all`: every component benchmark in one run, one report.

Runs book, engine, journal, fixcodec, feeds (and fix, binary when they are registered) with
short settings (--full: each benchmark's own defaults, tens of minutes), then writes to --out DIR:
    report.md                  machine, settings, every figure, the baselines side by side
    latency_<benchmark>.png    latency percentile curves (HdrHistogram style) of every sample set
    throughput_over_time.png   the engine's full path, throughput per 50 ms window
    <benchmark>.json           each benchmark's own report (DESIGN's benchmark format)
and, like every `ordex perf NAME`, prints a table and writes --json FILE; here result names are
prefixed with their benchmark (`engine.engine.exchange_core_mix.p99`).  A benchmark that fails is
reported as failed and the others still run.  perf/README.md explains how to read the report.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import shlex
import sys
import threading
import time
import traceback
from pathlib import Path

import numpy as np
import orjson

from ordex.perf.report import Report, machine

ORDER = ("book", "engine", "journal", "fixcodec", "feeds", "fix", "binary")
# Short settings: enough samples for p99, minutes rather than an hour for the whole set.
SHORT: dict[str, list[str]] = {
    "book": ["--commands", "200000", "--repeat", "3", "--ref-commands", "10000"],
    "engine": ["--commands", "200000", "--repeat", "3", "--ref-commands", "10000"],
    "journal": ["--records", "300000", "--repeat", "1", "--paced-seconds", "1",
                "--scan-records", "1000000", "--decode-records", "300000"],
    "fixcodec": ["--messages", "100000", "--simplefix-messages", "3000", "--repeat", "3"],
    "feeds": ["--messages", "300000", "--python-messages", "30000", "--repeat", "3"],
    "fix": ["--seconds", "1", "--warmup", "0.3"],
}
# benchmarks without SHORT settings get these options scaled down, when they have them
_SIZE_WORDS = ("messages", "commands", "records", "orders", "count")
_TIME_WORDS = ("seconds", "duration")
MAX_PLOT_SAMPLES = 200_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("perf-report"), metavar="DIR",
                        help="where report.md, the plots and per-benchmark JSON go")
    parser.add_argument("--only", default="", help="comma list of benchmarks to run")
    parser.add_argument("--skip", default="", help="comma list of benchmarks not to run")
    parser.add_argument("--full", action="store_true",
                        help="each benchmark's own default settings (long)")
    parser.add_argument("--options", action="append", default=[], metavar="NAME=ARGS",
                        help='options for one benchmark, e.g. book="--commands 50000"')
    parser.add_argument("--timeline-seconds", type=float, default=2.0,
                        help="length of the throughput-over-time run (0: none)")
    parser.add_argument("--timeline-commands", type=int, default=100_000,
                        help="size of the exchange-core mix the timeline run cycles through")
    parser.add_argument("--no-plots", action="store_true", help="Markdown and JSON only")


# -- selecting and configuring benchmarks ---------------------------------------------------------
def registered() -> dict[str, tuple[str, str]]:
    from ordex.perf.cli import BENCHMARKS
    return BENCHMARKS


def selection(args: argparse.Namespace, available: dict) -> list[str]:
    only = [n for n in args.only.split(",") if n]
    skip = {n for n in args.skip.split(",") if n}
    unknown = [n for n in only + sorted(skip) if n not in available and n != "all"]
    if unknown:
        raise SystemExit(f"ordex perf all: unknown benchmark(s) {', '.join(unknown)}; "
                         f"known: {', '.join(sorted(available))}")
    names = only or [n for n in ORDER if n in available]
    return [n for n in names if n not in skip and n != "all"]


def shrunk_defaults(parser: argparse.ArgumentParser) -> list[str]:
    """Options of an unknown benchmark scaled down: sizes / 10, durations / 4, repeat 1."""
    out = []
    for action in parser._actions:
        if not action.option_strings or action.default in (None, argparse.SUPPRESS):
            continue
        dest, default, flag = action.dest, action.default, action.option_strings[-1]
        if dest == "repeat" and isinstance(default, int):
            out += [flag, "1"]
        elif isinstance(default, int) and not isinstance(default, bool) and any(
                w in dest for w in _SIZE_WORDS):
            out += [flag, str(max(1, default // 10))]
        elif isinstance(default, float) and any(w in dest for w in _TIME_WORDS):
            out += [flag, str(default / 4)]
    return out


def bench_argv(name: str, parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[str]:
    overrides = {}
    for item in args.options:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"ordex perf all: --options needs NAME=ARGS, got {item!r}")
        overrides[key] = shlex.split(value)
    if name in overrides:
        return overrides[name]
    if args.full:
        return []
    return SHORT[name] if name in SHORT else shrunk_defaults(parser)


# -- capturing latency samples --------------------------------------------------------------------
@contextlib.contextmanager
def capture_samples(into: list):
    """Record every sample set a benchmark reports through Report.add_latency (the Report keeps
    only percentiles; the plots need the curve)."""
    original = Report.add_latency

    def add_latency(self, prefix, samples_ns, unit="ns"):
        s = np.asarray(samples_ns, dtype=np.float64)
        if len(s) > MAX_PLOT_SAMPLES:
            s = np.random.default_rng(0).choice(s, MAX_PLOT_SAMPLES, replace=False)
        into.append((prefix, unit, s / (1000.0 if unit == "us" else 1.0)))
        return original(self, prefix, samples_ns, unit)

    Report.add_latency = add_latency
    try:
        yield
    finally:
        Report.add_latency = original


# -- progress -------------------------------------------------------------------------------------
class Progress:
    """A one-line progress bar on a terminal (stderr), plain lines otherwise."""

    def __init__(self, total: int, stream=sys.stderr):
        self.total, self.stream = total, stream
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.done = 0
        self.name = ""
        self.t0 = self.started = time.monotonic()
        self._stop = threading.Event()
        self._thread = None

    def _line(self) -> str:
        width = 24
        filled = width * self.done // max(self.total, 1)
        return (f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} "
                f"{self.name:<10} {time.monotonic() - self.t0:6.1f} s  "
                f"(total {time.monotonic() - self.started:6.1f} s)")

    def _tick(self) -> None:
        while not self._stop.wait(0.5):
            self.stream.write(self._line())
            self.stream.flush()

    def begin(self, name: str) -> None:
        self.name, self.t0 = name, time.monotonic()
        if self.tty:
            if self._thread is None:
                self._thread = threading.Thread(target=self._tick, daemon=True)
                self._thread.start()
        else:
            self.stream.write(f"[{self.done + 1}/{self.total}] {name} ...\n")
            self.stream.flush()

    def end(self, status: str) -> None:
        self.done += 1
        elapsed = time.monotonic() - self.t0
        self.stream.write(("\r" + " " * 78 + "\r" if self.tty else "")
                          + f"[{self.done}/{self.total}] {self.name}: {status} in {elapsed:.1f} s\n")
        self.stream.flush()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


# -- throughput over time -------------------------------------------------------------------------
def engine_timeline(seconds: float, commands: int = 100_000, window_s: float = 0.05
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(window end s, commands/s) of the engine's full path on the exchange-core mix, replayed
    on a fresh engine each time the mix runs out (generating the mix is slower than running it)."""
    from ordex.perf import engine as eng_bench
    _, setup, main = eng_bench.prepare(commands, seed=7)
    engine = eng_bench.fresh_engine(setup)
    chunk = eng_bench.CHUNK
    clock = time.perf_counter
    ends, rates = [], []
    t0 = clock()
    busy, count, pos = 0.0, 0, 0
    # At least one whole window, however slow the machine: the untimed rebuilds can take most
    # of a short run's wall time on a loaded machine.
    while clock() - t0 < seconds or not rates:
        if pos >= len(main):          # rebuilding the book is not engine work: not timed
            engine, pos = eng_bench.fresh_engine(setup), 0
        t = clock()
        engine.apply(main[pos:pos + chunk])
        engine.clear_events()
        busy += clock() - t
        count += len(main[pos:pos + chunk])
        pos += chunk
        if busy >= window_s:
            ends.append(clock() - t0)
            rates.append(count / busy)
            busy, count = 0.0, 0
    return np.array(ends), np.array(rates)


# -- plots ----------------------------------------------------------------------------------------
def plot_latency(path: Path, title: str, sets: list) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ticks = np.array([0.0, 0.5, 0.9, 0.99, 0.999, 0.9999])
    top = 0.9999
    colours = plt.cm.tab20(np.linspace(0, 1, 20))     # more series than the default 10 colours
    for n, (prefix, unit, s) in enumerate(sets):
        if not len(s):
            continue
        s = np.sort(s)
        q = (np.arange(1, len(s) + 1) - 0.5) / len(s)
        keep = q <= top
        ax.plot(1 / (1 - q[keep]), s[keep], label=f"{prefix} ({unit})", color=colours[n % 20],
                linestyle=("-", "--", ":")[n // 20 % 3])
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(1 / (1 - ticks))
    ax.set_xticklabels([f"{t * 100:g}%" for t in ticks])
    ax.set_xlabel("percentile")
    ax.set_ylabel("latency")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_timeline(path: Path, ends: np.ndarray, rates: np.ndarray) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.plot(ends, rates / 1e6)
    ax.set_xlabel("seconds")
    ax.set_ylabel("million commands/s")
    ax.set_title("engine full path, exchange-core mix: throughput per 50 ms of engine work")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- the report -----------------------------------------------------------------------------------
def _fmt(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.3f}"


def markdown(m: dict, reports: dict[str, Report], failed: dict[str, str], argvs: dict,
             plots: dict[str, str], timeline: tuple | None, elapsed_s: float) -> str:
    v = m.get("versions", {})
    # journal and fix name their results after the durability mode they ran in
    durability = sorted({"fsync", "batch", "none"} & {r["name"].split(".")[0]
                                                      for b, rep in reports.items()
                                                      if b in ("journal", "fix")
                                                      for r in rep.results})
    lines = ["# ordex performance report", "",
             f"Run {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}, "
             f"{elapsed_s:.0f} s in all.", "", "## Machine", "",
             "| | |", "|---|---|",
             f"| CPU | {m['cpu']} |", f"| cores | {m['cores']} |", f"| Python | {m['python']} |",
             f"| platform | {m['platform']} |"]
    lines += [f"| {pkg} | {ver} |" for pkg, ver in v.items()]
    lines += [f"| journal durability modes | {', '.join(durability) or 'not measured (no journal or fix run)'} |",
              ""]
    baselines = [(b, r) for b, rep in reports.items() for r in rep.results
                 if "ratio_vs_" in r["name"]]
    lines += ["## Baselines side by side", "",
              "Each ratio is ordex's figure over the baseline's in the same run (higher: ordex "
              "faster).", "", "| benchmark | comparison | ratio |", "|---|---|---:|"]
    lines += [f"| {b} | {r['name']} | {r['value']:.2f} |" for b, r in baselines]
    if not baselines:
        lines.append("| | none measured | |")
    lines.append("")
    if timeline is not None and len(timeline[1]):
        rates = timeline[1]
        lines += ["## Throughput over time", "",
                  f"Engine full path: median {_fmt(float(np.median(rates)))} /s, lowest 50 ms "
                  f"window {_fmt(float(rates.min()))} /s over {len(rates)} windows.", "",
                  "![throughput over time](throughput_over_time.png)", ""]
    for name, rep in reports.items():
        command = " ".join(["ordex perf", name] + argvs.get(name, []))
        lines += [f"## {name}", "", f"`{command}`", ""]
        if rep.settings:
            lines.append("Settings: " + "; ".join(f"{k} = {val}" for k, val in rep.settings.items()
                                                 if not isinstance(val, (list, dict))))
            lines.append("")
        lines += ["| result | value | unit |", "|---|---:|---|"]
        lines += [f"| {r['name']} | {_fmt(r['value'])} | {r['unit']} |" for r in rep.results]
        lines.append("")
        if name in plots:
            lines += [f"![{name} latency]({plots[name]})", ""]
    if failed:
        lines += ["## Failed", ""]
        for name, why in failed.items():
            lines += [f"### {name}", "", "```", why.strip(), "```", ""]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> Report:
    available = registered()
    names = selection(args, available)
    args.out.mkdir(parents=True, exist_ok=True)
    combined = Report("all", settings={"benchmarks": ",".join(names),
                                       "mode": "full" if args.full else "short",
                                       "out": str(args.out)})
    reports: dict[str, Report] = {}
    failed: dict[str, str] = {}
    samples: dict[str, list] = {}
    argvs: dict[str, list[str]] = {}
    total = len(names) + (1 if args.timeline_seconds > 0 else 0)
    progress = Progress(total)
    started = time.monotonic()
    try:
        for name in names:
            progress.begin(name)
            module_name, help_text = available[name]
            try:
                module = importlib.import_module(module_name)
                parser = argparse.ArgumentParser(prog=f"ordex perf {name}", description=help_text,
                                                 exit_on_error=False)
                module.add_arguments(parser)
                argv = argvs[name] = bench_argv(name, parser, args)
                bench_args = parser.parse_args(argv)
                sets: list = []
                with capture_samples(sets):
                    rep = module.run(bench_args)
            except (Exception, SystemExit) as e:       # argparse exits on bad options
                failed[name] = "".join(traceback.format_exception_only(type(e), e))
                if not isinstance(e, SystemExit):
                    failed[name] += traceback.format_exc(limit=-3)
                progress.end("FAILED")
                continue
            reports[name], samples[name] = rep, sets
            rep.write_json(str(args.out / f"{name}.json"))
            for r in rep.results:
                combined.add(f"{name}.{r['name']}", r["unit"], r["value"])
            combined.settings[f"{name}.options"] = " ".join(argv)
            progress.end("done")
        timeline = None
        if args.timeline_seconds > 0:
            progress.begin("timeline")
            timeline = engine_timeline(args.timeline_seconds, args.timeline_commands)
            if len(timeline[1]):
                combined.add("timeline.engine.throughput_median", "/s",
                             float(np.median(timeline[1])))
                combined.add("timeline.engine.throughput_min", "/s", float(timeline[1].min()))
            progress.end("done")
    finally:
        progress.close()
    plots: dict[str, str] = {}
    if not args.no_plots:
        for name, sets in samples.items():
            if sets:
                plots[name] = f"latency_{name}.png"
                plot_latency(args.out / plots[name], f"ordex perf {name}: latency percentiles",
                             sets)
        if timeline is not None and len(timeline[1]):
            plot_timeline(args.out / "throughput_over_time.png", *timeline)
    if failed:
        combined.settings["failed"] = ",".join(failed)
    text = markdown(machine(), reports, failed, argvs, plots, timeline,
                    time.monotonic() - started)
    (args.out / "report.md").write_text(text)
    (args.out / "all.json").write_bytes(orjson.dumps(combined.as_dict(), option=orjson.OPT_INDENT_2))
    print(f"ordex perf all: report in {args.out / 'report.md'}"
          + (f"; FAILED: {', '.join(failed)}" if failed else ""), file=sys.stderr)
    return combined

