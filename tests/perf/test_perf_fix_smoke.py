"""`ordex perf fix` in miniature: the C load generator against `ordex serve` in its own process,
against its trivial ack peer and against the QuickFIX acceptor; the report's shape; every order
acknowledged; coordinated-omission correction; bad input.  No timing assertions: the numbers
belong to the benchmark."""
import argparse
import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from ordex.perf import fix as perf_fix
from ordex.perf import fix_load, fix_ordex, fix_quickfix
from ordex.perf.fix_load import AckPeer, LoadError, SessionSpec, free_port, run_load, write_spec

QUICKFIX_HEADERS = Path("/usr/include/quickfix/Application.h")


@pytest.fixture(scope="module")
def binary(tmp_path_factory):
    return fix_load.compile_loadgen(tmp_path_factory.mktemp("loadgen"))


def parse_args(*argv):
    parser = argparse.ArgumentParser()
    perf_fix.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_generator_against_ordex_serve_every_order_acknowledged(binary, tmp_path):
    spec = write_spec(tmp_path / "spec", fix_ordex.session_specs(2))
    with fix_ordex.OrdexServer(tmp_path / "srv", free_port(), "batch", 2) as server:
        results = [run_load(binary, server.port, spec, mode, 0.3, warmup=0.1, window=50,
                            rate=500, id_prefix=prefix)
                   for mode, prefix in (("closed", "C"), ("pipelined", "P"), ("open", "O"))]
    assert server.returncode == 0, server.tail()
    for r in results:
        assert r.sessions == 2
        assert r.sent > 0 and r.acked == r.sent, r
        assert r.rejected == 0 and r.out_of_order == 0 and r.errors == 0, r.stderr
        assert len(r.latency_ns) > 0 and (r.latency_ns > 0).all()
        assert r.window_acks > 0 and r.throughput > 0
    assert len(results[2].send_lag_ns) == len(results[2].latency_ns)


def test_report_shape(tmp_path):
    args = parse_args("--seconds", "0.3", "--warmup", "0.1", "--modes", "none", "--sessions", "2",
                      "--window", "50", "--skip", "quickfix", "--dir", str(tmp_path / "work"))
    report = perf_fix.run(args)
    names = {r["name"] for r in report.results}
    for prefix in ("none.closed_loop", "none.pipelined", "none.open_loop", "none.pipelined_multi",
                   "generator.closed_loop"):
        for metric in ("throughput", "p50", "p99", "p999", "max"):
            assert f"{prefix}.{metric}" in names
    assert {"generator.ceiling.throughput", "generator.ceiling_multi.throughput"} <= names
    assert all(r["unit"] == "us" for r in report.results if r["name"].endswith(".p50"))
    assert "problems" not in report.settings, report.settings["problems"]
    targets = {t["target"]: t for t in report.settings["targets"]}
    assert targets["none.closed_loop.p50 <= 40 us"]["met"] in (True, False)
    assert targets["batch.pipelined.throughput >= 200000 /s"]["met"] is None    # batch not run
    assert "targets (reported, not asserted)" in report.table()
    report.write_json(tmp_path / "fix.json")
    doc = json.loads((tmp_path / "fix.json").read_text())
    assert doc["benchmark"] == "fix" and doc["results"] and doc["settings"]["targets"]
    assert (tmp_path / "work" / "run1" / "ordex-none" / "ordex.toml").exists()   # --dir is kept


@pytest.mark.skipif(not QUICKFIX_HEADERS.exists(), reason="libquickfix-dev is not installed")
def test_quickfix_acceptor_acknowledges_every_order(binary, tmp_path):
    acceptor = fix_quickfix.compile_acceptor(tmp_path)
    spec = write_spec(tmp_path / "spec", fix_ordex.session_specs(1))
    with fix_quickfix.QuickFixAcceptor(acceptor, tmp_path, free_port(), ["CLIENT1"]) as qf:
        r = run_load(binary, qf.port, spec, "pipelined", 0.3, warmup=0.1, window=50)
    assert r.complete and r.rejected == 0 and r.acked > 0, r.stderr
    assert any((tmp_path / "store").iterdir())          # it kept a FileStore


