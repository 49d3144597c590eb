# OUCH order entry's batch of engine commands (gateway/binary/ouch.py).  Behaviour: ouch_in.pyi.
from libc.stdint cimport int64_t

from ordex.ext.engine cimport ECommand


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
