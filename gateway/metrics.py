"""Prometheus metrics of a running server (served by the admin listener, gateway/admin.py).

Counted from durable engine events (what clients were told, never what was merely attempted):
    ordex_events_total{kind}                 every engine event
    ordex_orders_total{instrument}           orders accepted (NEW and PENDING_TRIGGER events)
    ordex_fills_total{instrument}            fills (one per match, counted on the taker's event)
    ordex_rejects_total{type,reason}         REJECTED (type=order) and CANCEL_REJECTED (cancel)
    ordex_order_ends_total{kind,reason}      CANCELLED / EXPIRED / RESTATED by reason
    ordex_session_events_total{session}      events released per session
Counted at submit (the sequencer's input):
    ordex_commands_total{kind}, ordex_session_commands_total{session}
    ordex_ack_latency_seconds                from Server.submit() (the gateway has decoded the
                                             message) to the release of its events once durable
    ordex_journal_append_seconds             one append_many call (stamped commands -> group buffer)
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

The server offers no observation hooks, so `attach()` wraps the server's `submit` and the
journal's `append_many` on those instances (one perf_counter_ns pair per call) and reads a few
internals (`_held`, FIX sessions' buffers) at scrape time; see the comments there.
"""
from __future__ import annotations

import collections
import logging
import time

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from ordex.core.commands import ADMIN_SESSION, CommandKind
from ordex.core.events import EventKind, Liquidity
from ordex.core.reasons import Reason

log = logging.getLogger("ordex.metrics")

# seconds; journal and ack latencies span ~10 us (no sync) to seconds (a stalled disk)
LATENCY_BUCKETS = (1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2,
                   5e-2, 0.1, 0.25, 0.5, 1.0, 2.5)
APPEND_BUCKETS = (1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 1e-3, 1e-2)
LAG_BUCKETS = (1e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 1.0)

_ORDER_ACCEPTED = (EventKind.NEW, EventKind.PENDING_TRIGGER)
_ENDS = (EventKind.CANCELLED, EventKind.EXPIRED, EventKind.RESTATED)
_REJECTS = {EventKind.REJECTED: "order", EventKind.CANCEL_REJECTED: "cancel"}


def _reason_name(code: int) -> str:
    return Reason(code).name if code in Reason._value2member_map_ else str(code)


def _kind_name(enum, code: int) -> str:
    return enum(code).name if code in enum._value2member_map_ else str(code)


