"""Stale and out-of-band filters over normalised event batches; reference prices.
Contract: itch_guard.pyi."""
from libc.stdint cimport int32_t, int64_t, uint8_t
from libc.stdlib cimport free, realloc
from libc.string cimport memset

from ordex.ext.itch_levels cimport (
    F_CROSSED, F_NON_PRINTABLE, F_OUT_OF_BAND, F_STALE, QUOTE, ST_RESET, STATUS, TRADE, Event,
)

REASON_NAMES = ("stale", "out_of_band", "band_reanchor")
assert len(REASON_NAMES) == G_N_REASONS


cdef class Guard:
    """Flags stale and out-of-band events in place and keeps reference prices per instrument.

    stale_ns:       an event whose receive time exceeds its exchange time by more is F_STALE
                    (0 disables).  Stale trades and quotes do not move reference prices.
    band_bps:       a trade price, or a quote's mid, further than this from the reference (the
                    newer of last trade and mid) is F_OUT_OF_BAND and ignored (0 disables) ...
    reanchor_after: ... unless it is the n-th such price in a row: the market really moved, so the
                    reference follows it (counted as band_reanchor).
    """

    def __cinit__(self, int64_t stale_ns=0, int64_t band_bps=0, int reanchor_after=5):
        if stale_ns < 0 or band_bps < 0 or reanchor_after < 1:
            raise ValueError("stale_ns and band_bps must be >= 0, reanchor_after >= 1")
        self.refs = NULL
        self.dirty = NULL
        self.n = 0
        self.stale_ns = stale_ns
        self.band_bps = band_bps
        self.reanchor_after = reanchor_after
        memset(self._reasons, 0, sizeof(self._reasons))

    def __dealloc__(self):
        free(self.refs)
        free(self.dirty)

    cdef int _ensure(self, int32_t instrument) except -1:
        cdef Py_ssize_t want, old = self.n
        cdef Ref* r
        cdef uint8_t* d
        if instrument < old:
            return 0
        want = max(instrument + 1, 2 * old, 16)
        r = <Ref*>realloc(self.refs, want * sizeof(Ref))
        if r == NULL:
            raise MemoryError("Guard reference table")
        self.refs = r
        d = <uint8_t*>realloc(self.dirty, want)
        if d == NULL:
            raise MemoryError("Guard reference table")
        self.dirty = d
        memset(&self.refs[old], 0, (want - old) * sizeof(Ref))
        memset(&self.dirty[old], 0, want - old)
        self.n = want
        return 0

    cdef int in_band(self, Ref* r, int64_t px) noexcept:
        cdef int64_t ref = r.last_px if r.last_ts >= r.mid_ts else r.mid_px
        cdef int64_t diff, limit
        if self.band_bps == 0 or ref <= 0:
            return 1
        diff = px - ref if px >= ref else ref - px
        # limit = ref * band_bps / 10000 without overflowing int64
        limit = (ref // 10000) * self.band_bps + (ref % 10000) * self.band_bps // 10000
        return 1 if diff <= limit else 0

    def process(self, Event[::1] events not None):
        """Flag the batch's events in place and update the reference prices from it."""
        cdef Py_ssize_t i
        cdef Event* e
        cdef Ref* r
        cdef int64_t px
        for i in range(events.shape[0]):
            e = &events[i]
            if e.instrument < 0:
                continue
            if self.stale_ns and e.recv_ns - e.ts_ns > self.stale_ns:
                e.flags |= F_STALE
                self._reasons[G_STALE] += 1
            if e.kind == STATUS:
                if e.action == ST_RESET and e.instrument < self.n:
                    self.refs[e.instrument].mid_px = 0
                    self.refs[e.instrument].mid_ts = 0
                continue
            if e.kind == TRADE:
                if e.flags & (F_NON_PRINTABLE | F_STALE) or e.price <= 0:
                    continue
                px = e.price
            elif e.kind == QUOTE:
                if e.flags & (F_CROSSED | F_STALE) or e.price <= 0 or e.price2 <= 0:
                    continue
                px = e.price + (e.price2 - e.price) // 2
            else:
                continue
            self._ensure(e.instrument)
            r = &self.refs[e.instrument]
            if not self.in_band(r, px):
                r.oob_run += 1
                if r.oob_run < self.reanchor_after:
                    e.flags |= F_OUT_OF_BAND
                    self._reasons[G_OUT_OF_BAND] += 1
                    continue
                self._reasons[G_REANCHOR] += 1
            r.oob_run = 0
            if e.kind == TRADE:
                r.last_px = px
                r.last_ts = e.ts_ns
            else:
                r.mid_px = px
                r.mid_ts = e.ts_ns
            self.dirty[e.instrument] = 1

    def last(self, int32_t instrument):
        """(price, ts_ns) of the last trade in band, or None."""
        if 0 <= instrument < self.n and self.refs[instrument].last_ts:
            return (self.refs[instrument].last_px, self.refs[instrument].last_ts)
        return None

    def mid(self, int32_t instrument):
        """(price, ts_ns) of the last uncrossed mid in band (rounded down), or None."""
        if 0 <= instrument < self.n and self.refs[instrument].mid_ts:
            return (self.refs[instrument].mid_px, self.refs[instrument].mid_ts)
        return None

    def mark(self, int32_t instrument):
        """The newer of last() and mid() (the trade on a tie), or None."""
        cdef Ref* r
        if not (0 <= instrument < self.n):
            return None
        r = &self.refs[instrument]
        if r.last_ts == 0 and r.mid_ts == 0:
            return None
        if r.last_ts >= r.mid_ts:
            return (r.last_px, r.last_ts)
        return (r.mid_px, r.mid_ts)

    def known(self):
        """Instrument ids with a reference price."""
        cdef Py_ssize_t i
        return [i for i in range(self.n) if self.refs[i].last_ts or self.refs[i].mid_ts]

    def changed(self):
        """Instrument ids whose reference moved since the previous call."""
        cdef Py_ssize_t i
        out = [i for i in range(self.n) if self.dirty[i]]
        memset(self.dirty, 0, self.n)
        return out

    def reasons(self):
        return {REASON_NAMES[i]: self._reasons[i] for i in range(G_N_REASONS) if self._reasons[i]}
