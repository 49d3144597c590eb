"""A server with its admin listener on an ephemeral port, driven from tests: commands in, the
events they caused out (once durable), HTTP to the admin listener, metrics parsed back."""
from __future__ import annotations

import asyncio
import dataclasses
import json
import time

import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from ordex.core.commands import ADMIN_SESSION, COMMAND_DTYPE, CommandKind, OrdType, Side, Tif
from ordex.gateway import config as config_mod
from ordex.gateway.admin import AdminGateway
from ordex.gateway.server import Server

TOKEN = "test-token-0123456789abcdef"
MSFT, AAPL = 1, 0
DEMO1, DEMO2 = 0, 1


def run_on(loop_kind, coro_fn, timeout=60):
    async def bounded():
        return await asyncio.wait_for(coro_fn(), timeout)
    if loop_kind == "uvloop":
        import uvloop
        return uvloop.run(bounded())
    return asyncio.run(bounded())


def ops_config(tmp_path, durability="fsync", **kw):
    cfg = config_mod.parse(config_mod.default_text(), base_dir=tmp_path)
    fields = {"durability": durability, "fix_listen": ("127.0.0.1", 0),
              "admin_listen": ("127.0.0.1", 0), "admin_token": TOKEN, **kw}
    return dataclasses.replace(cfg, **fields)


def order(clordid, side, price, qty, account=DEMO1, instrument=MSFT, tif=Tif.GTC,
          ord_type=OrdType.LIMIT, session=0, **fields):
    row = np.zeros(1, dtype=COMMAND_DTYPE)
    row["kind"], row["session"], row["account"], row["instrument"] = (
        CommandKind.NEW_ORDER, session, account, instrument)
    row["clordid"], row["side"], row["ord_type"], row["tif"] = clordid, side, ord_type, tif
    row["price"], row["qty"] = price, qty
    for k, v in fields.items():
        row[k] = v
    return row


def cancel(clordid, orig, session=0):
    row = np.zeros(1, dtype=COMMAND_DTYPE)
    row["kind"], row["session"], row["clordid"], row["orig_clordid"] = (
        CommandKind.CANCEL, session, clordid, orig)
    return row


def replace(clordid, orig, price, qty, session=0):
    row = np.zeros(1, dtype=COMMAND_DTYPE)
    row["kind"], row["session"], row["clordid"], row["orig_clordid"] = (
        CommandKind.REPLACE, session, clordid, orig)
    row["price"], row["qty"] = price, qty
    return row


def timer():
    """What the scheduler sends: a TIMER from the admin session, no operator mark."""
    row = np.zeros(1, dtype=COMMAND_DTYPE)
    row["kind"], row["session"] = CommandKind.TIMER, ADMIN_SESSION
    return row


async def lifecycle_journal(cfg) -> dict:
    """Orders through every lifecycle path (admin actions included); returns clordid -> order id.
    MSFT prices are in cents, quantities in shares."""
    h = await Harness.start(cfg)
    ids = {}

    async def new(clordid, *a, **kw):
        evs = await h.submit(order(clordid, *a, **kw))
        if evs and evs[0]["order_id"]:
            ids.setdefault(clordid, evs[0]["order_id"])
        return evs

    await new("b1", BUY, 15000, 10)                       # partially filled, then cancelled
    await new("s1", SELL, 14900, 4, account=DEMO2, tif=Tif.IOC)   # filled at once
    await h.submit(cancel("c1", "b1"))
    await h.submit(cancel("c2", "b1"))                    # too late: CANCEL_REJECTED
    await new("b2", BUY, 14800, 5)                        # replaced, then filled
    await h.submit(replace("r2", "b2", 14850, 6))
    await new("s2", SELL, 14850, 6, account=DEMO2)
    await new("big", BUY, 15000, 60000)                   # rejected: notional above max
    await new("b1", BUY, 15000, 1)                        # duplicate ClOrdID: order id 0
    await new("s3", SELL, 15200, 3, account=DEMO2, tif=Tif.IOC)   # IOC remainder cancelled
    await new("d1", BUY, 14000, 2, tif=Tif.DAY)           # expires when MSFT closes
    await h.action("close", instrument="MSFT", operator="olivia")
    await h.action("resume", instrument="MSFT", operator="olivia")
    await new("st1", BUY, 0, 1, ord_type=OrdType.STOP, stop_price=14900)   # waits, triggers
    await new("a1", SELL, 15000, 1, account=DEMO2)        # the liquidity the stop takes
    await new("b5", BUY, 14950, 1)
    await new("s5", SELL, 14950, 1, account=DEMO2)        # trade at 149.50 triggers st1
    await new("k1", BUY, 14000, 1)                        # cancelled by the kill switch
    await h.action("kill-switch", account="DEMO1", on=True, operator="kim")
    await new("k2", BUY, 14000, 1)                        # rejected: kill switch
    await h.action("kill-switch", account="DEMO1", on=False, operator="kim")
    await new("m1", SELL, 16000, 1, account=DEMO2)        # cancelled by a mass cancel
    await h.action("mass-cancel", account="DEMO2", operator="kim")
    await h.action("halt", instrument="MSFT", operator="olivia")
    await new("h1", BUY, 15000, 1)                        # rejected: halted
    await h.action("resume", instrument="MSFT", operator="olivia")
    await new("g1", BUY, 14000, 1, tif=Tif.GTD, expire_ts_ns=now_ns() + 2_000_000)
    await asyncio.sleep(0.01)
    await h.submit(timer())                               # GTD expiry
    state = h.server.engine.state_hash()
    await h.stop()
    return {"ids": ids, "state": state}


