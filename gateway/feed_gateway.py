"""Market data into the engine: every `[[feed]]` is read, normalised and filtered by ordex.feeds,
and its reference prices become REFERENCE_PRICE commands.

They go through Server.submit(), sequenced and journaled like orders, because the engine's state
must be a function of its journal (DESIGN invariant 1): replaying the journal reproduces every
collar without the feed, and the engine never reads a feed or a clock.

Per feed:
  * the source (gateway/feed_sources.py) is read on the server's loop without blocking it: files
    in steps of chunk_kb with a yield to the loop after each; TCP streams through asyncio;
  * ReferencePrices drops stale and out-of-band data; the mark (or last / mid) of each mapped
    symbol is converted exactly to the instrument's price increments (off_tick: nearest / reject);
  * coalescing: only a price that differs from the last one sent, at most one per instrument per
    min_interval_ms; the newest pending price goes once its interval has passed.  A price that
    stays put would age in the engine until market orders find no fresh reference
    (ref_max_age_s): with refresh_ms, an unchanged price is sent again once it is that old, but
    only while the source is being read (a feed that ended or lost its connection says nothing
    about the price now);
  * a failure (file missing or damaged, connection refused or lost, login rejected, a line too
    long, a normaliser error) is logged with its reason and counted, then retried after retry_ms
    (up to max_retries failures in a row; 0: forever) or the feed stops (on_failure = "stop").
    A file is never read twice once data came from it (its old prices would be sent again): a
    failure part-way through stops that feed.  The end of a file, or of a SoupBinTCP session, is
    a feed that finished.  Nothing here can stop the server.
"""
from __future__ import annotations

import asyncio
import logging
from collections import Counter
from fractions import Fraction

import numpy as np

from ordex.core.commands import ADMIN_SESSION, COMMAND_DTYPE, CommandKind
from ordex.gateway.config import Config, FeedConfig
from ordex.gateway.feed_sources import SOURCES, FeedFailure, Source

log = logging.getLogger("ordex.feed")

RETRY_NOT_ACCEPTING_S = 1.0      # a refused submit is tried again this much later


