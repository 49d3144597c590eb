"""Nothing acknowledged is ever lost, for market makers too: `ordex serve` (fsync durability) under
a stream of OUCH orders, cancels and mass quotes is killed with SIGKILL at random moments, 12 times, and
restarted each time.  After every restart the client logs in again asking for the next SoupBinTCP
sequence number it expects, and the server must continue that stream exactly (the missed
messages replayed, nothing skipped, nothing sent twice).  Afterwards the journal is replayed from
scratch: every Order Accepted names an order the journal holds for that UserRefNum, every Order
Executed a trade of the journal (quantity, price, match number), every Order Canceled an end of
that order, every Order Replaced (a requoted side) a replace of that order from that UserRefNum;
and no UserRefNum is accepted twice.

SIGKILL keeps the page cache, so what this proves is "never acknowledged before written".  The
load is heavy enough that a group often waits behind a running fdatasync: a server that released
replies at submit instead of at durability fails this test (checked by hand, twice in two runs).
Power-loss durability rests on fdatasync (tests/journal)."""
import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import uvloop

from ordex.core.events import EventKind, Liquidity
from ordex.core.journal import read_journal
from ordex.core.sequencer import replay
from ordex.ext.engine import Engine
from ordex.gateway import config as config_mod
from ordex.gateway.binary.client import OuchClient

KILLS = 12
PRICE_SCALE = 10_000          # OUCH prices: 4 implied decimals


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def start_server(cfg_path, workdir):
    return subprocess.Popen([sys.executable, "-m", "ordex.gateway.cli", "serve", "--config",
                             str(cfg_path)], cwd=workdir, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)


class Client(OuchClient):
    """Remembers the sequence number the server's Login Accepted names."""
    login_seq = None

    def _packet(self, ptype: bytes, payload: bytes) -> None:
        if ptype == b"A":
            self.login_seq = int(payload[10:30])
        super()._packet(ptype, payload)


async def connect_when_listening(port, proc, timeout=30.0) -> Client:
    end = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, proc.stdout.read().decode()
        try:
            return await Client.connect("127.0.0.1", port)
        except OSError:
            if time.monotonic() > end:
                raise AssertionError("server did not start listening") from None
            await asyncio.sleep(0.02)


async def session(port, proc, rng, state, kill: bool):
    """One server life: log in where the stream left off, trade until the kill (or a while),
    collect every sequenced message."""
    client = await connect_when_listening(port, proc)
    expected = state["next_seq"]
    await client.login("MM1", "demo", sequence=expected)
    resumed = client.login_seq
    # The server continues exactly where the client's stream stopped: it never jumps ahead
    # (messages it sent would be lost to the client) nor back (it would send them twice).
    assert resumed == expected, f"login at {expected}: server resumes at {resumed}"
    deadline = time.monotonic() + rng.uniform(0.05, 0.5)
    live: list[int] = state["live"]
    while time.monotonic() < deadline:
        for _ in range(rng.randint(5, 40)):     # enough that a group often waits behind a sync
            if live and rng.random() < 0.2:
                client.cancel(live.pop(rng.randrange(len(live))))
                continue
            if rng.random() < 0.1:              # a requote of the MSFT quote (engine QUOTEs)
                state["ref"] += 2
                state["quotes"] += 1
                client.mass_quote(state["quotes"], [
                    ("MSFT", state["ref"] - 1, rng.randint(94, 100) * PRICE_SCALE,
                     rng.randint(0, 20), state["ref"], rng.randint(100, 106) * PRICE_SCALE,
                     rng.randint(1, 20))])
                continue
            state["ref"] += 1
            client.enter(state["ref"], rng.choice("BS"), rng.randint(1, 20), "MSFT",
                         rng.randint(95, 105) * PRICE_SCALE, tif="0")
            live.append(state["ref"])
        await asyncio.sleep(0.002)
        state["received"].extend(m for m in client.drain() if m["type"] != "Closed")
    if kill:
        os.kill(proc.pid, signal.SIGKILL)
        await asyncio.wait_for(client.closed, 10)     # whatever was on the wire arrives first
    else:
        await asyncio.sleep(0.3)
        client.logout()
        await asyncio.wait_for(client.closed, 10)
    state["received"].extend(m for m in client.drain() if m["type"] not in ("Closed", "Debug"))
    state["next_seq"] = client.next_seq
    client.close()


