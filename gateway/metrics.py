"""Prometheus metrics of a running server (served by the admin listener, gateway/admin.py).

Counted from durable engine events (what clients were told, never what was merely attempted):
    ordex_events_total{kind}                 every engine event
    ordex_orders_total{instrument}           orders accepted (NEW and PENDING_TRIGGER events)
    ordex_fills_total{instrument}            fills (one per match, counted on the taker's event)
    ordex_rejects_total{type,reason}         REJECTED (type=order), CANCEL_REJECTED (cancel) and
                                             ADMIN_REJECTED (admin: an operator's command refused)
    ordex_order_ends_total{kind,reason}      CANCELLED / EXPIRED / RESTATED by reason
    ordex_session_events_total{session}      events released per session
Counted at submit (the sequencer's input):
    ordex_commands_total{kind}, ordex_session_commands_total{session}
    ordex_ack_latency_seconds                from Server.submit() (the gateway has decoded the
                                             message) to the release of its events once durable
    ordex_journal_append_seconds             one append_fixed call (stamped commands -> group buffer)
    ordex_journal_sync_seconds               every fdatasync (Journal.sample_sync_latencies)
    ordex_event_loop_lag_seconds             how late a periodic timer fires (histogram + gauge)
Read at scrape time:
    ordex_fix_messages_total{session,direction}  from the session's sequence numbers (a sequence
                                             reset is a counter reset, which rate() handles)
    ordex_session_connected{session}, ordex_sessions_connected
    ordex_queue_depth{queue}                 held event batches (waiting for the journal),
                                             journal_pending_bytes, journal_undurable_commands
    ordex_fix_outbound_bytes{session}, ordex_fix_inbound_queued{session}
    ordex_accepting, ordex_durable_seq
Market data feeds (gateway/feed_gateway.py), read from each Feed at scrape time:
    ordex_feed_messages_total{feed,type}     venue messages normalised (ITCH type letter, JSON
                                             type, csv/parquet trade/quote rows)
    ordex_feed_filter_hits_total{feed,reason}  data dropped or flagged by the normaliser and the
                                             reference filters (gap, stale, out_of_band, crossed,
                                             bad_frame, bad_json, off_tick, ...)
    ordex_feed_failures_total{feed,reason}   source failures (connect_failed, disconnected, ...)
    ordex_feed_reference_prices_total{feed,instrument}  REFERENCE_PRICE commands submitted
    ordex_feed_reference_age_seconds{feed,instrument}   since the engine's reference was stamped
    ordex_feed_reference_source_age_seconds{feed,instrument}  since the exchange time of the
                                             data it came from
    ordex_feed_up{feed}                      1 while the source is being read

The server offers no observation hooks, so `attach()` wraps the server's `submit` and the
journal's `append_fixed` on those instances (one perf_counter_ns pair per call) and reads a few
internals (`_held`, FIX sessions' buffers) at scrape time; see the comments there.  Counting on
the hot path is plain dict and list arithmetic on the loop thread; names, labels and the
Prometheus objects are made only when scraped.
"""
from __future__ import annotations

import collections
import logging
import time
from bisect import bisect_left

import numpy as np
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.utils import floatToGoString

from ordex.core.commands import ADMIN_SESSION, CommandKind
from ordex.core.events import EventKind, Liquidity
from ordex.core.reasons import Reason

log = logging.getLogger("ordex.metrics")

# seconds; journal and ack latencies span ~10 us (no sync) to seconds (a stalled disk)
LATENCY_BUCKETS = (1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2,
                   5e-2, 0.1, 0.25, 0.5, 1.0, 2.5)
APPEND_BUCKETS = (1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 1e-3, 1e-2)
LAG_BUCKETS = (1e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 1.0)

# plain ints: the sink compares them per event
_ORDER_ACCEPTED = frozenset((int(EventKind.NEW), int(EventKind.PENDING_TRIGGER)))
_ENDS = frozenset((int(EventKind.CANCELLED), int(EventKind.EXPIRED), int(EventKind.RESTATED)))
_REJECTS = {int(EventKind.REJECTED): "order", int(EventKind.CANCEL_REJECTED): "cancel",
            int(EventKind.ADMIN_REJECTED): "admin"}
_TRADE, _TAKER = int(EventKind.TRADE), int(Liquidity.TAKER)


def _reason_name(code: int) -> str:
    return Reason(code).name if code in Reason._value2member_map_ else str(code)


def _kind_name(enum, code: int) -> str:
    return enum(code).name if code in enum._value2member_map_ else str(code)