# -- one feed -----------------------------------------------------------------------------------
class Feed:
    """One [[feed]]: its source attempts, reference prices, coalescing and counts.  Metrics read
    the counts at scrape time (gateway/metrics.py)."""

    def __init__(self, cfg: FeedConfig, config: Config):
        from ordex.feeds.replay import DEFAULT_STALE_MS
        self.cfg = cfg
        self.name = cfg.name
        self.symbols = cfg.symbols
        self.instruments = {i.id: i for i in config.reference.instruments}
        self.stale_ns = (DEFAULT_STALE_MS[cfg.format] if cfg.stale_ms is None
                         else cfg.stale_ms) * 1_000_000
        self.interval_s = cfg.min_interval_ms / 1000
        self.mark = f"feed:{cfg.name}".encode("ascii")
        self.server = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.task: asyncio.Task | None = None
        self.state = "starting"          # running, retrying, finished, stopped
        self.source: Source | None = None
        self.refs = None
        self._done_messages: Counter[str] = Counter()   # of attempts that ended
        self._done_reasons: Counter[str] = Counter()
        self.own_reasons: Counter[str] = Counter()      # found here: off_tick, ...
        self.failures: Counter[str] = Counter()
        self.submitted: Counter[int] = Counter()        # engine instrument -> references
        # engine instrument -> (price ticks, sequenced ts_ns, feed ts_ns, loop time sent)
        self.sent: dict[int, tuple[int, int, int, float]] = {}
        self.pending: dict[int, tuple[int, int]] = {}   # instrument -> (ticks, feed ts_ns)
        self._scales: dict[tuple[int, int], tuple[int, int]] = {}
        self._flush_handle: asyncio.Handle | None = None
        self._refresh_handle: asyncio.TimerHandle | None = None
        self._refused = False

    # -- counts, for metrics ----------------------------------------------------------------
    @property
    def up(self) -> bool:
        return self.state == "running"

    def message_counts(self) -> Counter[str]:
        out = Counter(self._done_messages)
        if self.source is not None:
            out.update(self.source.messages())
        return out

    def reason_counts(self) -> Counter[str]:
        out = Counter(self._done_reasons)
        out.update(self.own_reasons)
        if self.source is not None:
            out.update(self.source.reasons())
            out.update(self.refs.reasons())
        return +out

    def symbol(self, instrument: int) -> str:
        return self.instruments[instrument].symbol

    # -- life cycle -------------------------------------------------------------------------
    def start(self, server) -> None:
        self.server = server
        self.loop = server.loop
        self.task = self.loop.create_task(self._run(), name=f"feed {self.name}")
        if self.cfg.refresh_ms:
            self._refresh_handle = self.loop.call_later(self.cfg.refresh_ms / 2000, self._refresh)

    async def stop(self) -> None:
        for handle in (self._flush_handle, self._refresh_handle):
            if handle is not None:
                handle.cancel()
        self._flush_handle = self._refresh_handle = None
        if self.task is not None and not self.task.done():
            self.task.cancel()
            try:
                await self.task
            except asyncio.CancelledError:
                pass
        if self.source is not None:
            self.source.close()

    async def _run(self) -> None:
        from ordex.feeds.reference import ReferencePrices
        cfg = self.cfg
        in_a_row = 0
        while True:
            try:
                self.source = SOURCES[cfg.format](cfg)
                self.refs = ReferencePrices(stale_ns=self.stale_ns, band_bps=cfg.band_bps)
                self.refs.bind(self.source.instrument)
                self.state = "running"
                await self.source.run(self._on_batch)
            except asyncio.CancelledError:
                self._end_attempt()
                self.state = "stopped"
                raise
            except Exception as e:   # a normaliser defect must not reach the server either
                got_data = self.source is not None and self.source.received > 0
                self._end_attempt()
                if isinstance(e, FeedFailure):
                    failure = e
                else:
                    log.exception("feed %s: unexpected error", self.name)
                    failure = FeedFailure("error", f"{type(e).__name__}: {e}")
                self.failures[failure.reason] += 1
                in_a_row = 1 if got_data else in_a_row + 1
                log.error("feed %s failed: %s", self.name, failure)
                why = None
                if cfg.on_failure == "stop":
                    why = 'on_failure = "stop"'
                elif cfg.path is not None and got_data:
                    why = "a file is not read again once its prices were used"
                elif cfg.max_retries and in_a_row > cfg.max_retries:
                    why = f"{in_a_row} failures in a row (max_retries = {cfg.max_retries})"
                if why is not None:
                    self.state = "stopped"
                    log.error("feed %s stopped: %s", self.name, why)
                    return
                self.state = "retrying"
                await asyncio.sleep(cfg.retry_ms / 1000)
                continue
            self._end_attempt()
            self.state = "finished"
            log.info("feed %s finished: %d messages, %d reference prices submitted so far; "
                     "filters %s", self.name, sum(self._done_messages.values()),
                     sum(self.submitted.values()), dict(self.reason_counts()) or "none")
            return

    def _end_attempt(self) -> None:
        """Fold the attempt's counts into the totals (its normaliser is discarded)."""
        if self.source is None:
            return
        self._done_messages.update(self.source.messages())
        self._done_reasons.update(self.source.reasons())
        self._done_reasons.update(self.refs.reasons())
        self.source.close()
        self.source = None

    # -- prices -----------------------------------------------------------------------------
    def _on_batch(self, batch: np.ndarray) -> None:
        if not len(batch):
            return
        refs = self.refs
        refs.process(batch)
        kind, named, symbols = self.cfg.price, self.source.instrument, self.symbols
        for i in refs.changed_ids():
            inst = symbols.get(named(i).symbol)
            if inst is None:
                continue
            ref = refs.get(i, kind)
            if ref is None:
                continue
            ticks = self._ticks(inst, ref)
            if ticks is None:
                continue
            last = self.sent.get(inst)
            if last is not None and last[0] == ticks:
                self.pending.pop(inst, None)    # back where the engine already is
            else:
                self.pending[inst] = (ticks, ref.ts_ns)
        if self.pending and self._flush_handle is None:
            # once per loop iteration: the batches of one read coalesce
            self._flush_handle = self.loop.call_soon(self._flush)

    def _ticks(self, inst: int, ref) -> int | None:
        """The feed's fixed-point price in the instrument's price increments, exactly; off the
        grid: the nearest increment (half up) or, with off_tick = "reject", nothing."""
        key = (inst, ref.price_decimals)
        scale = self._scales.get(key)
        if scale is None:
            inc = Fraction(self.instruments[inst].price_increment)
            # price / 10**d / (num / den) = price * den / (10**d * num)
            scale = self._scales[key] = (inc.denominator, 10 ** ref.price_decimals * inc.numerator)
        mul, div = scale
        q, r = divmod(ref.price * mul, div)
        if r:
            if self.cfg.off_tick == "reject":
                self.own_reasons["off_tick"] += 1
                return None
            q = (2 * ref.price * mul + div) // (2 * div)
        if q <= 0 or q >= 1 << 63:
            self.own_reasons["reference_out_of_range"] += 1
            return None
        return q

    def _refresh(self) -> None:
        """Queue again the unchanged references sent refresh_ms ago or more (source live only);
        checked every refresh_ms / 2, so none is older than 1.5 refresh_ms while the feed lives."""
        refresh_s = self.cfg.refresh_ms / 1000
        self._refresh_handle = self.loop.call_later(refresh_s / 2, self._refresh)
        if not self.up:
            return
        now = self.loop.time()
        for inst, (ticks, _, feed_ts, sent_at) in self.sent.items():
            if inst not in self.pending and now - sent_at >= refresh_s:
                self.pending[inst] = (ticks, feed_ts)
        if self.pending and self._flush_handle is None:
            self._flush_handle = self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_handle = None
        if not self.pending:
            return
        now = self.loop.time()
        due, next_at = [], None
        for inst in self.pending:
            last = self.sent.get(inst)
            at = last[3] + self.interval_s if last is not None else now
            if at <= now:
                due.append(inst)
            elif next_at is None or at < next_at:
                next_at = at
        if due:
            rows = np.zeros(len(due), dtype=COMMAND_DTYPE)
            rows["kind"] = CommandKind.REFERENCE_PRICE
            rows["session"] = ADMIN_SESSION
            rows["clordid"] = self.mark     # provenance in the journal (the engine ignores it)
            rows["instrument"] = due
            rows["price"] = [self.pending[i][0] for i in due]
            try:
                self.server.submit(rows)
            except Exception as e:     # NotAccepting, or a journal refusing the batch
                if not self._refused:
                    log.warning("feed %s: reference prices held, the server refuses commands "
                                "(%s: %s)", self.name, type(e).__name__, e)
                self._refused = True
                next_at = now + max(self.interval_s, RETRY_NOT_ACCEPTING_S)
            else:
                self._refused = False
                for k, inst in enumerate(due):
                    ticks, feed_ts = self.pending.pop(inst)
                    self.sent[inst] = (ticks, int(rows["ts_ns"][k]), feed_ts, now)
                    self.submitted[inst] += 1
        if self.pending:
            self._flush_handle = self.loop.call_at(next_at, self._flush)


class FeedGateway:
    """A server gateway (start(server) / stop()) running every configured feed."""

    def __init__(self, config: Config):
        self.market_feeds = [Feed(f, config) for f in config.feeds]

    async def start(self, server) -> None:
        for feed in self.market_feeds:
            feed.start(server)
            log.info("feed %s: %s from %s, references for %s", feed.name, feed.cfg.format,
                     feed.cfg.path or "%s:%d" % feed.cfg.connect,
                     ", ".join(f"{s} -> {feed.symbol(i)}" for s, i in feed.symbols.items()))

    async def stop(self) -> None:
        for feed in self.market_feeds:
            await feed.stop()
