# int64 key -> int32 slot map: open addressing, linear probing, Fibonacci hashing (sequential ids
# spread evenly), backward-shift deletion (no tombstones, so probe chains never degrade).
# idmap_init_grouped keeps runs of 2**group consecutive keys in consecutive slots (the run is what
# Fibonacci hashing spreads): sequential order ids then share cache lines instead of each missing
# in a table sized for the whole pool (perf record: the engine's put was ~12% of an order).
# Inline in this .pxd so every module that cimports it compiles the probes into its own hot loops.
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.stdint cimport int32_t, int64_t, uint64_t
from libc.string cimport memset


ctypedef struct IdMap:
    int64_t* keys
    int32_t* vals       # -1 = empty slot
    int64_t mask
    int shift           # 64 - log2(capacity)
    int64_t count
    int group           # log2 of the run of consecutive keys homed side by side (0: none)


cdef inline int idmap_init(IdMap* m, int64_t min_capacity) except -1:
    cdef int64_t cap = 16
    while cap < 2 * min_capacity:
        cap <<= 1
    m.mask = cap - 1
    m.shift = 64
    while (<int64_t>1 << (64 - m.shift)) < cap:
        m.shift -= 1
    m.keys = <int64_t*>PyMem_Malloc(cap * sizeof(int64_t))
    m.vals = <int32_t*>PyMem_Malloc(cap * sizeof(int32_t))
    if m.keys == NULL or m.vals == NULL:
        raise MemoryError()
    memset(m.vals, 0xFF, cap * sizeof(int32_t))
    m.count = 0
    m.group = 0
    return 0


cdef inline int idmap_init_grouped(IdMap* m, int64_t min_capacity, int group) except -1:
    """idmap_init, with runs of 2**group consecutive keys homed in consecutive slots (at most
    half the table's bits, so that the runs themselves are still spread)."""
    idmap_init(m, min_capacity)
    m.group = min(group, (64 - m.shift) // 2)
    return 0


cdef inline void idmap_free(IdMap* m) noexcept:
    PyMem_Free(m.keys)
    PyMem_Free(m.vals)
    m.keys = NULL
    m.vals = NULL


cdef inline int64_t idmap_home(IdMap* m, int64_t key) noexcept:
    cdef int g = m.group
    return <int64_t>((((<uint64_t>key >> g) * <uint64_t>0x9E3779B97F4A7C15ULL) >> (m.shift + g)) << g
                     | (<uint64_t>key & ((<uint64_t>1 << g) - 1)))


cdef inline int32_t idmap_find(IdMap* m, int64_t key) noexcept:
    cdef int64_t i = idmap_home(m, key)
    while m.vals[i] != -1:
        if m.keys[i] == key:
            return m.vals[i]
        i = (i + 1) & m.mask
    return -1


cdef inline void idmap_put(IdMap* m, int64_t key, int32_t val) noexcept:
    """Insert a key known to be absent (capacity is sized for the pool it indexes)."""
    cdef int64_t i = idmap_home(m, key)
    while m.vals[i] != -1:
        i = (i + 1) & m.mask
    m.keys[i] = key
    m.vals[i] = val
    m.count += 1


cdef inline void idmap_del(IdMap* m, int64_t key) noexcept:
    """Remove a key known to be present."""
    cdef int64_t i = idmap_home(m, key), j, k
    while m.vals[i] == -1 or m.keys[i] != key:
        i = (i + 1) & m.mask
    j = i
    while True:
        j = (j + 1) & m.mask
        if m.vals[j] == -1:
            break
        k = idmap_home(m, m.keys[j])
        # j may move back to the hole at i unless its home lies cyclically in (i, j].
        if (j > i and (k <= i or k > j)) or (j < i and (k <= i and k > j)):
            m.keys[i] = m.keys[j]
            m.vals[i] = m.vals[j]
            i = j
    m.vals[i] = -1
    m.count -= 1
