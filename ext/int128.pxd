# 128-bit integers for sums and products that can exceed int64 (level totals, notional).
cdef extern from *:
    """
    typedef __int128 ordex_i128;
    """
    # Cython treats it as a wide integer; C does the 128-bit arithmetic.  Convert to Python
    # through int(str) helpers or by narrowing to int64 after range checks, never implicitly.
    ctypedef long long i128 "ordex_i128"
