"""The lifecycle table: every legal edge, every illegal (state, event) pair, terminal states."""
import itertools

import pytest

from ordex.core.lifecycle import (FIX_ORD_STATUS, TERMINAL, TRANSITIONS, IllegalTransition,
                                  LifecycleEvent, OrderState, next_state, table_matrix)

S, E = OrderState, LifecycleEvent

# Written out from DESIGN.md's lifecycle, independently of the table under test.
EXPECTED_EDGES = {
    (S.PENDING_NEW, E.ACCEPT): S.NEW,
    (S.PENDING_NEW, E.REJECT): S.REJECTED,
    (S.PENDING_NEW, E.PARK): S.PENDING_TRIGGER,
    (S.PENDING_TRIGGER, E.TRIGGER): S.NEW,
    (S.PENDING_TRIGGER, E.CANCEL): S.CANCELLED,
    (S.PENDING_TRIGGER, E.EXPIRE): S.EXPIRED,
    (S.PENDING_TRIGGER, E.REPLACE): S.PENDING_TRIGGER,
    (S.NEW, E.PARTIAL_FILL): S.PARTIALLY_FILLED,
    (S.NEW, E.FILL): S.FILLED,
    (S.NEW, E.CANCEL): S.CANCELLED,
    (S.NEW, E.REPLACE): S.NEW,
    (S.NEW, E.EXPIRE): S.EXPIRED,
    (S.NEW, E.RESTATE): S.NEW,
    (S.PARTIALLY_FILLED, E.PARTIAL_FILL): S.PARTIALLY_FILLED,
    (S.PARTIALLY_FILLED, E.FILL): S.FILLED,
    (S.PARTIALLY_FILLED, E.CANCEL): S.CANCELLED,
    (S.PARTIALLY_FILLED, E.REPLACE): S.PARTIALLY_FILLED,
    (S.PARTIALLY_FILLED, E.EXPIRE): S.EXPIRED,
    (S.PARTIALLY_FILLED, E.RESTATE): S.PARTIALLY_FILLED,
}

ILLEGAL = sorted(set(itertools.product(S, E)) - set(EXPECTED_EDGES))


def test_table_is_exactly_the_expected_edges():
    assert TRANSITIONS == EXPECTED_EDGES


@pytest.mark.parametrize("edge", sorted(EXPECTED_EDGES), ids=lambda e: f"{e[0].name}-{e[1].name}")
def test_legal_edge(edge):
    state, event = edge
    assert next_state(state, event) == EXPECTED_EDGES[edge]
    assert next_state(int(state), int(event)) == EXPECTED_EDGES[edge]   # plain ints, as engines pass


@pytest.mark.parametrize("pair", ILLEGAL, ids=lambda p: f"{p[0].name}-{p[1].name}")
def test_illegal_pair_raises(pair):
    state, event = pair
    with pytest.raises(IllegalTransition) as info:
        next_state(int(state), int(event))
    assert str(info.value).startswith(f"{state.name} -({event.name})-> ?")
    assert (info.value.state, info.value.event) == (state, event)


def test_every_state_has_illegal_events_covered():
    # Sanity of the parametrization above: each state has at least one illegal event tested.
    assert {s for s, _ in ILLEGAL} == set(S)


@pytest.mark.parametrize("state", sorted(TERMINAL), ids=lambda s: s.name)
def test_terminal_states_have_no_outgoing_edges(state):
    assert not [e for (s, e) in TRANSITIONS if s == state]
    for event in E:
        with pytest.raises(IllegalTransition):
            next_state(state, event)


def test_terminal_set():
    assert TERMINAL == {S.FILLED, S.CANCELLED, S.REJECTED, S.EXPIRED}


def test_no_edge_returns_to_pending_new():
    assert S.PENDING_NEW not in TRANSITIONS.values()


def test_matrix_matches_table():
    rows = table_matrix()
    assert len(rows) == len(S) and all(len(r) == len(E) for r in rows)
    for s, e in itertools.product(S, E):
        assert rows[s][e] == (int(EXPECTED_EDGES[s, e]) if (s, e) in EXPECTED_EDGES else -1)


def test_fix_ord_status_covers_every_state():
    assert set(FIX_ORD_STATUS) == set(S)
    assert FIX_ORD_STATUS[S.PENDING_TRIGGER] == "0"   # stops report as New
    assert FIX_ORD_STATUS[S.EXPIRED] == "C"


def test_unknown_state_value_is_an_error_not_a_crash():
    with pytest.raises(ValueError):
        next_state(99, E.ACCEPT)
