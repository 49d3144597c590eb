# Big-endian integers in wire buffers (SoupBinTCP, OUCH, ITCH), inline in every module that
# cimports them.
from libc.stdint cimport uint8_t, uint64_t


cdef inline void put_be(char* p, uint64_t v, int width) noexcept:
    """The low `width` bytes of v at p, most significant first."""
    cdef int k
    for k in range(width - 1, -1, -1):
        p[k] = <char>v
        v >>= 8


cdef inline uint64_t get_be(const uint8_t* p, int width) noexcept:
    cdef uint64_t v = 0
    cdef int k
    for k in range(width):
        v = (v << 8) | p[k]
    return v
