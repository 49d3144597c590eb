"""The one schema: layouts match the published sizes (ITCH against ordex's own ITCH parser's
table), every message encodes and decodes back, the dialects differ only where documented, and
the committed PROTOCOL.md is exactly what the schema generates."""
import pytest

from ordex.ext.itch import MESSAGE_SIZES
from ordex.gateway.binary import protocol_doc, schema

PUBLISHED_OUCH = {("client", "EnterOrder"): 47, ("client", "ReplaceOrder"): 40,
                  ("client", "CancelOrder"): 9, ("server", "SystemEvent"): 10,
                  ("server", "OrderAccepted"): 64, ("server", "OrderReplaced"): 68,
                  ("server", "OrderCanceled"): 18, ("server", "OrderExecuted"): 36,
                  ("server", "OrderRejected"): 29, ("server", "CancelReject"): 13}


def test_itch_layouts_have_the_published_sizes():
    for m in schema.ITCH:
        assert schema.layout("itch", "server", m.name).size == MESSAGE_SIZES[m.type], m.name


def test_ouch_and_soup_layouts_have_the_published_sizes():
    for (sender, name), size in PUBLISHED_OUCH.items():
        assert schema.layout("ouch", sender, name).size == size, name
    assert schema.layout("soup", "client", "LoginRequest").size == 47
    assert schema.layout("soup", "server", "LoginAccepted").size == 31


def test_ouch_connect_dialect_differs_only_in_symbols_and_order_canceled():
    for m in schema.OUCH_IN + schema.OUCH_OUT:
        a = schema.layout("ouch", m.sender, m.name, "nasdaq")
        b = schema.layout("ouch", m.sender, m.name, "ouch-connect")
        symbols = sum(1 for f in m.fields if f.type is schema.SYMBOL)
        extra = 4 if m.name == "OrderCanceled" else 0
        assert b.size - a.size == symbols + extra, m.name
    with pytest.raises(ValueError):
        schema.layout("ouch", "server", "OrderAccepted", "nasdaq5")


@pytest.mark.parametrize("m", schema.MESSAGES + tuple(schema.GROUPS.values()),
                         ids=lambda m: m.name)
def test_every_layout_round_trips(m):
    layer = "group" if isinstance(m, schema.Group) else m.layer
    sender = "client" if layer == "group" else (m.sender if m.sender != "both" else "server")
    lay = schema.layout(layer, sender, m.name)
    values = {}
    for k, f in enumerate(lay.fields):
        t = f.type
        if t.np.startswith("S") and t is not schema.CHAR:
            values[f.name] = (b"AB%d" % k)[:t.size]
        elif t is schema.CHAR:
            values[f.name] = b"Y"
        else:
            values[f.name] = (k + 1) * 3
    packed = lay.pack(**values)
    assert len(packed) == lay.size
    assert lay.unpack(packed) == values
    if layer != "group":
        assert packed[:1] == m.type
        import numpy as np
        rec = np.frombuffer(packed, dtype=lay.dtype)[0]      # the numpy view agrees with struct
        for f in lay.fields:
            if f.type.np == "6u1":
                assert int.from_bytes(bytes(rec[f.name]), "big") == values[f.name]
            elif f.type.np.startswith("S"):
                assert rec[f.name].strip() == values[f.name]
            else:
                assert rec[f.name] == values[f.name]


def test_alpha_fields_refuse_values_that_do_not_fit():
    lay = schema.layout("ouch", "client", "EnterOrder")
    with pytest.raises(ValueError, match="longer than 8"):
        lay.pack(Symbol="TOOLONGSYM")
    with pytest.raises(TypeError, match="unknown field"):
        lay.pack(Nope=1)


def test_protocol_doc_is_generated_from_the_schema():
    assert protocol_doc.DOC.read_text() == protocol_doc.render(), (
        "gateway/binary/PROTOCOL.md is stale: run python -m ordex.gateway.binary.protocol_doc")


def test_every_code_set_used_by_a_field_exists():
    for m in schema.MESSAGES + tuple(schema.GROUPS.values()):
        for f in m.fields:
            assert f.codes is None or f.codes in schema.CODES, (m.name, f.name)
