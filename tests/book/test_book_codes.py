"""The reference book's codes and layouts must be those of book.pxd, name by name."""
import pytest

from ordex.core import refbook

ENUMS = ["Side", "Op", "TimeInForce", "Stp", "EventKind", "CancelReason", "Result", "CommandFlag"]


@pytest.fixture(scope="module")
def compiled():
    import ordex.ext.book
    return ordex.ext.book


def members(enum_cls):
    return {name: int(value) for name, value in enum_cls.__members__.items()}


@pytest.mark.parametrize("name", ENUMS)
def test_enum_codes_agree(compiled, name):
    assert members(getattr(compiled, name)) == members(getattr(refbook, name))


def test_post_only_flag_agrees(compiled):
    assert int(compiled.FLAG_POST_ONLY) == int(refbook.FLAG_POST_ONLY) == 1


@pytest.mark.parametrize("name", ["COMMAND_DTYPE", "EVENT_DTYPE"])
def test_dtypes_agree(compiled, name):
    ours, theirs = getattr(refbook, name), getattr(compiled, name)
    assert theirs == ours
    assert theirs.itemsize == ours.itemsize == 56
    assert theirs.names == ours.names
    assert {f: theirs.fields[f][:2] for f in theirs.names} == \
           {f: ours.fields[f][:2] for f in ours.names}


def test_event_tuples_follow_event_dtype_order():
    assert refbook.EVENT_DTYPE.names == ("order_id", "other_id", "price", "qty", "leaves",
                                             "other_leaves", "instrument", "kind", "side",
                                             "reason")
