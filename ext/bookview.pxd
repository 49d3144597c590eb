# An aggregated price-level view of the book built from the server's durable book events (the
# market data FIX sessions may see).  Behaviour: bookview.pyi.  Orders and levels live in C pools
# indexed by IdMaps (idmap.pxd): one map order id -> order, one per instrument and side price ->
# level.  Book events are read at offsets taken from ordex.ext.book's EVENT_DTYPE at import.
from libc.stdint cimport int32_t, int64_t, uint8_t

from ordex.ext.idmap cimport IdMap


ctypedef struct ViewOrder:
    int64_t price
    int64_t shown                  # visible quantity on its level
    int64_t hidden                 # reserve (iceberg) quantity
    int32_t inst
    int32_t next_free
    uint8_t side


ctypedef struct ViewLevel:
    int64_t price
    int64_t qty
    int64_t count
    int32_t next_free


cdef class BookView:
    cdef readonly Py_ssize_t n_instruments
    cdef IdMap orders
    cdef ViewOrder* opool
    cdef int32_t ocap, ofree
    cdef IdMap* levels             # [2 * instrument + side - 1]
    cdef ViewLevel* lpool
    cdef int32_t lcap, lfree

    cdef int32_t new_order(self) except -1
    cdef int32_t new_level(self) except -1
    cdef int grow_map(self, IdMap* m) except -1
    cdef int add(self, int32_t inst, int side, int64_t price, int64_t delta, int count_delta) except -1
    cdef IdMap* side_map(self, int32_t inst, int side) except NULL
    cdef int drop(self, int64_t order_id, int32_t slot) except -1
