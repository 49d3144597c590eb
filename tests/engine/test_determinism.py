"""Determinism: the same command stream gives the same events and the same state hash, run after run,
one command per apply() or all in one batch; events carry only what the commands carried (seq,
ts_ns), never a clock of the engine's own."""
import hashlib
import random

import numpy as np
import pytest

from engine_helpers import ENGINES
from ordex.core.commands import COMMAND_DTYPE, CommandKind, command
from ordex.core.refengine import ReferenceEngine
from test_differential import MAX_ORDERS, Stream, refdata


@pytest.fixture(scope="module")
def recorded():
    """A 600-command stream (all kinds, some invalid), drawn once against the reference engine.
    The seed is one whose stream trades (operators' limit changes make some streams quiet)."""
    rnd = random.Random(20241216)
    guide = ReferenceEngine(refdata(), max_orders=MAX_ORDERS)
    stream = Stream(rnd.choice, rnd.randint, guide)
    rows = []
    for _ in range(600):
        row = stream.command()
        guide.apply(row)
        guide.take_events()
        rows.append(row[0])
    return np.array(rows, dtype=COMMAND_DTYPE)


def replay(engine_cls, commands, one_by_one=True):
    engine = engine_cls(refdata(), max_orders=MAX_ORDERS)
    events = []
    if one_by_one:
        for i in range(len(commands)):
            engine.apply(commands[i:i + 1].copy())
            events.extend(engine.take_events())
    else:
        engine.apply(commands.copy())
        events = engine.take_events()
    return events, engine.state_hash(), engine


def test_same_stream_same_events_and_hash(engine_cls, recorded):
    events1, hash1, _ = replay(engine_cls, recorded)
    events2, hash2, _ = replay(engine_cls, recorded)
    events3, hash3, _ = replay(engine_cls, recorded, one_by_one=False)
    assert sum(e[18] == 3 for e in events1) > 20        # the stream trades (kind 3 = TRADE)
    assert events1 == events2 == events3
    assert hash1 == hash2 == hash3


def test_both_engines_reach_the_same_hash(recorded):
    hashes = {name: replay(make(), recorded)[1] for name, make in ENGINES.items()}
    assert hashes["reference"] == hashes["compiled"]


def test_events_carry_the_commands_seq_and_ts(engine_cls, recorded):
    stamps = {int(r["seq"]): int(r["ts_ns"]) for r in recorded}
    events, _, _ = replay(engine_cls, recorded, one_by_one=False)
    assert all(stamps[e[0]] == e[1] for e in events)
    seqs = [e[0] for e in events]
    assert seqs == sorted(seqs)
    assert [e[2] for e in events] == list(range(1, len(events) + 1))   # exec ids 1, 2, 3, ...


def test_state_hash_is_blake2b_128_of_the_state_repr(engine_cls, recorded):
    _, h, engine = replay(engine_cls, recorded[:200])
    assert h == hashlib.blake2b(repr(engine.state()).encode(), digest_size=16).hexdigest()
    assert len(h) == 32


def test_hash_follows_the_state(engine_cls):
    a = engine_cls(refdata(), max_orders=MAX_ORDERS)
    b = engine_cls(refdata(), max_orders=MAX_ORDERS)
    assert a.state_hash() == b.state_hash()
    order = dict(seq=1, ts_ns=5, session=0, account=1, instrument=0, side=1, ord_type=2, tif=1,
                 price=100, qty=1, clordid="x")
    a.apply(command(CommandKind.NEW_ORDER, **order))
    assert a.state_hash() != b.state_hash()
    b.apply(command(CommandKind.NEW_ORDER, **dict(order, price=99)))
    assert a.state_hash() != b.state_hash()
    b.apply(command(CommandKind.CANCEL, seq=2, ts_ns=5, session=0, order_id=1, clordid="y"))
    a.apply(command(CommandKind.CANCEL, seq=2, ts_ns=5, session=0, order_id=1, clordid="y"))
    assert a.state()[2:] == b.state()[2:]               # both empty again; only exec ids may differ
    assert a.state() == b.state() and a.state_hash() == b.state_hash()


def test_take_events_clears_and_state_is_untouched_by_reading(engine_cls, recorded):
    _, h, engine = replay(engine_cls, recorded[:300], one_by_one=False)
    engine.events_array()
    engine.state()
    engine.order(1)
    engine.account(0)
    assert engine.state_hash() == h
    assert engine.take_events() == []


def test_bad_command_arrays_are_refused_without_harm(engine_cls):
    engine = engine_cls(refdata(), max_orders=MAX_ORDERS)
    before = engine.state_hash()
    with pytest.raises(TypeError):
        engine.apply(np.zeros(2, dtype=np.int64))
    assert engine.state_hash() == before
    assert engine.apply(np.zeros(0, dtype=COMMAND_DTYPE)) == 0
    assert engine.apply(np.zeros(3, dtype=COMMAND_DTYPE)) == 0     # kind 0: nothing happens
    assert engine.state_hash() == before
