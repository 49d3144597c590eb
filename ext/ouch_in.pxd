# OUCH order entry's batch of engine commands (gateway/binary/ouch.py).  Behaviour: ouch_in.pyi.
from libc.stdint cimport int32_t, int64_t

from ordex.ext.engine cimport ECommand
from ordex.ext.idmap cimport IdMap


ctypedef packed struct Echo:          # ouch_codec.ECHO_DTYPE: what the client sent, echoed back
    char src                          # where the row came from (ouch_codec.SRC_*)
    char clordid[14]
    char capacity
    char ise
    char cross
    char display
    int64_t old_qty


cdef class CommandBatch:
    cdef ECommand* rows
    cdef Echo* echo
    cdef Py_ssize_t n, cap

    cdef int reserve(self, Py_ssize_t more) except -1


ctypedef struct Term:                 # a live order's terms, by UserRefNum
    int64_t ref
    int64_t instrument
    int64_t price
    int64_t qty


cdef class OrderTerms:
    cdef IdMap index                  # UserRefNum -> slot
    cdef Term* slots
    cdef int32_t* next_free
    cdef int32_t capacity, free_head
    cdef int64_t count

    cdef int grow(self) except -1
    cdef int put(self, int64_t ref, int64_t instrument, int64_t price, int64_t qty) except -1
    cdef bint drop(self, int64_t ref) noexcept


cdef class QuoteSides:
    cdef int64_t* cur                 # (2 * instrument + side - 1) -> current side's UserRefNum, -1
    cdef int64_t n_pos, count
    cdef IdMap of                     # UserRefNum -> position, of every quote side still tracked

    cdef int reserve_pos(self, int64_t pos) except -1
    cdef int mark(self, int64_t ref, int64_t pos) except -1
    cdef int64_t take(self, int64_t pos) noexcept
    cdef int put(self, int64_t pos, int64_t ref) except -1
    cdef bint unmark(self, int64_t ref) noexcept
    cdef void forget_c(self, int64_t ref) noexcept
