"""FIX data dictionaries: the standard QuickFIX-format XML (FIX42.xml, FIX44.xml) read at load time.

The XML stays where the shared data lives; this module derives from it what the codec needs:
field tags, names, types and enumerations; per message type the allowed and required fields and
the repeating groups (delimiter, field order, nesting); header and trailer.  `schema()` turns
that into the flat C tables of `ordex.ext.fixcodec.FixSchema`, and `parser()` gives a
`FixParser` that checks what a session's `Validation` asks for, reporting FIX
SessionRejectReason codes with the offending tag (RefTagID) on each message.

Components are expanded in place.  A field inside a component is required only when the
component and every component around it are required (as QuickFIX does); inside a repeating
group, requiredness is relative to each entry of the group.
"""
from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from ordex.ext.fixcodec import TYPE_CODES, FixParser, FixSchema, Validate

ENV_DIR = "ORDEX_FIX_DICTIONARIES"
FILES = {"FIX.4.2": "FIX42.xml", "FIX.4.4": "FIX44.xml"}
# The shared data folder sits beside the work tree (../shared/data/fix from the repository root).
_CANDIDATES = (Path(__file__).resolve().parents[1].parent / "shared" / "data" / "fix",
               Path("/work/shared/data/fix"))


class DictionaryError(ValueError):
    """The XML is not a usable FIX dictionary; the message names the file and the element."""


@dataclass(frozen=True)
class FieldDef:
    tag: int
    name: str
    type: str
    enums: dict[bytes, str] = field(default_factory=dict)   # value -> description


@dataclass(frozen=True)
class Member:
    tag: int
    required: bool


@dataclass
class GroupDef:
    """A repeating group: its NumInGroup tag and, in dictionary order, the fields of one entry
    (the first is the delimiter that starts every entry; nested NumInGroup tags included)."""
    count_tag: int
    name: str
    required: bool
    members: list[Member]
    groups: dict[int, GroupDef]

    @property
    def delimiter(self) -> int:
        return self.members[0].tag


@dataclass
class MessageDef:
    msg_type: bytes
    name: str
    category: str
    members: list[Member]
    groups: dict[int, GroupDef]

    @property
    def required(self) -> list[int]:
        return [m.tag for m in self.members if m.required]

    @property
    def tags(self) -> set[int]:
        return {m.tag for m in self.members}


@dataclass(frozen=True)
class Validation:
    """Which dictionary checks a session applies to what it receives.  Framing, tag syntax,
    duplicate tags and repeating group shape are always checked."""
    required_fields: bool = True    # 1 Required tag missing
    unknown_tags: bool = True       # 0 Invalid tag number (not in the dictionary)
    tags_for_msg_type: bool = True  # 2 Tag not defined for this message type
    enum_values: bool = True        # 5 Value is incorrect
    value_types: bool = True        # 6 Incorrect data format for value
    field_order: bool = False       # 14 Tag specified out of required order (header, trailer)
    group_order: bool = False       # 15 Repeating group fields out of order (within an entry)
    msg_type: bool = True           # 11 Invalid MsgType
    allow_user_tags: bool = True    # tags >= 5000 pass the unknown / not-defined checks

    @property
    def flags(self) -> int:
        return ((Validate.V_REQUIRED if self.required_fields else 0)
                | (Validate.V_UNKNOWN_TAGS if self.unknown_tags else 0)
                | (Validate.V_TAGS_FOR_MSGTYPE if self.tags_for_msg_type else 0)
                | (Validate.V_ENUMS if self.enum_values else 0)
                | (Validate.V_TYPES if self.value_types else 0)
                | (Validate.V_FIELD_ORDER if self.field_order else 0)
                | (Validate.V_GROUP_ORDER if self.group_order else 0)
                | (Validate.V_MSGTYPE if self.msg_type else 0)
                | (Validate.V_ALLOW_USER_TAGS if self.allow_user_tags else 0))

    @classmethod
    def off(cls) -> Validation:
        return cls(False, False, False, False, False, False, False, False, True)


