"""The binary gateway as the server runs it: OUCH 5.0 order entry and the ITCH 5.0 feed, each a
SoupBinTCP listener (config [binary]), sharing one I/O thread for password checks and store syncs.

An operator's DISCONNECT of an order-entry user, once durable, ends its connection: End of
Session, then close (its cancel on disconnect applies as for any disconnect).
"""
from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ordex.gateway.admin_actions import disconnects
from ordex.gateway.binary import soup

from ordex.gateway.binary.itch_feed import ItchFeed
from ordex.gateway.binary.ouch import OuchGateway
from ordex.gateway.binary.soup import Listener
from ordex.gateway.binary.wire import WireInstruments

log = logging.getLogger("ordex.binary")

STORE_SYNC_S = 0.02
FEED_SNDBUF = 1 << 20    # a subscriber's kernel send buffer: enough for bursts, bounded


class BinaryGateway:
    def __init__(self, config):
        self.config = config
        self.settings = config.binary
        self.ouch: OuchGateway | None = None
        self.feed: ItchFeed | None = None
        self.order_entry: Listener | None = None
        self.market_data: Listener | None = None
        self.io: ThreadPoolExecutor | None = None
        self._sync_task: asyncio.Task | None = None
        self.server = None

    @property
    def port(self) -> int | None:
        return self.order_entry.port if self.order_entry else None

    @property
    def feed_port(self) -> int | None:
        return self.market_data.port if self.market_data else None

    async def start(self, server) -> None:
        self.server = server
        s = self.settings
        self.io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ordex-binary-io")
        wire = WireInstruments(self.config.reference)
        if s.listen and s.users:
            self.ouch = OuchGateway(server, s, self.config.reference, self.io, wire)
            self.ouch.recover_orders()
            self.order_entry = Listener("ouch", self.ouch, heartbeat_ms=s.heartbeat_ms,
                                        idle_timeout_s=s.idle_timeout_s,
                                        max_buffer_bytes=s.max_buffer_bytes)
            await self.order_entry.serve(*s.listen)
            log.info("OUCH 5.0 order entry listening on %s:%d (%d users)", s.listen[0],
                     self.order_entry.port, len(s.users))
            self._sync_task = asyncio.get_running_loop().create_task(self._sync_stores())
            server.subscribe(self._on_events)
        if s.feed_listen:
            self.feed = ItchFeed(server, s, self.config.reference, self.io, wire)
            self.feed.load_book(server.engine)
            self.market_data = Listener("itch", self.feed, heartbeat_ms=s.heartbeat_ms,
                                        idle_timeout_s=s.idle_timeout_s,
                                        max_buffer_bytes=s.max_buffer_bytes,
                                        sndbuf=min(max(s.max_buffer_bytes, 1 << 16), FEED_SNDBUF))
            await self.market_data.serve(*s.feed_listen)
            log.info("ITCH 5.0 feed listening on %s:%d (%d resting orders)", s.feed_listen[0],
                     self.market_data.port, len(self.feed.orders))

    def _on_events(self, events: np.ndarray) -> None:
        for sid, seq, text in disconnects(events):
            user = self.ouch.by_sid.get(sid)
            if user is None or user.conn is None:
                continue
            log.warning("%s: disconnected by an operator (seq %d): %s", user.name, seq, text)
            user.conn.write(soup.END_OF_SESSION)
            user.conn.close(f"disconnected by an operator: {text}")

    async def _sync_stores(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(STORE_SYNC_S)
            try:
                await loop.run_in_executor(self.io, self.ouch.sync_stores)
            except Exception:  # noqa: BLE001 - logged; the journal is the source of truth
                log.exception("binary: syncing the user stores failed")

    async def stop(self) -> None:
        """End every session (cancel on disconnect applies), let the replies become durable and
        stored, then close the stores."""
        if self.ouch is not None:
            self.ouch.end_of_day()
            await self.order_entry.close()
            await self._settle()
        if self.feed is not None:
            await self.feed.close()
            await self.market_data.close()
        if self._sync_task is not None:
            self._sync_task.cancel()
            try:
                await self._sync_task
            except asyncio.CancelledError:
                pass
        if self.ouch is not None:
            await self.ouch.close()
        if self.io is not None:
            self.io.shutdown(wait=True)

    async def _settle(self) -> None:
        server = self.server
        if server.journal is None or not server.accepting:
            return
        last = server.sequencer.next_seq - 1
        server.journal.flush()
        for _ in range(5000):
            if server.durable_seq >= last:
                break
            await asyncio.sleep(0.001)
        for _ in range(3):          # the durable callback is delivered on a later iteration
            await asyncio.sleep(0)
