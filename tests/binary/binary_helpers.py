"""Shared pieces of the binary gateway tests: a demo server with binary users, run in-process on
the loop under test, and small client helpers."""
from __future__ import annotations

import asyncio
import dataclasses
import functools

from ordex.gateway import config as config_mod
from ordex.gateway.binary.gateway import BinaryGateway
from ordex.gateway.client import ItchClient, OuchClient
from ordex.gateway.fix.session_settings import hash_password
from ordex.gateway.server import Server

LOOPS = ["asyncio", "uvloop"]
PASSWORD = "secret"
MSFT = "MSFT"
PX = 10_000          # one dollar with 4 implied decimals


@functools.lru_cache(maxsize=1)
def password_hash() -> str:
    return hash_password(PASSWORD)


def binary_config(tmp_path, durability: str = "fsync", mm1: str = "", binary: str = ""):
    """The embedded demo configuration with order entry and feed on ephemeral ports and three
    users: MM1 (the quoting market maker, extra TOML keys in `mm1`), MM2 (a second firm that
    trades against it) and OC1 (the ouch-connect dialect); `binary` adds [binary] keys."""
    kept, skipping = [], False
    for line in config_mod.default_text().splitlines():
        if line.startswith("["):
            skipping = line.strip() in ("[binary]", "[[binary.user]]")
        if not skipping:
            kept.append(line)
    h = password_hash()
    text = "\n".join(kept) + f"""
[binary]
listen = "127.0.0.1:0"
feed_listen = "127.0.0.1:0"
{binary}

[[binary.user]]
name = "MM1"
password_hash = "{h}"
accounts = ["DEMO2"]
{mm1}

[[binary.user]]
name = "MM2"
password_hash = "{h}"
accounts = ["DEMO1"]
cancel_on_disconnect = "off"

[[binary.user]]
name = "OC1"
password_hash = "{h}"
accounts = ["DEMO1"]
dialect = "ouch-connect"
cancel_on_disconnect = "off"
"""
    cfg = config_mod.parse(text, source="test config", base_dir=tmp_path)
    return dataclasses.replace(cfg, durability=durability)


async def start(cfg):
    server = Server(cfg)
    gw = BinaryGateway(cfg)
    server.gateways.append(gw)
    await server.start()
    return server, gw


async def ouch(gw, user: str = "MM1", sequence: int = 0, dialect: str = "nasdaq") -> OuchClient:
    """A logged-in client; what the server replayed before its System Event is in c.replayed."""
    c = await OuchClient.connect("127.0.0.1", gw.port, dialect=dialect)
    await c.login(user, PASSWORD, sequence=sequence)
    c.replayed = []
    while (m := await c.next())["type"] != "SystemEvent":
        c.replayed.append(m)
    return c


async def itch(gw, record: str | None = None) -> ItchClient:
    c = await ItchClient.connect("127.0.0.1", gw.feed_port, record=record)
    await c.login("MM2", PASSWORD)
    return c


async def settle(server, extra: float = 0.05) -> None:
    """Until every command so far is durable and its events delivered."""
    last = server.sequencer.next_seq - 1
    for _ in range(2000):
        if server.durable_seq >= last:
            break
        await asyncio.sleep(0.002)
    await asyncio.sleep(extra)


def run(loop_kind: str, coro, timeout: float = 60):
    if loop_kind == "uvloop":
        import uvloop
        return uvloop.run(asyncio.wait_for(coro, timeout))
    return asyncio.run(asyncio.wait_for(coro, timeout))


def live_orders(server, session_name: str) -> list[tuple]:
    sid = {s.name: s.id for s in server.config.reference.sessions}[session_name]
    return [o for o in server.engine.state()[2] if o[1] == sid]


def journal_commands(server) -> list:
    """Every journaled command as a COMMAND_DTYPE row, in sequence order."""
    import numpy as np

    from ordex.core.commands import COMMAND_DTYPE
    rows = [np.frombuffer(payload, dtype=COMMAND_DTYPE)[0]
            for _seq, _rtype, _ts, payload in server.journal.read(0)]
    return rows


def record_writes(conn, out: list[bytes]):
    """Make `conn` append a copy of every transport.write to `out` (and still send it); returns
    the real transport, to put back when done."""
    transport = conn.transport
    real = transport.write

    def record(b):
        out.append(bytes(b))
        real(b)

    conn.transport = type("Recording", (), {
        "write": staticmethod(record),
        "__getattr__": lambda self, name: getattr(transport, name)})()
    return transport
