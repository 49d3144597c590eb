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
from pathlib import Path

import numpy as np

from ordex.core import snapshot
from ordex.core.journal import Journal, JournalConfig, JournalError
from ordex.core.sequencer import Sequencer
from ordex.ext.engine import Engine
from ordex.gateway.config import Config

log = logging.getLogger("ordex.server")

EventSink = Callable[[np.ndarray], object]
SNAPSHOT_POLL_S = 0.2        # how often the loop checks whether a snapshot is due
# At most this share of the loop's time goes to copying the state for snapshots.  The copy grows
# with the day (every quote side adds a ClOrdID entry: ~60 ms at 1M entries, 1M commands being
# ~2 s of Mass Quotes), so a command-count trigger alone made it quadratic: ~20% of the loop
# after 15 s of market-maker load (py-spy).
SNAPSHOT_LOOP_SHARE = 0.05


def snapshot_due(new: int, since_s: float, copy_s: float, every_commands: int,
                 every_s: float) -> bool:
    """Whether to snapshot now: something `new` (commands since the last), and every_commands
    of them or every_s seconds since the last, and at least copy_s / SNAPSHOT_LOOP_SHARE seconds
    since the last (copy_s: what copying the state took the loop last time)."""
    if new <= 0 or since_s < copy_s / SNAPSHOT_LOOP_SHARE:
        return False
    return bool((every_commands and new >= every_commands) or (every_s and since_s >= every_s))


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
        self._released: list[Callable[[], object]] = []
        self._stopped = asyncio.Event()
        self.gateways: list = []

    # -- life cycle -------------------------------------------------------------------------------
    def recover(self) -> None:
        """Rebuild the engine before anything listens: the newest valid snapshot (damaged ones are
        skipped with a log line), then the journal's records after it; with no snapshot, the
        whole journal.  Then periodic snapshots start (see take_snapshot)."""
        cfg = self.config
        # The sync thread needs the GIL to report durability; a shorter switch interval keeps a
        # busy loop from delaying those reports by the default 5 ms.
        sys.setswitchinterval(0.0005)
        t0 = time.perf_counter()
        self.snapshot_dir = snapshot.snapshot_dir(cfg.journal_dir)
        found = snapshot.latest_valid(self.snapshot_dir)
        self.journal = Journal.open(
            cfg.journal_dir,
            JournalConfig(durability=cfg.durability, batch_interval_ms=cfg.batch_interval_ms,
                          segment_bytes=cfg.segment_bytes),
            on_durable=self._on_durable, on_failure=self._on_journal_failure,
            call_soon_threadsafe=self.loop.call_soon_threadsafe, schedule_flush=self.loop.call_soon,
            first_seq=found.seq + 1 if found else 1)
        try:
            recovery = snapshot.recover(cfg.reference, cfg.max_orders, self.journal, found)
        except BaseException:
            self.journal.close()
            self.journal = None
            raise
        self.engine = recovery.engine
        self.recovered_commands = recovery.replayed
        self.recovered_snapshot_seq = recovery.snapshot_seq
        last = list(self.journal.read(self.journal.next_seq - 1)) if self.journal.next_seq > 1 else []
        self.sequencer = Sequencer(self.engine, self.journal, clock_ns=self.clock_ns,
                                   last_ts_ns=last[-1][2] if last else 0)
        self._snapshot_seq = recovery.snapshot_seq
        self._snapshot_time = time.monotonic()
        self._snapshot_busy = False
        self._snapshot_copy_s = 0.0       # the loop's time to copy the state, last snapshot
        if cfg.snapshot_every_commands or cfg.snapshot_every_s:
            self.loop.call_later(SNAPSHOT_POLL_S, self._snapshot_tick)
        self.accepting = True
        self.refusal = ""
        log.info("recovered from %s and %d journal commands from %s in %.3f s; state %s",
                 f"the snapshot of sequence {found.seq}" if found else "no snapshot",
                 self.recovered_commands, cfg.journal_dir, time.perf_counter() - t0,
                 self.engine.state_hash())

    def _snapshot_tick(self) -> None:
        """Start a snapshot when one is due (snapshot_due): snapshot_every_commands commands or
        snapshot_every_s seconds since the last, anything new at all, and the loop's share of
        snapshot copying bounded."""
        if self._stopped.is_set():
            return
        self.loop.call_later(SNAPSHOT_POLL_S, self._snapshot_tick)
        if self._snapshot_busy or not self.accepting:
            return
        cfg = self.config
        if snapshot_due(self.sequencer.next_seq - 1 - self._snapshot_seq,
                        time.monotonic() - self._snapshot_time, self._snapshot_copy_s,
                        cfg.snapshot_every_commands, cfg.snapshot_every_s):
            self.loop.create_task(self.take_snapshot())

    async def take_snapshot(self) -> Path | None:
        """Snapshot the engine as it is now, covering every command applied so far; write it
        once all of them are durable (a snapshot never covers what the journal could still lose),
        then keep two snapshots and prune the journal segments they cover.  The state is copied
        on the loop thread between commands (about 0.25 s per million orders); waiting, writing
        and pruning happen on an executor thread.  Returns the file, or None (logged) when the
        journal failed first, the write failed, or another snapshot is being taken."""
        if self._snapshot_busy:
            log.info("snapshot not started: the previous one is still being written")
            return None
        self._snapshot_busy = True
        seq = self.sequencer.next_seq - 1
        t0 = time.perf_counter()
        try:
            data = self.engine.snapshot(seq)
            took = self._snapshot_copy_s = time.perf_counter() - t0
            if not await self.loop.run_in_executor(None, self.journal.wait_durable, seq, 60.0):
                log.error("snapshot of sequence %d dropped: not durable (%s)", seq,
                          self.journal.failure or "timed out")
                return None
            path, pruned = await self.loop.run_in_executor(None, self._write_snapshot, seq, data)
        except OSError as e:
            log.error("snapshot of sequence %d not written: %s", seq, e)
            return None
        finally:
            self._snapshot_busy = False
        self._snapshot_seq = seq
        self._snapshot_time = time.monotonic()
        log.info("snapshot %s: %d orders, %.1f MB, state copied in %.3f s; pruned %d snapshots, "
                 "%d journal segments", path, self.engine.order_count, len(data) / 1e6, took,
                 len(pruned[0]), len(pruned[1]))
        return path

    def _write_snapshot(self, seq: int, data: bytes):
        path = snapshot.write_snapshot(self.snapshot_dir, seq, data)
        return path, snapshot.prune(self.snapshot_dir, self.journal,
                                    prune_journal=self.config.prune_journal)

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

    def subscribe_released(self, callback: Callable[[], object]) -> None:
        """callback() runs once the batches one durable report releases were all handed to the
        sinks (several in batch and fsync: every submit the sync covered), so that a sink that
        gathers its output writes it once per report instead of once per batch (the ITCH feed:
        one write per subscriber)."""
        self._released.append(callback)

    def submit(self, rows: np.ndarray) -> int:
        """Sequence, journal and apply commands; their events follow once durable.  Returns the
        last sequence number assigned.  Raises NotAccepting when the server cannot journal."""
        if not self.accepting:
            raise NotAccepting(self.refusal)
        self.sequencer.submit(rows)
        engine = self.engine
        events = engine.events_array()
        book_events = engine.book.events_array() if self._book_sinks else _NO_EVENTS
        engine.clear_events()
        last = self.sequencer.next_seq - 1       # rows' last seq, without a numpy scalar
        if len(events) or len(book_events):
            self._held.append((last, events, book_events))
        return last

    @property
    def releases_inline(self) -> bool:
        """`none` durability: the journal writes on this thread and release_submitted() hands
        the sinks their events before it returns."""
        return self.config.durability == "none"

    def release_submitted(self) -> None:
        """In `none` durability, write what was submitted so far and release its events now, so
        that a gateway's replies leave within the read that brought the orders instead of one
        loop iteration later, in the journal's scheduled flush.  In fsync and batch, nothing: that
        one flush per loop iteration gives every command of the iteration, whichever connection
        or gateway sent it, one shared fdatasync (durable before visible).  A failed or closed
        journal is ignored here: on_failure reported it and submits refuse from now on."""
        if self.releases_inline and self.journal is not None:
            try:
                self.journal.flush()
            except JournalError:
                pass

    def _on_durable(self, seq: int) -> None:
        held = self._held
        if not held or held[0][0] > seq:
            return
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
        for callback in self._released:
            try:
                callback()
            except Exception:
                log.exception("release callback %r failed", callback)

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
        if config.binary.users and (config.binary.listen or config.binary.feed_listen):
            from ordex.gateway.binary.gateway import BinaryGateway
            server.gateways.append(BinaryGateway(config))
        if config.feeds:
            from ordex.gateway.feed_gateway import FeedGateway
            server.gateways.append(FeedGateway(config))
        await server.serve_forever()

    try:
        import uvloop
    except ImportError:
        log.warning("uvloop not installed: running on the stdlib asyncio loop")
        asyncio.run(main())
    else:
        uvloop.run(main())
    return 0
