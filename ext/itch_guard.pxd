# Filters that need history across events (stale data, out-of-band prices) and the reference
# prices they maintain for the engine's risk checks.  Contract: itch_guard.pyi.
cimport cython
from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t


ctypedef struct Ref:
    int64_t last_px     # last printable trade in band
    int64_t last_ts
    int64_t mid_px      # mid of the last uncrossed two-sided quote in band, rounded down
    int64_t mid_ts
    int64_t oob_run     # consecutive out-of-band prices (trades or mids)


cdef enum:  # indexes of Guard._reasons
    G_STALE = 0
    G_OUT_OF_BAND = 1
    G_REANCHOR = 2
    G_N_REASONS = 3


@cython.final
cdef class Guard:
    cdef Ref* refs
    cdef uint8_t* dirty
    cdef Py_ssize_t n
    cdef public int64_t stale_ns
    cdef public int64_t band_bps
    cdef public int reanchor_after
    cdef uint64_t _reasons[G_N_REASONS]
    cdef int _ensure(self, int32_t instrument) except -1
    cdef int in_band(self, Ref* r, int64_t px) noexcept