def dictionary_dir() -> Path:
    env = os.environ.get(ENV_DIR)
    if env:
        return Path(env)
    for candidate in _CANDIDATES:
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"no FIX dictionary folder: set {ENV_DIR} (tried "
                            + ", ".join(str(c) for c in _CANDIDATES) + ")")


@lru_cache(maxsize=8)
def load(version: str = "FIX.4.4", directory: str | None = None) -> FixDictionary:
    """The dictionary of a BeginString ("FIX.4.2", "FIX.4.4"), or of an XML file path."""
    if version.endswith(".xml"):
        return FixDictionary(Path(version))
    if version not in FILES:
        raise ValueError(f"no dictionary for {version!r}; known: {', '.join(FILES)}")
    return FixDictionary(Path(directory) if directory else dictionary_dir() / FILES[version])


class FixDictionary:
    def __init__(self, path: Path | str):
        self.path = Path(path)
        try:
            root = ET.parse(self.path).getroot()
        except (OSError, ET.ParseError) as e:
            raise DictionaryError(f"{self.path}: {e}") from e
        if root.tag != "fix":
            raise DictionaryError(f"{self.path}: root element is <{root.tag}>, not <fix>")
        kind = root.get("type", "FIX")
        self.begin_string = f"{kind}.{root.get('major')}.{root.get('minor')}".encode()
        self.fields: dict[int, FieldDef] = {}
        self.names: dict[str, int] = {}
        for f in self._section(root, "fields"):
            self._add_field(f)
        self._components = {c.get("name"): c for c in self._section(root, "components", True)}
        self.header = self._message(self._section(root, "header"), b"", "header", "header")
        self.trailer = self._message(self._section(root, "trailer"), b"", "trailer", "trailer")
        self.messages: dict[bytes, MessageDef] = {}
        for m in self._section(root, "messages"):
            msg_type = (m.get("msgtype") or "").encode()
            if not msg_type:
                raise DictionaryError(f"{self.path}: message {m.get('name')!r} has no msgtype")
            self.messages[msg_type] = self._message(m, msg_type, m.get("name"), m.get("msgcat", ""))
        self._schema: FixSchema | None = None

    def __repr__(self) -> str:
        return f"FixDictionary({self.begin_string.decode()}, {len(self.messages)} messages)"

    # -- reading the XML ----------------------------------------------------------------------

    def _section(self, root, name, optional=False):
        node = root.find(name)
        if node is None:
            if optional:
                return []
            raise DictionaryError(f"{self.path}: no <{name}> section")
        return list(node)

    def _add_field(self, f) -> None:
        try:
            tag = int(f.get("number"))
        except (TypeError, ValueError):
            raise DictionaryError(f"{self.path}: field {f.get('name')!r} has no valid number")
        name = f.get("name")
        if tag <= 0 or not name or tag in self.fields or name in self.names:
            raise DictionaryError(f"{self.path}: field {name!r} ({tag}) invalid or defined twice")
        enums = {v.get("enum").encode("latin-1"): v.get("description", "")
                 for v in f.findall("value") if v.get("enum")}
        self.fields[tag] = FieldDef(tag, name, f.get("type", "STRING").upper(), enums)
        self.names[name] = tag

    def tag(self, name: str) -> int:
        try:
            return self.names[name]
        except KeyError:
            raise KeyError(f"{self.begin_string.decode()}: no field named {name!r}") from None

    def _members(self, node, required_ctx: bool, stack: tuple[str, ...]):
        """Expand fields, groups and components of node into (members, groups)."""
        members: list[Member] = []
        groups: dict[int, GroupDef] = {}
        for child in node:
            req = required_ctx and child.get("required", "N") == "Y"
            name = child.get("name")
            if child.tag == "field":
                members.append(Member(self.tag(name), req))
            elif child.tag == "group":
                inner, inner_groups = self._members(child, True, stack)
                if not inner:
                    raise DictionaryError(f"{self.path}: group {name!r} is empty")
                count_tag = self.tag(name)
                groups[count_tag] = GroupDef(count_tag, name, req, inner, inner_groups)
                members.append(Member(count_tag, req))
            elif child.tag == "component":
                if name in stack:
                    raise DictionaryError(f"{self.path}: component {name!r} contains itself")
                if name not in self._components:
                    raise DictionaryError(f"{self.path}: unknown component {name!r}")
                inner, inner_groups = self._members(self._components[name], req, stack + (name,))
                members.extend(inner)
                groups.update(inner_groups)
            else:
                raise DictionaryError(f"{self.path}: unexpected <{child.tag}> in {node.get('name')!r}")
        return members, groups

    def _message(self, node, msg_type: bytes, name: str, category: str) -> MessageDef:
        try:
            members, groups = self._members(node, True, ())
        except KeyError as e:
            raise DictionaryError(f"{self.path}: {name}: {e.args[0]}") from None
        return MessageDef(msg_type, name, category, members, groups)

    # -- what the codec uses ------------------------------------------------------------------

    def message(self, msg_type: bytes) -> MessageDef:
        return self.messages[msg_type]

    def data_fields(self) -> list[tuple[int, int]]:
        """(Length tag, data tag) pairs: each DATA field and the LENGTH field that frames it."""
        pairs = []
        for f in self.fields.values():
            if f.type != "DATA":
                continue
            for suffix in ("Len", "Length"):
                length = self.fields.get(self.names.get(f.name + suffix, 0))
                if length is not None and length.type == "LENGTH":
                    pairs.append((length.tag, f.tag))
                    break
            else:
                raise DictionaryError(f"{self.path}: no length field for DATA field {f.name}")
        return pairs

    def schema(self) -> FixSchema:
        """The dictionary as FixSchema tables (built once)."""
        if self._schema is None:
            self._schema = self._build_schema()
        return self._schema

    def parser(self, validation: Validation = Validation(), max_message_size: int = 65536) -> FixParser:
        return FixParser(self.schema(), validate=validation.flags, max_message_size=max_message_size)

    def _build_schema(self) -> FixSchema:
        max_tag = max(self.fields)
        types = bytearray(max_tag + 1)
        for f in self.fields.values():
            types[f.tag] = TYPE_CODES.get(f.type, TYPE_CODES["STRING"])
        containers: list[tuple] = []
        memo: dict[tuple, int] = {}

        def add(members, required, order, groups, delimiter) -> int:
            group_refs = sorted((t, group_index(g)) for t, g in groups.items())
            key = (tuple(sorted(members)), tuple(required), tuple(order), tuple(group_refs), delimiter)
            if key not in memo:
                memo[key] = len(containers)
                containers.append((sorted(members), list(required), list(order), group_refs,
                                   delimiter))
            return memo[key]

        def group_index(g: GroupDef) -> int:
            return add({m.tag for m in g.members}, [m.tag for m in g.members if m.required],
                       [m.tag for m in g.members], g.groups, g.delimiter)

        def message_index(body: MessageDef | None) -> int:
            parts = [self.header] + ([body] if body else []) + [self.trailer]
            members = {m.tag for p in parts for m in p.members}
            required = [m.tag for p in parts for m in p.members if m.required]
            groups = {t: g for p in parts for t, g in p.groups.items()}
            return add(members, required, [], groups, 0)

        default = message_index(None)
        messages = {t: message_index(m) for t, m in self.messages.items()}
        enums = {f.tag: sorted(f.enums) for f in self.fields.values() if f.enums}
        return FixSchema(self.begin_string, max_tag, bytes(types), self.data_fields(), enums,
                         self.header.tags, self.trailer.tags, containers, messages, default)