def _stall(cmdline_part: str, after_s: float, for_s: float) -> None:
    """Find the process whose command line contains cmdline_part, stop it for for_s."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if cmdline_part.encode() in cmd and b"client" in cmd:
                time.sleep(after_s)
                os.kill(int(pid), signal.SIGSTOP)
                time.sleep(for_s)
                os.kill(int(pid), signal.SIGCONT)
                return
        time.sleep(0.01)


def test_open_loop_charges_a_stall_to_every_order_it_delays(binary, tmp_path):
    """The generator itself is stopped for 0.4 s in the middle of an open-loop run at 2,000
    orders/s: about 800 orders fall due meanwhile and leave late.  Measured from their intended
    send times, each is charged its wait (hundreds of them 0.1 s or more); measured from the
    moment they left, none would be."""
    spec = write_spec(tmp_path / "stalled-spec", fix_ordex.session_specs(1))
    with AckPeer(binary, tmp_path) as peer:
        staller = threading.Thread(target=_stall, args=(str(spec), 0.6, 0.4))
        staller.start()
        try:
            r = run_load(binary, peer.port, spec, "open", 1.5, warmup=0.1, rate=2000)
        finally:
            staller.join()
    assert r.complete
    assert len(r.latency_ns) == len(r.send_lag_ns)
    assert (r.send_lag_ns >= 100_000_000).sum() >= 200          # they did leave late
    assert (r.latency_ns >= r.send_lag_ns).all()                # and each round trip includes it
    assert (r.latency_ns >= 100_000_000).sum() >= 200


def test_bad_session_specs_are_refused():
    with pytest.raises(ValueError, match="sender"):
        SessionSpec("CLIENT 1", "ORDEX", ("55=X|60=",))
    with pytest.raises(ValueError, match="1 to 4096 orders"):
        SessionSpec("CLIENT1", "ORDEX", ())
    with pytest.raises(ValueError, match="ending with '60='"):
        SessionSpec("CLIENT1", "ORDEX", ("55=X|54=1",))
    with pytest.raises(ValueError, match="ClOrdID"):
        SessionSpec("CLIENT1", "ORDEX", ("11=mine|55=X|60=",))


def test_bad_configuration_requests_are_refused(tmp_path):
    with pytest.raises(ValueError, match="durability 'fast'"):
        fix_ordex.server_config(9000, "fast", 1)
    with pytest.raises(ValueError, match="sessions = 0"):
        fix_ordex.server_config(9000, "none", 0)
    with pytest.raises(ValueError, match="mode 'burst'"):
        run_load(Path("/bin/true"), 1, tmp_path / "spec", "burst", 1)
    with pytest.raises(SystemExit, match="unknown fast"):
        perf_fix.run(parse_args("--modes", "none,fast"))
    with pytest.raises(SystemExit, match="--skip: unknown quickfx"):
        perf_fix.run(parse_args("--skip", "quickfx"))
    with pytest.raises(SystemExit, match="--sessions 1..256"):
        perf_fix.run(parse_args("--sessions", "0"))


def test_generator_failures_are_reported_not_swallowed(binary, tmp_path):
    bad = tmp_path / "bad-spec"
    bad.write_text("S CLIENT1 ORDEX\nX what is this\n")
    with pytest.raises(LoadError, match="bad line: X what is this"):
        run_load(binary, 1, bad, "closed", 0.1)
    spec = write_spec(tmp_path / "spec", fix_ordex.session_specs(1))
    with pytest.raises(LoadError, match="connect to port"):
        run_load(binary, free_port(), spec, "closed", 0.1)
    with pytest.raises(LoadError, match="id-prefix"):
        run_load(binary, 1, spec, "closed", 0.1, id_prefix="A1")


def test_a_server_that_cannot_start_is_reported(tmp_path):
    port = free_port()
    import socket
    with socket.socket() as squatter:           # the port is taken: ordex serve exits
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        server = fix_ordex.OrdexServer(tmp_path, port, "none", 1)
        t0 = time.monotonic()
        with pytest.raises(LoadError, match="ordex serve exited"):
            server.start()
    assert time.monotonic() - t0 < 30