BUY, SELL = Side.BUY, Side.SELL


class Harness:
    """await Harness.start(cfg) ... await h.stop()."""

    def __init__(self, cfg, with_fix=False):
        self.cfg = cfg
        self.with_fix = with_fix
        self.events: dict[int, list] = {}
        self._waiting: dict[int, asyncio.Future] = {}

    @classmethod
    async def start(cls, cfg, with_fix=False) -> Harness:
        h = cls(cfg, with_fix)
        h.server = Server(cfg)
        h.admin = AdminGateway(cfg, environ={})
        h.server.gateways.append(h.admin)
        if with_fix:
            from ordex.gateway.fix.gateway import FixGateway
            h.fix = FixGateway(cfg)
            h.server.gateways.append(h.fix)
        await h.server.start()
        h.server.subscribe(h._sink)
        return h

    async def stop(self) -> None:
        await self.server.stop()

    def _sink(self, events) -> None:
        seq = int(events["seq"][-1])
        rows = [dict(zip(events.dtype.names, e.tolist())) for e in events]
        self.events[seq] = rows
        fut = self._waiting.pop(seq, None)
        if fut is not None and not fut.done():
            fut.set_result(rows)

    async def submit(self, row) -> list[dict]:
        """Submit one command; its events once durable (empty if it caused none)."""
        server = self.server
        seq = server.submit(row)
        if server._held and server._held[-1][0] == seq:
            fut = self._waiting[seq] = asyncio.get_running_loop().create_future()
            return await asyncio.wait_for(fut, 10)
        while server.durable_seq < seq:
            await asyncio.sleep(0.001)
        return []

    async def http(self, method, path, body=None, token=TOKEN, raw=None):
        r, w = await asyncio.open_connection("127.0.0.1", self.admin.port)
        if raw is not None:
            w.write(raw)
        else:
            data = json.dumps(body).encode() if body is not None else b""
            auth = f"Authorization: Bearer {token}\r\n" if token else ""
            w.write(f"{method} {path} HTTP/1.1\r\nHost: test\r\n{auth}"
                    f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
        await w.drain()
        resp = await r.read()
        w.close()
        head, _, payload = resp.partition(b"\r\n\r\n")
        status = int(head.split(b" ")[1])
        try:
            return status, json.loads(payload)
        except ValueError:
            return status, payload.decode()

    async def action(self, name, **body):
        status, result = await self.http("POST", f"/admin/{name}", body)
        assert status == 200, (status, result)
        return result

    async def metrics(self) -> dict:
        status, text = await self.http("GET", "/metrics", token=None)
        assert status == 200
        return parse_metrics(text)


def parse_metrics(text: str) -> dict:
    """{(sample name, frozenset(labels)): value}"""
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(metrics: dict, name: str, **labels) -> float:
    return metrics.get((name, frozenset(labels.items())), 0.0)


def now_ns() -> int:
    return time.time_ns()