class Hist:
    """A histogram cheap enough for the hot path (one bisect, two adds, no lock: only the loop
    thread observes); exported as a Prometheus histogram at scrape time."""

    __slots__ = ("name", "help", "buckets", "counts", "sum")

    def __init__(self, name: str, help_text: str, buckets: tuple[float, ...]):
        self.name, self.help, self.buckets = name, help_text, buckets
        self.counts = [0] * (len(buckets) + 1)
        self.sum = 0.0

    def observe(self, v: float) -> None:
        self.counts[bisect_left(self.buckets, v)] += 1
        self.sum += v

    def family(self) -> HistogramMetricFamily:
        cumulative, total = [], 0
        for le, n in zip(self.buckets + (float("inf"),), self.counts):
            total += n
            cumulative.append((floatToGoString(le), total))
        return HistogramMetricFamily(self.name, self.help, buckets=cumulative, sum_value=self.sum)


# (name, help, label names) of the counters; values live in plain dicts keyed by label tuple
COUNTERS = {
    "commands": ("ordex_commands", "Commands sequenced, by kind", ("kind",)),
    "session_commands": ("ordex_session_commands", "Commands sequenced, by the session that "
                         "sent them", ("session",)),
    "events": ("ordex_events", "Durable engine events, by kind", ("kind",)),
    "session_events": ("ordex_session_events", "Durable engine events, by the order's session",
                       ("session",)),
    "orders": ("ordex_orders", "Orders accepted (NEW or PENDING_TRIGGER)", ("instrument",)),
    "fills": ("ordex_fills", "Fills (matches), counted once per match", ("instrument",)),
    "rejects": ("ordex_rejects", "Rejected orders, cancel/replace requests and admin commands",
                ("type", "reason")),
    "ends": ("ordex_order_ends", "Orders cancelled, expired or restated, by reason",
             ("kind", "reason")),
}


