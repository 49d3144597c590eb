# Engine events -> FIX ExecutionReports in batches: the C side of gateway/fix/application.py's
# outbound path.  Behaviour: fixreports.pyi.  Events are read at offsets taken from
# core/events.py's EVENT_DTYPE at import; messages are written by the session's FixEncoder
# (its precomputed header fragment), so the codec stays the one place that frames FIX.
from libc.stdint cimport int32_t, int64_t, uint8_t

from ordex.ext.fixcodec cimport FixEncoder


cdef class SessionOut:
    cdef readonly object session       # the FixSession (gateway/fix/session_core.py)
    cdef FixEncoder enc
    cdef readonly bint fix42
    cdef bint open                     # a batch is being collected
    cdef int64_t first_seq             # MsgSeqNum of the batch's first message
    cdef int64_t next_seq
    cdef int64_t now_ns                # SendingTime of the batch
    cdef uint8_t sending_time[48]      # "52=<now_ns>\x01" once written (len 0: not yet)
    cdef Py_ssize_t sending_time_len
    cdef uint8_t* frames               # the messages as sent, back to back
    cdef Py_ssize_t frames_len, frames_cap
    cdef uint8_t* records              # the same as message store records (u32 length, u64 seq)
    cdef Py_ssize_t records_len, records_cap
    cdef int64_t* offsets              # offset of each record in `records`
    cdef Py_ssize_t count, offsets_cap

    cdef int start(self, list touched) except -1
    cdef int add_frame(self) except -1
    cdef int commit(self) except -1


cdef class ReportWriter:
    cdef list symbols                  # per instrument id: symbol bytes
    cdef list account_names            # per account id: name bytes
    cdef int64_t* grids                # per instrument: price decimals, step, qty decimals, step
    cdef Py_ssize_t n_instruments
    cdef uint8_t exec44[256]           # EventKind -> ExecType (FIX 4.4), 0: not a report
    cdef uint8_t exec42[256]           # the same for FIX 4.2
    cdef uint8_t ord_status[256]       # OrderState -> OrdStatus
    cdef uint8_t ord_types[256]        # OrdType -> OrdType(40), 0: left out
    cdef uint8_t tifs[256]             # Tif -> TimeInForce(59), 0: left out
    cdef list texts                    # per reason code: Text(58) bytes, None: unknown code
    cdef list ord_rej                  # per reason code: OrdRejReason(103)
    cdef int64_t transact_ns           # TransactTime(60) last written: reports of one command
    cdef int transact_digits           # share it
    cdef uint8_t transact[48]
    cdef Py_ssize_t transact_len

    cdef int add(self, SessionOut out, const uint8_t* ev, int kind, list touched) except -1
    cdef int report(self, SessionOut out, const uint8_t* ev, int kind) except -1
    cdef int timestamp(self, FixEncoder enc, int32_t tag, int64_t ts_ns, int digits,
                       uint8_t* cache, Py_ssize_t* cache_len) except -1
