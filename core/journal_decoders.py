"""What record types mean, for tools: names and payload decoders that `ordex journal inspect`
and `export` use to show records readably and to filter them by order id or account.

The journal itself never decodes payloads.  The module that defines a record type registers it:

    journal_decoders.register(1, "new_order", decode_new_order)   # payload -> dict

A decoder returns a flat dict of JSON-friendly values; the keys "order_id" and "account" (when
present) are what `inspect --order-id` / `--account` match.  Tools import PROVIDER_MODULES (and any
--decoder MODULE given) before reading, so registering on import is enough.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

# Modules that register record types on import.
PROVIDER_MODULES: tuple[str, ...] = ("ordex.core.sequencer",)

Decoder = Callable[[bytes], dict]


@dataclass(frozen=True)
class RecordKind:
    rtype: int
    name: str
    decode: Decoder | None


_KINDS: dict[int, RecordKind] = {}


def register(rtype: int, name: str, decode: Decoder | None = None, *, replace: bool = False) -> None:
    if not 0 <= rtype <= 0xFFFF:
        raise ValueError(f"record type must be in 0..65535, got {rtype}")
    if not name or not name.replace("_", "").isalnum():
        raise ValueError(f"record type name must be a word, got {name!r}")
    old = _KINDS.get(rtype)
    if old is not None and not replace and old != RecordKind(rtype, name, decode):
        raise ValueError(f"record type {rtype} is already registered as {old.name!r}")
    for kind in _KINDS.values():
        if kind.name == name and kind.rtype != rtype:
            raise ValueError(f"record type name {name!r} is already used by type {kind.rtype}")
    _KINDS[rtype] = RecordKind(rtype, name, decode)


def unregister(rtype: int) -> None:
    _KINDS.pop(rtype, None)


def type_name(rtype: int) -> str:
    kind = _KINDS.get(rtype)
    return kind.name if kind else f"type_{rtype}"


def type_by_name(text: str) -> int:
    """A record type given as a number or a registered name."""
    if text.isdigit():
        value = int(text)
        if value > 0xFFFF:
            raise ValueError(f"record type must be in 0..65535, got {value}")
        return value
    for kind in _KINDS.values():
        if kind.name == text:
            return kind.rtype
    known = ", ".join(sorted(k.name for k in _KINDS.values())) or "none registered"
    raise ValueError(f"unknown record type {text!r} (known: {known})")


def decode(rtype: int, payload: bytes) -> dict | None:
    """The payload's fields, None when no decoder is registered.  A decoder that fails on a payload
    yields {"decode_error": ...} rather than stopping the tool: the journal is evidence."""
    kind = _KINDS.get(rtype)
    if kind is None or kind.decode is None:
        return None
    try:
        fields = kind.decode(payload)
    except Exception as exc:  # noqa: BLE001 - report and go on
        return {"decode_error": f"{type(exc).__name__}: {exc}"}
    if not isinstance(fields, dict):
        return {"decode_error": f"decoder returned {type(fields).__name__}, not dict"}
    return fields


def has_decoders() -> bool:
    return any(k.decode is not None for k in _KINDS.values())


def load_providers(extra: Iterable[str] = ()) -> None:
    for module in (*PROVIDER_MODULES, *extra):
        importlib.import_module(module)
