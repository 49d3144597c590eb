"""The FIX load generator of `ordex perf fix` (perf/fix_loadgen.c, compiled at run time) and the
helpers every peer it drives shares: spec files, result parsing, background processes.

    binary = compile_loadgen(workdir)
    write_spec(workdir / "spec", [SessionSpec("CLIENT1", "ORDEX", order_tails)])
    with AckPeer(binary, workdir) as peer:                       # the generator's own ceiling
        result = run_load(binary, peer.port, workdir / "spec", "pipelined", seconds=2)
    result.throughput, result.latency_ns, result.complete
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SOURCE = Path(__file__).resolve().with_name("fix_loadgen.c")
MODES = ("closed", "pipelined", "open")
_SUMMARY = re.compile(r"(\w+)=(-?\d+)")
_GENERATED = ("8=", "9=", "10=", "11=", "34=", "35=", "49=", "52=", "56=")


class LoadError(RuntimeError):
    """The generator or a peer could not be built, started or run; the message says which."""


def compile_loadgen(workdir: Path, cc: str | None = None, source: Path = SOURCE) -> Path:
    """Compile fix_loadgen.c (or another one-file C program of perf/, `source`) into workdir;
    returns the executable."""
    if not source.exists():
        raise LoadError(f"{source} is missing (ordex perf needs the source tree: pip install -e .)")
    cc = cc or os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise LoadError(f"no C compiler found (set CC): {source.name} is compiled at run time")
    out = Path(workdir) / source.stem
    proc = subprocess.run([cc, "-O2", "-o", str(out), str(source)], capture_output=True, text=True)
    if proc.returncode:
        raise LoadError(f"compiling {source.name} failed:\n{proc.stderr.strip()}")
    return out


@dataclass(frozen=True)
class SessionSpec:
    """One FIX session of the generator: its CompIDs (as the client sends them) and the
    NewOrderSingle fields after ClOrdID that it cycles through, '|' for SOH, ending with
    "60=" (the generator appends TransactTime's value)."""
    sender: str
    target: str
    orders: tuple[str, ...]

    def __post_init__(self):
        for name in ("sender", "target"):
            v = getattr(self, name)
            if not v or not v.isprintable() or any(c in v for c in " =|"):
                raise ValueError(f"SessionSpec.{name} {v!r}: a printable CompID without spaces, "
                                 "'=' or '|' is needed")
        if not 1 <= len(self.orders) <= 4096:
            raise ValueError(f"SessionSpec {self.sender}: 1 to 4096 orders in the mix, not "
                             f"{len(self.orders)}")
        for o in self.orders:
            fields = o.split("|")
            if ("\n" in o or "\x01" in o or not o.endswith("60=")
                    or any(f.startswith(_GENERATED) for f in fields)):
                raise ValueError(f"SessionSpec {self.sender}: order {o!r} must be '|'-separated "
                                 "fields after ClOrdID ending with '60=' (the generator writes "
                                 "the header, ClOrdID and TransactTime's value)")


def write_spec(path: Path, sessions: list[SessionSpec]) -> Path:
    lines = []
    for s in sessions:
        lines.append(f"S {s.sender} {s.target}")
        lines += [f"O {o}" for o in s.orders]
    Path(path).write_text("\n".join(lines) + "\n")
    return Path(path)


@dataclass
class LoadResult:
    mode: str
    sessions: int
    sent: int
    acked: int
    rejected: int
    out_of_order: int
    errors: int
    window_acks: int
    window_ns: int
    latency_ns: np.ndarray          # round trip of each order sent in the measured window
    send_lag_ns: np.ndarray         # open loop: how late each order left after its due time
    stderr: str = ""

    @property
    def throughput(self) -> float:
        """Orders acknowledged per second during the measured window."""
        return self.window_acks * 1e9 / self.window_ns if self.window_ns > 0 else 0.0

    @property
    def complete(self) -> bool:
        """Every order sent was acknowledged, in order, with no session-level trouble."""
        return self.acked == self.sent and not self.errors and not self.out_of_order


def run_load(binary: Path, port: int, spec: Path, mode: str, seconds: float, *,
             warmup: float = 0.5, window: int = 200, rate: float = 10_000,
             id_prefix: str = "O", drain_s: float = 10.0, workdir: Path | None = None) -> LoadResult:
    """Run the generator once against 127.0.0.1:port; raises LoadError if it fails."""
    if mode not in MODES:
        raise ValueError(f"mode {mode!r}: one of {', '.join(MODES)}")
    workdir = Path(workdir or Path(spec).parent)
    out = workdir / f"latency-{id_prefix}-{mode}.bin"
    cmd = [str(binary), "client", "--port", str(port), "--spec", str(spec), "--mode", mode,
           "--seconds", str(seconds), "--warmup", str(warmup), "--window", str(window),
           "--rate", str(rate), "--id-prefix", id_prefix, "--drain", str(drain_s),
           "--out", str(out)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True,
                              timeout=seconds + warmup + drain_s + 30)
    except subprocess.TimeoutExpired:
        raise LoadError(f"the load generator did not finish: {' '.join(cmd)}") from None
    summary = dict((k, int(v)) for k, v in _SUMMARY.findall(proc.stdout))
    if proc.returncode or "sent" not in summary:
        raise LoadError(f"the load generator failed (exit {proc.returncode}): "
                        f"{proc.stderr.strip() or proc.stdout.strip()}")
    latency = np.fromfile(out, dtype=np.int64) if out.exists() else np.empty(0, np.int64)
    lag_path = Path(f"{out}.lag")
    lag = np.fromfile(lag_path, dtype=np.int64) if lag_path.exists() else np.empty(0, np.int64)
    for p in (out, lag_path):
        p.unlink(missing_ok=True)
    return LoadResult(mode=mode, sessions=summary["sessions"], sent=summary["sent"],
                      acked=summary["acked"], rejected=summary["rejected"],
                      out_of_order=summary["out_of_order"], errors=summary["errors"],
                      window_acks=summary["window_acks"], window_ns=summary["window_ns"],
                      latency_ns=latency, send_lag_ns=lag, stderr=proc.stderr.strip())


def free_port() -> int:
    """A TCP port free right now on 127.0.0.1 (for peers that must be told their port)."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Peer:
    """A background process the generator talks to, ready once `ready` (a regex) appears in
    its combined output, which goes to `log`.  A context manager; stop() sends SIGTERM, then
    SIGKILL after stop_timeout_s."""

    name = "peer"

    def __init__(self, cmd: list[str], log: Path, ready: str, *, cwd: Path | None = None,
                 start_timeout_s: float = 30.0, stop_timeout_s: float = 15.0):
        self.cmd, self.log, self.ready, self.cwd = cmd, Path(log), re.compile(ready), cwd
        self.start_timeout_s, self.stop_timeout_s = start_timeout_s, stop_timeout_s
        self.proc: subprocess.Popen | None = None
        self.match: re.Match | None = None
        self.returncode: int | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def start(self) -> Peer:
        with open(self.log, "wb") as f:
            self.proc = subprocess.Popen(self.cmd, stdout=f, stderr=subprocess.STDOUT, cwd=self.cwd,
                                         stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            text = self.log.read_text(errors="replace")
            self.match = self.ready.search(text)
            if self.match:
                return self
            if self.proc.poll() is not None:
                raise LoadError(f"{self.name} exited with {self.proc.returncode} before it was "
                                f"ready: {self.tail()}")
            time.sleep(0.02)
        self.stop()
        raise LoadError(f"{self.name} not ready within {self.start_timeout_s:.0f} s: {self.tail()}")

    def stop(self) -> int | None:
        if self.proc is None or self.returncode is not None:
            return self.returncode
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.returncode = self.proc.returncode
        return self.returncode

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> Peer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class AckPeer(Peer):
    """The generator's trivial acknowledging peer (fix_loadgen ackpeer): what the generator
    achieves against it is its ceiling on this machine."""

    name = "the trivial ack peer"

    def __init__(self, binary: Path, workdir: Path):
        super().__init__([str(binary), "ackpeer", "--port", "0"], Path(workdir) / "ackpeer.log",
                         r"port=(\d+)")

    @property
    def port(self) -> int:
        return int(self.match.group(1))