class Metrics:
    def __init__(self, reference, registry: CollectorRegistry | None = None,
                 lag_interval_s: float = 0.1):
        self.registry = registry or CollectorRegistry()
        self.lag_interval_s = lag_interval_s
        self.session_names = {s.id: s.name for s in reference.sessions}
        self.session_names[ADMIN_SESSION] = "admin"
        self.symbols = {i.id: i.symbol for i in reference.instruments}
        r = self.registry
        self.commands = Counter("ordex_commands", "Commands sequenced, by kind", ["kind"], registry=r)
        self.session_commands = Counter("ordex_session_commands",
                                        "Commands sequenced, by the session that sent them",
                                        ["session"], registry=r)
        self.events = Counter("ordex_events", "Durable engine events, by kind", ["kind"], registry=r)
        self.session_events = Counter("ordex_session_events",
                                      "Durable engine events, by the order's session", ["session"],
                                      registry=r)
        self.orders = Counter("ordex_orders", "Orders accepted (NEW or PENDING_TRIGGER)",
                              ["instrument"], registry=r)
        self.fills = Counter("ordex_fills", "Fills (matches), counted once per match",
                             ["instrument"], registry=r)
        self.rejects = Counter("ordex_rejects", "Rejected orders and cancel/replace requests",
                               ["type", "reason"], registry=r)
        self.ends = Counter("ordex_order_ends", "Orders cancelled, expired or restated, by reason",
                            ["kind", "reason"], registry=r)
        self.ack_latency = Histogram("ordex_ack_latency_seconds",
                                     "Server.submit() to the release of its events (durable)",
                                     buckets=LATENCY_BUCKETS, registry=r)
        self.append_latency = Histogram("ordex_journal_append_seconds",
                                        "One journal append_many call", buckets=APPEND_BUCKETS,
                                        registry=r)
        self.sync_latency = Histogram("ordex_journal_sync_seconds", "One journal fdatasync",
                                      buckets=LATENCY_BUCKETS, registry=r)
        self.loop_lag = Histogram("ordex_event_loop_lag_seconds",
                                  "Delay of a periodic event-loop timer past its due time",
                                  buckets=LAG_BUCKETS, registry=r)
        self.loop_lag_last = Gauge("ordex_event_loop_lag_last_seconds",
                                   "The latest event-loop lag measurement", registry=r)
        self._kind_children = {}
        self._session_cmd_children = {}
        self._pending_acks: collections.deque[tuple[int, int]] = collections.deque()
        self._sync_samples: list[int] | None = None
        self._lag_handle = None
        self._lag_due = 0.0
        self.server = None
        self.fix_sessions = lambda: ()
        r.register(_ScrapeCollector(self))

    # -- wiring -------------------------------------------------------------------------------
    def attach(self, server) -> None:
        """Instrument a recovered server: call once, on the loop, before gateways submit."""
        self.server = server
        journal = server.journal
        orig_submit = server.submit
        held = server._held       # the server's queue of event batches waiting for durability
        pending = self._pending_acks
        clock = time.perf_counter_ns
        count = self._count_commands

        def submit(rows: np.ndarray) -> int:
            t0 = clock()
            last = orig_submit(rows)
            # Only a submit whose events are held will be acknowledged; the sink pops it.
            if held and held[-1][0] == last:
                pending.append((last, t0))
            count(rows)
            return last

        server.submit = submit
        orig_append_many = journal.append_many
        append_hist = self.append_latency

        def append_many(*args):
            t0 = clock()
            try:
                return orig_append_many(*args)
            finally:
                append_hist.observe((clock() - t0) / 1e9)

        journal.append_many = append_many
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
        self.loop_lag_last.set(lag)
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
    def _count_commands(self, rows: np.ndarray) -> None:
        if len(rows) == 1:
            self._command_child(int(rows["kind"][0])).inc()
            self._session_child(int(rows["session"][0])).inc()
            return
        for k, n in zip(*np.unique(rows["kind"], return_counts=True)):
            self._command_child(int(k)).inc(int(n))
        for s, n in zip(*np.unique(rows["session"], return_counts=True)):
            self._session_child(int(s)).inc(int(n))

    def _command_child(self, kind: int):
        child = self._kind_children.get(kind)
        if child is None:
            child = self._kind_children[kind] = self.commands.labels(_kind_name(CommandKind, kind))
        return child

    def _session_child(self, sid: int):
        child = self._session_cmd_children.get(sid)
        if child is None:
            child = self._session_cmd_children[sid] = self.session_commands.labels(
                self.session_names.get(sid, str(sid)))
        return child

    def on_events(self, events: np.ndarray) -> None:
        """Server sink: one durable batch (the events of one submit)."""
        now = time.perf_counter_ns()
        pending = self._pending_acks
        last = int(events["seq"][-1])
        while pending and pending[0][0] <= last:
            self.ack_latency.observe((now - pending.popleft()[1]) / 1e9)
        kinds = events["kind"]
        for k, n in zip(*np.unique(kinds, return_counts=True)):
            self.events.labels(_kind_name(EventKind, int(k))).inc(int(n))
        for s, n in zip(*np.unique(events["session"], return_counts=True)):
            self.session_events.labels(self.session_names.get(int(s), str(s))).inc(int(n))
        accepted = np.isin(kinds, _ORDER_ACCEPTED)
        if accepted.any():
            for i, n in zip(*np.unique(events["instrument"][accepted], return_counts=True)):
                self.orders.labels(self.symbols.get(int(i), str(i))).inc(int(n))
        fills = (kinds == EventKind.TRADE) & (events["liquidity"] == Liquidity.TAKER)
        if fills.any():
            for i, n in zip(*np.unique(events["instrument"][fills], return_counts=True)):
                self.fills.labels(self.symbols.get(int(i), str(i))).inc(int(n))
        for kind, label in _REJECTS.items():
            sel = kinds == kind
            if sel.any():
                for reason, n in zip(*np.unique(events["reason"][sel], return_counts=True)):
                    self.rejects.labels(label, _reason_name(int(reason))).inc(int(n))
        ends = np.isin(kinds, _ENDS)
        if ends.any():
            pairs = np.stack([kinds[ends].astype(np.int64), events["reason"][ends].astype(np.int64)])
            uniq, counts = np.unique(pairs, axis=1, return_counts=True)
            for (k, reason), n in zip(uniq.T, counts):
                self.ends.labels(EventKind(int(k)).name, _reason_name(int(reason))).inc(int(n))

    def render(self) -> bytes:
        self.drain_sync_samples()
        return generate_latest(self.registry)


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
