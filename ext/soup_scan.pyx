"""SoupBinTCP packet scanning in C for clients (see soup_scan.pyi)."""
from libc.stdint cimport int64_t, uint8_t


def scan(const uint8_t[::1] buf, int64_t[::1] counts) -> int:
    """Count the Sequenced Data packets of buf by message type; returns where the complete
    packets end (a partial packet stays for the next read)."""
    if counts.shape[0] < 256:
        raise ValueError("counts needs 256 entries (one per message type byte)")
    cdef Py_ssize_t n = buf.shape[0], i = 0, end
    with nogil:
        while n - i >= 2:
            end = i + 2 + ((<Py_ssize_t>buf[i] << 8) | buf[i + 1])
            if end > n:
                break
            if buf[i + 2] == 0x53 and end > i + 3:        # S: Sequenced Data, with a message
                counts[buf[i + 3]] += 1
            i = end
    return i