def test_sigkill_loses_nothing_acknowledged_to_a_market_maker(tmp_path):
    rng = random.Random(20261207)
    fix, admin, ouch, feed = free_ports(4)
    text = config_mod.default_text()
    for old, new in (("9878", fix), ("9879", admin), ("9880", ouch), ("9881", feed)):
        text = text.replace(f'"127.0.0.1:{old}"', f'"127.0.0.1:{new}"')
    cfg_path = tmp_path / "ordex.toml"
    cfg_path.write_text(text)
    state = {"next_seq": 1, "ref": 0, "live": [], "received": [], "quotes": 0}
    for life in range(KILLS + 1):
        proc = start_server(cfg_path, tmp_path)
        try:
            uvloop.run(session(ouch, proc, rng, state, kill=life < KILLS))
        finally:
            if life == KILLS:
                proc.send_signal(signal.SIGTERM)
            elif proc.poll() is None:           # the session failed before its kill
                proc.kill()
            log = proc.communicate(timeout=30)[0].decode()
        if life == KILLS:
            assert proc.returncode == 0, log

    received = [m for m in state["received"] if m["type"] != "EndOfSession"]
    # One SoupBinTCP stream across 13 server lives: as many messages as sequence numbers used.
    assert len(received) == state["next_seq"] - 1
    cfg = config_mod.load(cfg_path)
    session_id = next(s.id for s in cfg.reference.sessions if s.name == "MM1")
    engine = Engine(cfg.reference, max_orders=cfg.max_orders)
    batches = []
    replay(engine, read_journal(tmp_path / "ordex-data" / "journal"),
           on_events=lambda ev: batches.append(ev[ev["session"] == session_id]))
    ev = np.concatenate(batches)
    # an order's ClOrdID starts with its UserRefNum; the gateway's own commands (protection) do not
    refs = np.array([int(c[:10]) if c[:10].isdigit() else -1 for c in ev["clordid"]])
    kind = ev["kind"]
    new, trade = kind == EventKind.NEW, kind == EventKind.TRADE
    ends = (kind == EventKind.CANCELLED) | (kind == EventKind.EXPIRED)
    accepted = set(zip(refs[new].tolist(), ev["order_id"][new].tolist()))
    maker = (ev["liquidity"][trade] == Liquidity.MAKER).astype(np.int64)
    # OUCH's MatchNumber is the same on both sides of a trade: the taker's exec id
    trades = set(zip(refs[trade].tolist(), ev["last_qty"][trade].tolist(),
                     (ev["exec_id"][trade] - maker).tolist()))
    ended = set(refs[ends].tolist())
    rep = kind == EventKind.REPLACED        # requoted quote sides: previous -> new UserRefNum
    origs = np.array([int(c[:10]) if c[:10].isdigit() else -1 for c in ev["orig_clordid"][rep]])
    replaced = set(zip(origs.tolist(), refs[rep].tolist(), ev["order_id"][rep].tolist()))
    seen_refs = set()
    counts = {"OrderAccepted": 0, "OrderExecuted": 0, "OrderCanceled": 0, "OrderReplaced": 0}
    for m in received:
        kind = m["type"]
        if kind == "OrderAccepted":
            ref = m["UserRefNum"]
            assert ref not in seen_refs, f"UserRefNum {ref} accepted twice"
            seen_refs.add(ref)
            assert (ref, m["OrderReferenceNumber"]) in accepted, f"acknowledged {m} not journaled"
        elif kind == "OrderExecuted":
            assert (m["UserRefNum"], m["Quantity"], m["MatchNumber"]) in trades, \
                f"execution {m} not journaled"
        elif kind == "OrderCanceled":
            assert m["UserRefNum"] in ended, f"cancel {m} not journaled"
        elif kind == "OrderReplaced":
            assert (m["OrigUserRefNum"], m["UserRefNum"], m["OrderReferenceNumber"]) in replaced, \
                f"replace {m} not journaled"
        else:
            continue
        counts[kind] += 1
    assert all(counts.values()), counts
    print(f"{KILLS} kills, {state['ref']} orders entered, {len(received)} sequenced messages "
          f"checked: {counts}")