class Metrics:
    def __init__(self, reference, registry: CollectorRegistry | None = None,
                 lag_interval_s: float = 0.1):
        self.registry = registry or CollectorRegistry()
        self.lag_interval_s = lag_interval_s
        self.session_names = {s.id: s.name for s in reference.sessions}
        self.session_names[ADMIN_SESSION] = "admin"
        self.symbols = {i.id: i.symbol for i in reference.instruments}
        # raw keys (ints) while counting; names are given at scrape time
        self.counts: dict[str, collections.Counter] = {k: collections.Counter() for k in COUNTERS}
        self.ack_latency = Hist("ordex_ack_latency_seconds",
                                "Server.submit() to the release of its events (durable)",
                                LATENCY_BUCKETS)
        self.append_latency = Hist("ordex_journal_append_seconds", "One journal append of a batch of commands",
                                   APPEND_BUCKETS)
        self.sync_latency = Hist("ordex_journal_sync_seconds", "One journal fdatasync",
                                 LATENCY_BUCKETS)
        self.loop_lag = Hist("ordex_event_loop_lag_seconds",
                             "Delay of a periodic event-loop timer past its due time", LAG_BUCKETS)
        self.loop_lag_last = 0.0
        self._pending_acks: collections.deque[tuple[int, int]] = collections.deque()
        self._sync_samples: list[int] | None = None
        self._lag_handle = None
        self._lag_due = 0.0
        self.server = None
        self.fix_sessions = lambda: ()
        self.registry.register(_CountCollector(self))
        self.registry.register(_ScrapeCollector(self))
        self.registry.register(_FeedCollector(self))

    # -- wiring -------------------------------------------------------------------------------
    def attach(self, server) -> None:
        """Instrument a recovered server: call once, on the loop, before gateways submit."""
        self.server = server
        journal = server.journal
        orig_submit = server.submit
        held = server._held       # the server's queue of event batches waiting for durability
        pending = self._pending_acks
        clock = time.perf_counter_ns
        commands, session_commands = self.counts["commands"], self.counts["session_commands"]

        def submit(rows: np.ndarray) -> int:
            t0 = clock()
            last = orig_submit(rows)
            # Only a submit whose events are held will be acknowledged; the sink pops it.
            if held and held[-1][0] == last:
                pending.append((last, t0))
            if len(rows) == 1:
                commands[int(rows["kind"][0])] += 1
                session_commands[int(rows["session"][0])] += 1
            else:
                commands.update(rows["kind"].tolist())
                session_commands.update(rows["session"].tolist())
            return last

        server.submit = submit
        orig_append = journal.append_fixed
        append_observe = self.append_latency.observe

        def append_fixed(*args):
            t0 = clock()
            try:
                return orig_append(*args)
            finally:
                append_observe((clock() - t0) / 1e9)

        journal.append_fixed = append_fixed
        self._sync_samples = journal.sample_sync_latencies()
        server.subscribe(self.on_events)
        loop = server.loop
        self._lag_due = loop.time() + self.lag_interval_s
        self._lag_handle = loop.call_at(self._lag_due, self._tick)

    def detach(self) -> None:
        if self._lag_handle is not None:
            self._lag_handle.cancel()
            self._lag_handle = None

    def _tick(self) -> None:
        loop = self.server.loop
        now = loop.time()
        lag = max(0.0, now - self._lag_due)
        self.loop_lag.observe(lag)
        self.loop_lag_last = lag
        self.drain_sync_samples()
        self._lag_due = now + self.lag_interval_s
        self._lag_handle = loop.call_at(self._lag_due, self._tick)

    def drain_sync_samples(self) -> None:
        samples = self._sync_samples
        if not samples:
            return
        # The sync thread only appends: taking the first n under the GIL loses nothing.
        n = len(samples)
        taken = samples[:n]
        del samples[:n]
        for ns in taken:
            self.sync_latency.observe(ns / 1e9)

    # -- counting -----------------------------------------------------------------------------
    def on_events(self, events: np.ndarray) -> None:
        """Server sink: one durable batch (the events of one submit, usually a handful)."""
        now = time.perf_counter_ns()
        pending = self._pending_acks
        seqs = events["seq"]
        last = int(seqs[-1])
        while pending and pending[0][0] <= last:
            self.ack_latency.observe((now - pending.popleft()[1]) / 1e9)
        c = self.counts
        ev_counts, sess, orders, fills = c["events"], c["session_events"], c["orders"], c["fills"]
        rejects, ends = c["rejects"], c["ends"]
        for kind, session, inst, reason, liq in zip(
                events["kind"].tolist(), events["session"].tolist(),
                events["instrument"].tolist(), events["reason"].tolist(),
                events["liquidity"].tolist()):
            ev_counts[kind] += 1
            sess[session] += 1
            if kind in _ORDER_ACCEPTED:
                orders[inst] += 1
            elif kind == _TRADE:
                if liq == _TAKER:
                    fills[inst] += 1
            elif kind in _REJECTS:
                rejects[(kind, reason)] += 1
            elif kind in _ENDS:
                ends[(kind, reason)] += 1

    def labels(self, counter: str, key) -> tuple[str, ...]:
        """Label values for a raw counting key."""
        if counter in ("commands",):
            return (_kind_name(CommandKind, key),)
        if counter == "events":
            return (_kind_name(EventKind, key),)
        if counter in ("session_commands", "session_events"):
            return (self.session_names.get(key, str(key)),)
        if counter in ("orders", "fills"):
            return (self.symbols.get(key, str(key)),)
        if counter == "rejects":
            return (_REJECTS[key[0]], _reason_name(key[1]))
        return (_kind_name(EventKind, key[0]), _reason_name(key[1]))

    def render(self) -> bytes:
        self.drain_sync_samples()
        return generate_latest(self.registry)


class _CountCollector:
    """The hot-path counters and histograms, named at scrape time."""

    def __init__(self, metrics: Metrics):
        self.m = metrics

    def describe(self):
        return []

    def collect(self):
        m = self.m
        for key, (name, help_text, label_names) in COUNTERS.items():
            fam = CounterMetricFamily(name, help_text, labels=label_names)
            for raw, n in sorted(m.counts[key].items(), key=lambda kv: str(kv[0])):
                fam.add_metric(m.labels(key, raw), n)
            yield fam
        for hist in (m.ack_latency, m.append_latency, m.sync_latency, m.loop_lag):
            yield hist.family()
        yield GaugeMetricFamily("ordex_event_loop_lag_last_seconds",
                                "The latest event-loop lag measurement", value=m.loop_lag_last)


