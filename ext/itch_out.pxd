# The ITCH 5.0 feed's encoder and its published view of the book (gateway/binary/itch_feed.py).
# Behaviour: itch_out.pyi.  Message layouts come from gateway/binary/schema.py at construction.
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t

from ordex.ext.idmap cimport IdMap


# one ITCH message inside its Sequenced Data packet: size and field offsets (-1: absent)
ctypedef struct MsgLayout:
    int size
    char type
    int locate
    int timestamp
    int ref              # OrderReferenceNumber / OriginalOrderReferenceNumber
    int ref2             # NewOrderReferenceNumber
    int side
    int shares           # Shares / ExecutedShares / CanceledShares
    int stock
    int price
    int match


# a displayed resting order as published
ctypedef struct Shown:
    int64_t oid
    int64_t ref
    int64_t price4
    int64_t shown
    int32_t prev, next   # insertion (time priority) order; -1 at the ends
    uint16_t locate
    char side


cdef class ItchEncoder:
    cdef MsgLayout add, exe, cxl, dele, rep, trd
    cdef IdMap index                 # order id -> slot
    cdef Shown* slots
    cdef int32_t capacity, free_head, head, tail
    cdef int64_t count
    cdef readonly int64_t next_ref   # references of orders that re-enter the book
    cdef readonly int64_t match      # match numbers
    cdef int64_t* pstep              # by instrument: wire price per tick (0: not on the wire)
    cdef char* stocks                # by instrument: 8 bytes, space padded
    cdef int32_t n_instruments
    cdef char* out
    cdef Py_ssize_t out_cap

    cdef int grow(self) except -1
    cdef int32_t put(self, int64_t oid, int64_t ref, uint16_t locate, char side, int64_t price4,
                     int64_t shown) except -1
    cdef void drop(self, int32_t slot) noexcept
    cdef int reserve(self, Py_ssize_t nbytes) except -1
