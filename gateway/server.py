"""The server process: one event loop owns the engine, the journal and the gateways.

Start-up recovers the engine from the journal before any listener opens.  Gateways call
`submit(rows)` with unsequenced commands; the sequencer stamps, journals and applies them at once
(the book must see commands in sequence order), but their events are held and handed to
subscribers only when the journal reports the commands durable (DESIGN invariant 2): group commit
gives all commands of one loop iteration one fdatasync.  If the journal fails, the server stops
accepting commands (`accepting` is False, `refusal` says why) and keeps serving reads.
"""
from __future__ import annotations

import asyncio
import collections
import logging
import signal
import sys
import time
from collections.abc import Callable

import numpy as np

from ordex.core.journal import Journal, JournalConfig
from ordex.core.sequencer import Sequencer, replay
from ordex.ext.engine import Engine
from ordex.gateway.config import Config

log = logging.getLogger("ordex.server")

EventSink = Callable[[np.ndarray], object]


_NO_EVENTS = np.empty(0)


class NotAccepting(RuntimeError):
    """The server cannot take commands now (journal failed, or stopping)."""


class Server:
    def __init__(self, config: Config, loop: asyncio.AbstractEventLoop | None = None,
                 clock_ns: Callable[[], int] = time.time_ns):
        self.config = config
        self.loop = loop or asyncio.get_running_loop()
        self.clock_ns = clock_ns
        self.engine: Engine | None = None
        self.journal: Journal | None = None
        self.sequencer: Sequencer | None = None
        self.accepting = False
        self.refusal = "starting"
        self.recovered_commands = 0
        # (last seq, engine events, book events) per submit, until durable
        self._held: collections.deque[tuple[int, np.ndarray, np.ndarray]] = collections.deque()
        self._sinks: list[EventSink] = []
        self._book_sinks: list[EventSink] = []
        self._stopped = asyncio.Event()
        self.gateways: list = []

    # -- life cycle -------------------------------------------------------------------------------
    def recover(self) -> None:
        """Open the journal and rebuild the engine from it: nothing listens before this is done."""
        cfg = self.config
        # The sync thread needs the GIL to report durability; a shorter switch interval keeps a
        # busy loop from delaying those reports by the default 5 ms.
        sys.setswitchinterval(0.0005)
        t0 = time.perf_counter()
        self.journal = Journal.open(
            cfg.journal_dir,
            JournalConfig(durability=cfg.durability, batch_interval_ms=cfg.batch_interval_ms,
                          segment_bytes=cfg.segment_bytes),
            on_durable=self._on_durable, on_failure=self._on_journal_failure,
            call_soon_threadsafe=self.loop.call_soon_threadsafe, schedule_flush=self.loop.call_soon)
        self.engine = Engine(cfg.reference, max_orders=cfg.max_orders)
        self.recovered_commands = replay(self.engine, self.journal.read(0))
        self.engine.clear_events()
        self.sequencer = Sequencer(self.engine, self.journal, clock_ns=self.clock_ns)
        self.accepting = True
        self.refusal = ""
        log.info("recovered %d commands from %s in %.3f s; state %s", self.recovered_commands,
                 cfg.journal_dir, time.perf_counter() - t0, self.engine.state_hash())

    async def start(self) -> None:
        self.recover()
        for gw in self.gateways:
            await gw.start(self)

    async def stop(self) -> None:
        """Stop taking commands, let gateways log their sessions out (and cancel on disconnect),
        make everything durable, close the journal."""
        if self._stopped.is_set():
            return
        for gw in reversed(self.gateways):
            try:
                await gw.stop()
            except Exception:
                log.exception("stopping gateway %r", gw)
        self.accepting = False
        self.refusal = "server stopping"
        if self.journal is not None:
            if self.journal.failure is None:
                self.journal.flush()
                last = self.journal.next_seq - 1
                await self.loop.run_in_executor(None, self.journal.wait_durable, last, 10.0)
            self.journal.close()
        self._stopped.set()
        log.info("stopped")

    async def serve_forever(self) -> None:
        """Start, then run until SIGTERM or SIGINT, then stop cleanly."""
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self.loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):
                pass
        await self.start()
        await stop.wait()
        log.info("signal received: stopping")
        await self.stop()

    # -- commands and events ----------------------------------------------------------------------
    def subscribe(self, sink: EventSink) -> None:
        """sink(events) receives every durable batch of engine events (EVENT_DTYPE), in sequence
        order: execution reports, cancel rejects, audit."""
        self._sinks.append(sink)

    def subscribe_book(self, sink: EventSink) -> None:
        """sink(events) receives every durable batch of order-book events (the book's EVENT_DTYPE:
        rested, fill, cancelled, reduced, replaced, replenished; rejects never appear), in
        sequence order: the source of market data feeds.  They carry no time: market data takes
        it from the engine events of the same batch, or the moment of release."""
        self._book_sinks.append(sink)

    def submit(self, rows: np.ndarray) -> int:
        """Sequence, journal and apply commands; their events follow once durable.  Returns the
        last sequence number assigned.  Raises NotAccepting when the server cannot journal."""
        if not self.accepting:
            raise NotAccepting(self.refusal)
        self.sequencer.submit(rows)
        events = self.engine.events_array()
        book_events = self.engine.book.events_array() if self._book_sinks else _NO_EVENTS
        self.engine.clear_events()
        last = int(rows["seq"][-1])
        if len(events) or len(book_events):
            self._held.append((last, events, book_events))
        return last

    def _on_durable(self, seq: int) -> None:
        held = self._held
        while held and held[0][0] <= seq:
            _, events, book_events = held.popleft()
            for sinks, batch in ((self._sinks, events), (self._book_sinks, book_events)):
                if not len(batch):
                    continue
                for sink in sinks:
                    try:
                        sink(batch)
                    except Exception:
                        log.exception("event sink %r failed", sink)

    def _on_journal_failure(self, exc: BaseException) -> None:
        self.accepting = False
        self.refusal = f"journal failed: {exc}"
        log.critical("JOURNAL FAILED, no longer accepting orders: %s", exc)

    @property
    def durable_seq(self) -> int:
        return self.journal.durable_seq if self.journal else 0


def run(config: Config) -> int:
    """Run the server on uvloop (stdlib asyncio when uvloop is absent) until a signal."""
    from ordex.gateway.logging import configure as configure_logging
    configure_logging(config.log_level)

    async def main():
        server = Server(config)
        from ordex.gateway.fix.gateway import FixGateway
        if config.admin_listen:
            from ordex.gateway.admin import AdminGateway
            server.gateways.append(AdminGateway(config))
        from ordex.gateway.scheduler import Scheduler
        server.gateways.append(Scheduler(server, config.timer_interval_ms))
        if config.fix_listen and config.fix_sessions:
            server.gateways.append(FixGateway(config))
        await server.serve_forever()

    try:
        import uvloop
    except ImportError:
        log.warning("uvloop not installed: running on the stdlib asyncio loop")
        asyncio.run(main())
    else:
        uvloop.run(main())
    return 0