class _ScrapeCollector:
    """Gauges and counters read from the server and the FIX sessions at scrape time."""

    def __init__(self, metrics: Metrics):
        self.m = metrics

    def describe(self):
        return []

    def collect(self):
        m = self.m
        server = m.server
        accepting = GaugeMetricFamily("ordex_accepting", "1 when the server takes commands")
        durable = GaugeMetricFamily("ordex_durable_seq", "Highest journal sequence known durable")
        queue = GaugeMetricFamily("ordex_queue_depth", "Queue depths", labels=["queue"])
        if server is not None and server.journal is not None:
            journal = server.journal
            accepting.add_metric([], 1.0 if server.accepting else 0.0)
            durable.add_metric([], journal.durable_seq)
            queue.add_metric(["held_event_batches"], len(server._held))
            queue.add_metric(["journal_pending_bytes"], journal.pending_bytes)
            queue.add_metric(["journal_undurable_commands"],
                             max(0, journal.next_seq - 1 - journal.durable_seq))
        yield accepting
        yield durable
        yield queue
        msgs = CounterMetricFamily("ordex_fix_messages", "FIX messages per session (from the "
                                   "session's sequence numbers)", labels=["session", "direction"])
        connected = GaugeMetricFamily("ordex_session_connected", "1 while the session is logged on",
                                      labels=["session"])
        total = GaugeMetricFamily("ordex_sessions_connected", "Sessions logged on")
        out_bytes = GaugeMetricFamily("ordex_fix_outbound_bytes",
                                      "Bytes waiting to be written to the session's socket",
                                      labels=["session"])
        in_queued = GaugeMetricFamily("ordex_fix_inbound_queued",
                                      "Messages received ahead of a sequence gap, waiting",
                                      labels=["session"])
        n_connected = 0
        for s in m.fix_sessions():
            store = s.store
            if not store.closed:
                msgs.add_metric([s.name, "in"], max(0, store.next_target - 1))
                msgs.add_metric([s.name, "out"], max(0, store.next_sender - 1))
            connected.add_metric([s.name], 1.0 if s.logged_on else 0.0)
            n_connected += bool(s.logged_on)
            # FixSession keeps these private; read defensively so a refactor there only blanks
            # the gauge instead of breaking the scrape.
            conn = getattr(s, "_conn", None)
            pending = len(getattr(s, "_out", b""))
            transport = getattr(conn, "transport", None) if conn is not None else None
            if transport is not None:
                pending += transport.get_write_buffer_size()
            out_bytes.add_metric([s.name], pending)
            in_queued.add_metric([s.name], len(getattr(s, "_queue", ())))
        total.add_metric([], n_connected)
        yield msgs
        yield connected
        yield total
        yield out_bytes
        yield in_queued


class _FeedCollector:
    """The market data feeds' counts, from the server's feed gateways at scrape time."""

    def __init__(self, metrics: Metrics):
        self.m = metrics

    def describe(self):
        return []

    def collect(self):
        server = self.m.server
        msgs = CounterMetricFamily("ordex_feed_messages", "Venue messages normalised, by type",
                                   labels=["feed", "type"])
        hits = CounterMetricFamily("ordex_feed_filter_hits", "Feed data dropped or flagged by "
                                   "the normaliser and reference filters, by reason",
                                   labels=["feed", "reason"])
        failures = CounterMetricFamily("ordex_feed_failures", "Feed source failures, by reason",
                                       labels=["feed", "reason"])
        refs = CounterMetricFamily("ordex_feed_reference_prices", "REFERENCE_PRICE commands "
                                   "submitted from feeds", labels=["feed", "instrument"])
        age = GaugeMetricFamily("ordex_feed_reference_age_seconds", "Seconds since the engine's "
                                "reference price from this feed was stamped",
                                labels=["feed", "instrument"])
        source_age = GaugeMetricFamily("ordex_feed_reference_source_age_seconds", "Seconds since "
                                       "the exchange time of the data behind the reference price",
                                       labels=["feed", "instrument"])
        up = GaugeMetricFamily("ordex_feed_up", "1 while the feed's source is being read",
                               labels=["feed"])
        feeds = [f for gw in (server.gateways if server is not None else ())
                 for f in getattr(gw, "market_feeds", ())]
        now = server.clock_ns() if feeds else 0
        for f in feeds:
            for kind, n in sorted(f.message_counts().items()):
                msgs.add_metric([f.name, kind], n)
            for reason, n in sorted(f.reason_counts().items()):
                hits.add_metric([f.name, reason], n)
            for reason, n in sorted(f.failures.items()):
                failures.add_metric([f.name, reason], n)
            for inst, (_, stamped, feed_ts, _) in sorted(f.sent.items()):
                symbol = f.symbol(inst)
                refs.add_metric([f.name, symbol], f.submitted[inst])
                age.add_metric([f.name, symbol], max(0, now - stamped) / 1e9)
                source_age.add_metric([f.name, symbol], max(0, now - feed_ts) / 1e9)
            up.add_metric([f.name], 1.0 if f.up else 0.0)
        yield from (msgs, hits, failures, refs, age, source_age, up)
