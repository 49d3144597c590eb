"""The order lifecycle: one (state, event) -> state table governs every order state change.

States carry their FIX OrdStatus.  The compiled engine loads this same table into a C array when
it is constructed, so there is exactly one definition; an event the table does not allow for the
order's state is a bug, reported as `STATE -(EVENT)-> ?`.
"""
from __future__ import annotations

from enum import IntEnum


class OrderState(IntEnum):
    PENDING_NEW = 0        # OrdStatus A: received, risk and book not yet done
    NEW = 1                # 0: accepted, resting or working
    PARTIALLY_FILLED = 2   # 1
    FILLED = 3             # 2 (terminal)
    CANCELLED = 4          # 4 (terminal)
    REJECTED = 5           # 8 (terminal)
    EXPIRED = 6            # C (terminal)
    PENDING_TRIGGER = 7    # stop orders waiting for their trigger (FIX reports them as New, 0)


FIX_ORD_STATUS = {
    OrderState.PENDING_NEW: "A", OrderState.NEW: "0", OrderState.PARTIALLY_FILLED: "1",
    OrderState.FILLED: "2", OrderState.CANCELLED: "4", OrderState.REJECTED: "8",
    OrderState.EXPIRED: "C", OrderState.PENDING_TRIGGER: "0",
}

TERMINAL = frozenset({OrderState.FILLED, OrderState.CANCELLED, OrderState.REJECTED, OrderState.EXPIRED})


class LifecycleEvent(IntEnum):
    ACCEPT = 0          # passed risk, entered the book (or waits as a stop)
    REJECT = 1          # failed validation or risk
    PARTIAL_FILL = 2    # traded, quantity remains
    FILL = 3            # traded, nothing remains
    CANCEL = 4          # cancelled by its owner, a mass cancel, a kill switch, IOC/FOK remainder, STP
    REPLACE = 5         # new price/quantity; the order keeps living (ExecType 5)
    EXPIRE = 6          # DAY at session close, GTD at its time
    TRIGGER = 7         # stop price reached: the order enters the book
    PARK = 8            # a stop order (or OTO child) accepted but not yet active
    RESTATE = 9         # quantity reduced by the venue (self-trade decrement), order lives on


S, E = OrderState, LifecycleEvent

# (state, event) -> next state.  Each edge says why it exists.
TRANSITIONS: dict[tuple[OrderState, LifecycleEvent], OrderState] = {
    (S.PENDING_NEW, E.ACCEPT): S.NEW,                       # passed risk, rests or works
    (S.PENDING_NEW, E.REJECT): S.REJECTED,                  # failed validation or risk
    (S.PENDING_NEW, E.PARK): S.PENDING_TRIGGER,             # stop order waits for its trigger
    (S.PENDING_TRIGGER, E.TRIGGER): S.NEW,                  # stop price traded: enters the book
    (S.PENDING_TRIGGER, E.CANCEL): S.CANCELLED,             # cancelled while waiting
    (S.PENDING_TRIGGER, E.EXPIRE): S.EXPIRED,               # DAY/GTD ran out while waiting
    (S.PENDING_TRIGGER, E.REPLACE): S.PENDING_TRIGGER,      # new stop/limit terms while waiting
    (S.NEW, E.PARTIAL_FILL): S.PARTIALLY_FILLED,            # a maker or taker fill, some left
    (S.NEW, E.FILL): S.FILLED,                              # filled in one go
    (S.NEW, E.CANCEL): S.CANCELLED,                         # owner, mass cancel, kill switch, IOC rest
    (S.NEW, E.REPLACE): S.NEW,                              # cancel/replace keeps the order alive
    (S.NEW, E.EXPIRE): S.EXPIRED,                           # DAY at close, GTD at its time
    (S.NEW, E.RESTATE): S.NEW,                              # self-trade decrement left some quantity
    (S.PARTIALLY_FILLED, E.PARTIAL_FILL): S.PARTIALLY_FILLED,
    (S.PARTIALLY_FILLED, E.FILL): S.FILLED,
    (S.PARTIALLY_FILLED, E.CANCEL): S.CANCELLED,             # the filled part stays filled
    (S.PARTIALLY_FILLED, E.REPLACE): S.PARTIALLY_FILLED,     # cum qty carries over
    (S.PARTIALLY_FILLED, E.EXPIRE): S.EXPIRED,
    (S.PARTIALLY_FILLED, E.RESTATE): S.PARTIALLY_FILLED,
}


class IllegalTransition(RuntimeError):
    def __init__(self, state: OrderState, event: LifecycleEvent):
        super().__init__(f"{state.name} -({event.name})-> ?: no such edge in the lifecycle table")
        self.state, self.event = state, event


def next_state(state: OrderState, event: LifecycleEvent) -> OrderState:
    try:
        return TRANSITIONS[state, event]
    except KeyError:
        raise IllegalTransition(OrderState(state), LifecycleEvent(event)) from None


def table_matrix() -> list[list[int]]:
    """The table as rows[state][event] = next state or -1, for the compiled engine."""
    rows = [[-1] * len(LifecycleEvent) for _ in OrderState]
    for (state, event), nxt in TRANSITIONS.items():
        rows[state][event] = int(nxt)
    return rows
