"""OUCH order entry's batch of engine commands, built in C (see ouch_in.pyi)."""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_Free, PyMem_Realloc
from libc.stdint cimport int32_t, int64_t, uint8_t
from libc.string cimport memcpy, memset

from ordex.ext.engine cimport CLORDID_LEN, ECommand

import numpy as np

from ordex.core.commands import COMMAND_DTYPE

assert COMMAND_DTYPE.itemsize == sizeof(ECommand), "COMMAND_DTYPE must mirror struct ECommand"

ECHO_DTYPE = np.dtype([("src", "S1"), ("clordid", "S14"), ("capacity", "S1"), ("ise", "S1"),
                       ("cross", "S1"), ("display", "S1"), ("old_qty", "<i8")])
assert ECHO_DTYPE.itemsize == sizeof(Echo), "ECHO_DTYPE must mirror struct Echo"


cdef inline void text(char* dst, Py_ssize_t width, bytes value, char pad) noexcept:
    """value into a fixed-width field, cut to width, padded with pad."""
    cdef Py_ssize_t k = min(PyBytes_GET_SIZE(value), width)
    memcpy(dst, PyBytes_AS_STRING(value), k)
    memset(dst + k, pad, width - k)


cdef inline char one(bytes value, char default) noexcept:
    return PyBytes_AS_STRING(value)[0] if PyBytes_GET_SIZE(value) else default


cdef class CommandBatch:
    def __cinit__(self):
        self.rows = NULL
        self.echo = NULL
        self.n = self.cap = 0

    def __dealloc__(self):
        PyMem_Free(self.rows)
        PyMem_Free(self.echo)

    def __len__(self):
        return self.n

    @property
    def count(self) -> int:
        return self.n

    cdef int reserve(self, Py_ssize_t more) except -1:
        cdef Py_ssize_t cap = max(self.cap, 16)
        if self.n + more <= self.cap:
            return 0
        while cap < self.n + more:
            cap *= 2
        rows = <ECommand*>PyMem_Realloc(self.rows, cap * sizeof(ECommand))
        if rows == NULL:
            raise MemoryError()
        self.rows = rows
        echo = <Echo*>PyMem_Realloc(self.echo, cap * sizeof(Echo))
        if echo == NULL:
            raise MemoryError()
        self.echo = echo
        self.cap = cap
        return 0

    def command(self, uint8_t kind, int32_t session, *, int32_t account=0, int32_t instrument=0,
                uint8_t side=0, uint8_t ord_type=0, uint8_t tif=0, int64_t price=0,
                int64_t qty=0, int64_t display=0, uint8_t flags=0, uint8_t scope=0,
                bytes clordid=b"", bytes orig=b"", bytes src=b" ", bytes client_clordid=b"",
                bytes capacity=b"A", bytes ise=b"N", bytes cross=b"N", bytes shown=b"Y",
                int64_t old_qty=0) -> int:
        """Append one command (unset fields zero) and its echo record; returns its index."""
        self.reserve(1)
        cdef ECommand* c = &self.rows[self.n]
        cdef Echo* e = &self.echo[self.n]
        memset(c, 0, sizeof(ECommand))
        c.kind, c.session, c.account, c.instrument = kind, session, account, instrument
        c.side, c.ord_type, c.tif, c.flags, c.scope = side, ord_type, tif, flags, scope
        c.price, c.qty, c.display = price, qty, display
        text(c.clordid, CLORDID_LEN, clordid, 0)
        text(c.orig_clordid, CLORDID_LEN, orig, 0)
        e.src = one(src, b" "[0])
        text(e.clordid, 14, client_clordid, b" "[0])
        e.capacity = one(capacity, b"A"[0])
        e.ise = one(ise, b"N"[0])
        e.cross = one(cross, b"N"[0])
        e.display = one(shown, b"Y"[0])
        e.old_qty = old_qty
        self.n += 1
        return self.n - 1

    def add(self, rows, echo) -> int:
        """Append arrays of commands (COMMAND_DTYPE) and echo records (ECHO_DTYPE); returns the
        index of the first."""
        if rows.dtype != COMMAND_DTYPE or echo.dtype != ECHO_DTYPE or len(rows) != len(echo):
            raise TypeError("add(rows, echo): COMMAND_DTYPE and ECHO_DTYPE arrays of one length")
        cdef Py_ssize_t k = len(rows), first = self.n
        if k == 0:
            return first
        cdef const uint8_t[::1] r = np.ascontiguousarray(rows).view(np.uint8).reshape(-1)
        cdef const uint8_t[::1] e = np.ascontiguousarray(echo).view(np.uint8).reshape(-1)
        self.reserve(k)
        memcpy(&self.rows[first], &r[0], k * sizeof(ECommand))
        memcpy(&self.echo[first], &e[0], k * sizeof(Echo))
        self.n += k
        return first

    def build(self) -> tuple:
        """(commands, echo records) as new arrays."""
        rows = np.empty(self.n, dtype=COMMAND_DTYPE)
        echo = np.empty(self.n, dtype=ECHO_DTYPE)
        cdef uint8_t[::1] r, e
        if self.n:
            r = rows.view(np.uint8).reshape(-1)
            e = echo.view(np.uint8).reshape(-1)
            memcpy(&r[0], self.rows, self.n * sizeof(ECommand))
            memcpy(&e[0], self.echo, self.n * sizeof(Echo))
        return rows, echo
