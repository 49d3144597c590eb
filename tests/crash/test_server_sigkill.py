"""Nothing acknowledged is ever lost: `ordex serve` (fsync durability) under a stream of FIX orders
is killed with SIGKILL at random moments, 20 times, and restarted each time.  Afterwards the
journal is replayed from scratch: every ExecutionReport any client ever received must be in the
replayed event stream with the same content, no execution appears twice, and the restarted server
recovers to exactly the replayed state."""
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time

import simplefix

from ordex.core.events import EventKind
from ordex.core.journal import read_journal
from ordex.core.sequencer import replay
from ordex.ext.engine import Engine
from ordex.gateway import config as config_mod

KILLS = 20
SOH = b"\x01"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    """A blocking FIX initiator on simplefix; logs on with ResetSeqNumFlag so that it does not
    depend on what the killed server's session store kept."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.parser = simplefix.FixParser()
        self.seq = 1

    def send(self, msg_type, fields):
        m = simplefix.FixMessage()
        for tag, value in ((8, "FIX.4.4"), (35, msg_type), (49, "CLIENT1"), (56, "ORDEX"),
                           (34, self.seq)):
            m.append_pair(tag, value)
        m.append_utc_timestamp(52)
        for tag, value in fields:
            m.append_pair(tag, value)
        self.seq += 1
        self.sock.sendall(m.encode())

    def messages(self, timeout: float):
        """Messages that arrive within timeout; stops early when the connection dies."""
        out = []
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except (socket.timeout, ConnectionError):
            data = b""
        if data:
            self.parser.append_buffer(data)
        while (m := self.parser.get_message()) is not None:
            out.append(m)
        return out, bool(data)


def exec_reports(messages):
    for m in messages:
        if m.get(35) == b"8":
            yield {int(t): v for t, v in m.pairs}


def start_server(cfg_path, workdir):
    return subprocess.Popen([sys.executable, "-m", "ordex.gateway.cli", "serve", "--config",
                             str(cfg_path)], cwd=workdir, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)


def wait_listening(port, proc, timeout=30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        assert proc.poll() is None, proc.stdout.read().decode()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise AssertionError("server did not start listening")


def test_sigkill_loses_nothing_acknowledged(tmp_path):
    rng = random.Random(20261122)
    port = free_port()
    text = config_mod.default_text().replace('listen = "127.0.0.1:9878"',
                                             f'listen = "127.0.0.1:{port}"')
    for fixed in ("9879", "9880", "9881"):       # admin, OUCH, ITCH: no fixed ports in tests
        text = text.replace(f'"127.0.0.1:{fixed}"', f'"127.0.0.1:{free_port()}"')
    cfg_path = tmp_path / "ordex.toml"
    cfg_path.write_text(text)
    received = []          # every ExecutionReport any client saw
    n = 0
    for kill in range(KILLS + 1):
        proc = start_server(cfg_path, tmp_path)
        try:
            wait_listening(port, proc)
            client = Client(port)
            client.send("A", [(98, 0), (108, 30), (141, "Y")])
            deadline = time.monotonic() + (rng.uniform(0.05, 0.6) if kill < KILLS else 0.5)
            killed = False
            while True:
                for _ in range(rng.randint(1, 8)):   # a few orders in flight at a time
                    n += 1
                    side = rng.choice("12")
                    client.send("D", [(11, f"K{n}"), (1, rng.choice(["DEMO1", "DEMO2"])),
                                      (55, "MSFT"), (54, side), (38, str(rng.randint(1, 20))),
                                      (40, "2"), (44, f"{rng.randint(95, 105)}.00"), (59, "1"),
                                      (60, "20261122-10:00:00")])
                msgs, alive = client.messages(0.01)
                received.extend(exec_reports(msgs))
                if time.monotonic() >= deadline and not killed:
                    if kill < KILLS:
                        os.kill(proc.pid, signal.SIGKILL)
                        killed = True
                    else:
                        break
                if killed:
                    # drain whatever was already on the wire before the kill
                    while True:
                        msgs, alive = client.messages(0.2)
                        received.extend(exec_reports(msgs))
                        if not alive:
                            break
                    break
            client.sock.close()
        finally:
            if kill == KILLS:
                proc.send_signal(signal.SIGTERM)
            log = proc.communicate(timeout=30)[0].decode()
        if kill == KILLS:
            assert proc.returncode == 0, log
            found = re.findall(r"recovered from (?:the snapshot of sequence (\d+)|no snapshot) and "
                               r"(\d+) journal commands .* state ([0-9a-f]{32})", log)
            assert found, log
            snap_seq, tail, recovered_hash = found[-1]
            recovered_n = int(snap_seq or 0) + int(tail)

    assert received, "no execution report was ever received"
    # Replay the journal from scratch, as an auditor would.
    cfg = config_mod.load(cfg_path)
    engine = Engine(cfg.reference, max_orders=cfg.max_orders)
    events = []
    replay(engine, read_journal(tmp_path / "ordex-data" / "journal"),
           on_events=lambda ev: events.extend(ev.tolist()))
    by_exec = {}
    for ev in events:
        assert ev[2] not in by_exec, f"exec_id {ev[2]} twice in the replayed stream"
        by_exec[ev[2]] = ev
    seen_exec = set()
    for er in received:
        exec_id = int(er[17])
        assert exec_id not in seen_exec, f"ExecID {exec_id} was delivered twice"
        seen_exec.add(exec_id)
        if exec_id == 0:                                  # rejected at the gateway: no engine event
            continue
        ev = by_exec.get(exec_id)
        assert ev is not None, f"acknowledged ExecID {exec_id} ({er}) is not in the journal"
        assert ev[24] == er[11], (ev, er)                 # ClOrdID
        assert str(ev[3]).encode() == er[37]              # OrderID
        assert str(ev[11]).encode() == er[14]             # CumQty
        assert str(ev[10]).encode() == er[151]            # LeavesQty
    trades = [ev for ev in events if ev[18] == EventKind.TRADE]
    assert trades, "the workload should have traded"
    # The last start recovered (snapshot + tail, or full replay) to exactly the state a clean
    # replay of the same commands gives.
    clean = Engine(cfg.reference, max_orders=cfg.max_orders)
    assert replay(clean, read_journal(tmp_path / "ordex-data" / "journal", 0, int(recovered_n))) \
        == int(recovered_n)
    assert clean.state_hash() == recovered_hash
    print(f"{KILLS} kills, {n} orders sent, {len(received)} execution reports checked, "
          f"{len(trades)} trade events")
