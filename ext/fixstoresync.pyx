# cython: language_level=3
"""fdatasync for the FIX message stores on a C thread that never takes the GIL.

The acceptor syncs its sessions' stores every few milliseconds.  Done on a Python thread, each
fdatasync's return and the executor's bookkeeping need the GIL: with orders in flight, the
loop thread has to hand it over (sys.setswitchinterval) and wait to get it back, several times
per sync.  Here the loop thread hands a list of file descriptors to a C thread (a mutex and a
condition variable, held for microseconds), the thread syncs them, and the loop looks at the
outcome later from a timer (`done`, `error`): no GIL, no wake-up of the loop.

One round at a time: request() while a round is running raises RuntimeError.  The caller must
not close a descriptor of a running round (the acceptor waits for done() before closing).
"""
from libc.errno cimport errno
from libc.stdlib cimport free, malloc

cdef extern from "<unistd.h>" nogil:
    int fdatasync(int fd)

cdef extern from "<pthread.h>" nogil:
    ctypedef unsigned long pthread_t
    ctypedef struct pthread_mutex_t:
        pass
    ctypedef struct pthread_cond_t:
        pass
    int pthread_create(pthread_t *thread, void *attr, void *(*start)(void *) noexcept nogil,
                       void *arg)
    int pthread_join(pthread_t thread, void **retval)
    int pthread_mutex_init(pthread_mutex_t *m, void *attr)
    int pthread_mutex_destroy(pthread_mutex_t *m)
    int pthread_mutex_lock(pthread_mutex_t *m)
    int pthread_mutex_unlock(pthread_mutex_t *m)
    int pthread_cond_init(pthread_cond_t *c, void *attr)
    int pthread_cond_destroy(pthread_cond_t *c)
    int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
    int pthread_cond_signal(pthread_cond_t *c)

cdef enum:
    MAX_FDS = 4096

cdef struct State:
    pthread_mutex_t lock
    pthread_cond_t cond
    int fds[MAX_FDS]
    int nfds
    bint pending        # a round was requested and not yet taken by the thread
    bint running        # requested or being synced
    bint stop
    int error           # errno of the first failed fdatasync of the last finished round
    long long synced    # successful fdatasync calls so far


cdef void *_run(void *arg) noexcept nogil:
    cdef State *st = <State *>arg
    cdef int fds[MAX_FDS]
    cdef int n, i, err
    cdef long long ok
    while True:
        pthread_mutex_lock(&st.lock)
        while not st.pending and not st.stop:
            pthread_cond_wait(&st.cond, &st.lock)
        if not st.pending:
            pthread_mutex_unlock(&st.lock)
            return NULL
        n = st.nfds
        for i in range(n):
            fds[i] = st.fds[i]
        st.pending = False
        pthread_mutex_unlock(&st.lock)
        err = 0
        ok = 0
        for i in range(n):
            if fdatasync(fds[i]) == 0:
                ok += 1
            elif err == 0:
                err = errno
        pthread_mutex_lock(&st.lock)
        st.error = err
        st.synced += ok
        st.running = False
        pthread_mutex_unlock(&st.lock)


cdef class StoreSyncer:
    """See the module docstring."""
    cdef State *st
    cdef pthread_t thread
    cdef bint started

    def __cinit__(self):
        self.st = <State *>malloc(sizeof(State))
        if self.st == NULL:
            raise MemoryError()
        self.st.nfds = 0
        self.st.pending = self.st.running = self.st.stop = False
        self.st.error = 0
        self.st.synced = 0
        pthread_mutex_init(&self.st.lock, NULL)
        pthread_cond_init(&self.st.cond, NULL)
        cdef int rc = pthread_create(&self.thread, NULL, _run, self.st)
        if rc != 0:
            raise OSError(rc, "StoreSyncer: cannot start its thread")
        self.started = True

    def request(self, fds) -> None:
        """Start a round: fdatasync each descriptor in fds, in order."""
        cdef int n = len(fds), i
        if n > MAX_FDS:
            raise ValueError(f"at most {MAX_FDS} descriptors per round, got {n}")
        if not self.started:
            raise RuntimeError("StoreSyncer is closed")
        cdef int[MAX_FDS] tmp
        for i in range(n):
            tmp[i] = fds[i]
        pthread_mutex_lock(&self.st.lock)
        if self.st.running:
            pthread_mutex_unlock(&self.st.lock)
            raise RuntimeError("a sync round is still running")
        for i in range(n):
            self.st.fds[i] = tmp[i]
        self.st.nfds = n
        self.st.pending = self.st.running = True
        pthread_cond_signal(&self.st.cond)
        pthread_mutex_unlock(&self.st.lock)

    def done(self) -> bool:
        """True when no round is requested or running."""
        pthread_mutex_lock(&self.st.lock)
        cdef bint running = self.st.running
        pthread_mutex_unlock(&self.st.lock)
        return not running

    @property
    def error(self) -> int:
        """errno of the first failed fdatasync of the last finished round (0: all succeeded)."""
        pthread_mutex_lock(&self.st.lock)
        cdef int err = self.st.error
        pthread_mutex_unlock(&self.st.lock)
        return err

    @property
    def synced(self) -> int:
        """Successful fdatasync calls so far (for tests and metrics)."""
        pthread_mutex_lock(&self.st.lock)
        cdef long long n = self.st.synced
        pthread_mutex_unlock(&self.st.lock)
        return n

    def close(self) -> None:
        """Finish the running round (if any) and stop the thread."""
        self._stop_thread()

    cdef void _stop_thread(self) noexcept:
        if not self.started:
            return
        pthread_mutex_lock(&self.st.lock)
        self.st.stop = True
        pthread_cond_signal(&self.st.cond)
        pthread_mutex_unlock(&self.st.lock)
        with nogil:
            pthread_join(self.thread, NULL)
        self.started = False

    def __dealloc__(self):
        if self.st == NULL:
            return
        self._stop_thread()
        pthread_cond_destroy(&self.st.cond)
        pthread_mutex_destroy(&self.st.lock)
        free(self.st)
