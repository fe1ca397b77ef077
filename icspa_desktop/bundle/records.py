"""The metadata files of a received bundle, parsed strictly: ``metadata/case.json``, ``items.json``, ``custody.json``.

Everything here is *untrusted* (named so) until the caller has checked the bag's signature, and even then
it is the partner's word: every field is type- and length-checked, markings must be known codes, ids and
hashes must have their exact shape, and anything malformed is refused with the file and field named
(RefusedInput), never guessed at. JSON with duplicate keys, NaN/Infinity or nesting deeper than a few
levels is refused, since parsers disagree on what such documents mean.
"""

from __future__ import annotations

import binascii
import functools
import gc
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeAlias, TypeVar

from icspa_desktop.bundle.tarwalk import shown_name
from icspa_desktop.custody import checkpoints as cp
from icspa_desktop.domain.enums import HandlingCode, InformationEvaluation, SourceEvaluation, Tlp
from icspa_desktop.domain.errors import RefusedInput, Text, _, english
from icspa_desktop.domain.evidence import Acquisition, Markings

PROOFS_FORMAT = "icspa-custody-proofs/v1"
CASE_JSON = "metadata/case.json"
ITEMS_JSON = "metadata/items.json"
CUSTODY_JSON = "metadata/custody.json"
READ_ON_IMPORT = frozenset({CASE_JSON, ITEMS_JSON, CUSTODY_JSON})  # the tag files an import holds and parses
MAX_SHORT = 300
MAX_TEXT = 10_000
MAX_PROOF_NODES = 64  # a tree of 2^63 leaves needs fewer
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_HEX = {"sha256": 64, "sha1": 40, "md5": 32}
_LOWER_HEX = re.compile(r"[0-9a-f]*")
_CONTROL = re.compile(r"[\x00-\x1f]")  # what a one-line field may not hold (C0 controls)


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _without_collections(parse: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run ``parse`` with the cycle collector paused. A bundle's records make hundreds of thousands of containers and
    no cycle; the collector's passes over them (and over all the import holds) were a quarter of the parse: the
    custody proofs of 20,004 events 3.3-3.6 s, 2.6-2.7 s without. Resumed after, unless it was paused already."""

    @functools.wraps(parse)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        enabled = gc.isenabled()
        gc.disable()
        try:
            return parse(*args, **kwargs)
        finally:
            if enabled:
                gc.enable()

    return run


class _Strict(json.JSONDecoder):
    def __init__(self) -> None:
        super().__init__(object_pairs_hook=_no_duplicates, parse_constant=_no_constant)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)  # built in C; only a document with a repeated key (fewer entries) is looked at again
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _value in pairs:
            if key in seen:
                raise ValueError(f"the key {key!r} occurs twice")
            seen.add(key)
    return result


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_CONTAINERS = (dict, list)


def _depth(value: Any, limit: int) -> bool:
    """Whether no value of the document lies more than ``limit`` levels below the root.

    Level by level over the containers only, without a Python call per value: this runs over every record of
    a bundle (two per custody event), and the recursive form was most of the time spent parsing them.
    """
    if limit < 0:
        return False
    level = [value] if isinstance(value, _CONTAINERS) else []
    for _level in range(limit):
        if not level:
            return True
        nested: list[Any] = []
        for container in level:
            values = container.values() if isinstance(container, dict) else container
            nested += [v for v in values if isinstance(v, _CONTAINERS)]
        level = nested
    return not any(level)  # a container at the limit holds values one level too deep unless it is empty


# Only a \uD800-\uDFFF escape can put a surrogate into the decoded document: the text itself was decoded as
# strict UTF-8, which refuses encoded surrogates. Documents without one (nearly all) skip the walk below.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _unpaired_surrogate(value: Any) -> bool:
    """Whether a string (or key) of the document holds an unpaired surrogate: JSON's ``\\ud800`` escapes decode to
    text that is not Unicode, which no UTF-8 file, database or signature can hold (it fails where it is encoded)."""
    if isinstance(value, str):
        return not _encodable(value)
    if isinstance(value, dict):
        return any(not _encodable(k) or _unpaired_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_unpaired_surrogate(v) for v in value)
    return False


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


Where: TypeAlias = str | Callable[[], str]  # what a refusal names; a callable is worded only when a refusal is made


def _worded(where: Where) -> str:
    return where if isinstance(where, str) else where()


def load_json(untrusted: bytes, name: Where, max_depth: int = 8) -> Any:
    """One strict JSON document (UTF-8, unique keys, no NaN, bounded nesting); RefusedInput naming ``name``."""
    try:
        value = _Strict().decode(untrusted.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise RefusedInput(_("{name} is not valid JSON ({error}).", name=_worded(name),
                             error=str(exc)[:120])) from None
    # A value can lie no deeper than the document has brackets: most records (a custody event's body) have fewer
    # than the bound, and skip the walk over their values.
    if untrusted.count(b"{") + untrusted.count(b"[") > max_depth and not _depth(value, max_depth):
        raise RefusedInput(_("{name} nests deeper than {depth} levels; it is not a bundle record.",
                             name=_worded(name), depth=max_depth))
    if _SURROGATE_ESCAPE.search(untrusted) is not None and _unpaired_surrogate(value):
        raise RefusedInput(_("{name} holds text that is not Unicode (an unpaired surrogate escape such as \\ud800).",
                             name=_worded(name)))
    return value


class _Fields:
    """Typed access to one untrusted JSON object, with errors that name the file and the record (``where``: worded
    only when an error is made, when given as a callable — a bundle has thousands of records, nearly all good)."""

    def __init__(self, value: Any, where: Where) -> None:
        self._where = where
        if not isinstance(value, dict):
            raise RefusedInput(_("{where} is not a JSON object.", where=self.where))
        self.data: dict[str, Any] = value

    @property
    def where(self) -> str:
        if not isinstance(self._where, str):
            self._where = self._where()
        return self._where

    def fail(self, key: str, what: str) -> RefusedInput:
        return RefusedInput(_("{where}: the field {key!r} {what}.", where=self.where, key=key, what=what))

    def text(self, key: str, limit: int = MAX_SHORT, *, required: bool = False, one_line: bool = True) -> str:
        value = self.data.get(key, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise self.fail(key, _("is not text"))
        if required and not value.strip():
            raise self.fail(key, _("is missing or empty"))
        if len(value) > limit:
            raise self.fail(key, _("is longer than {limit} characters", limit=limit))
        if one_line and _CONTROL.search(value) is not None:
            raise self.fail(key, _("holds control characters"))
        return value

    def file_name(self, key: str, limit: int, *, required: bool = False) -> str:
        """A file name or path as the sender's file system had it: any character but NUL (POSIX names may hold
        newlines, tabs and escapes; they are kept as they were, and shown escaped wherever they are shown)."""
        value = self.text(key, limit, required=required, one_line=False)
        if "\0" in value:
            raise self.fail(key, _("holds a NUL character, which no file name can"))
        return value

    def ident(self, key: str) -> str:
        value = self.text(key, 128, required=True)
        if not _ID.fullmatch(value):
            raise self.fail(key, _("is not an identifier ({value})", value=shown_name(value)))
        return value

    def integer(self, key: str, *, minimum: int = 0, maximum: int = (1 << 62)) -> int:
        value = self.data.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            raise self.fail(key, _("is not a whole number from {minimum} to {maximum}", minimum=minimum,
                                               maximum=maximum))
        return value

    def digest(self, key: str, *, required: bool = False) -> str:
        value = self.text(key, 128, required=required)
        if value and (len(value) != _HEX[key] or _LOWER_HEX.fullmatch(value) is None):
            raise self.fail(key, _("is not a lower-case hexadecimal {algorithm} digest", algorithm=key.upper()))
        return value

    def obj(self, key: str) -> _Fields:
        return _Fields(self.data.get(key), Text(f"{self.where} {key}", f"{english(self.where)} {key}"))

    def enum(self, key: str, parse: Callable[[str], Any], *, optional: bool = False) -> Any:
        value = self.text(key, 32)
        if optional and not value:
            return None
        try:
            return parse(value)
        except ValueError:
            raise self.fail(key, _("is not a known code ({value})", value=shown_name(value))) from None


def _markings(fields: _Fields, where: str) -> Markings:
    marks = Markings(
        handling_code=fields.enum("handling_code", HandlingCode),
        handling_text=fields.text("handling_text", MAX_TEXT, one_line=False),
        tlp=fields.enum("tlp", Tlp),
        source_evaluation=fields.enum("source_evaluation", SourceEvaluation, optional=True),
        information_evaluation=fields.enum("information_evaluation", InformationEvaluation, optional=True),
    )
    if marks.handling_code is HandlingCode.H3 and not marks.handling_text.strip():
        raise RefusedInput(_("{where} is marked H3 without the restriction stated in text.", where=where))
    return marks


@dataclass(frozen=True, slots=True)
class PartnerCase:
    id: str
    number: str
    title: str
    description: str
    lead_investigator: str
    jurisdiction: str
    legal_authority: str
    markings: Markings
    record: dict[str, Any]  # as received, kept verbatim


def parse_case(untrusted: bytes) -> PartnerCase:
    f = _Fields(load_json(untrusted, CASE_JSON), CASE_JSON)
    return PartnerCase(
        id=f.ident("id"), number=f.text("number", 64, required=True), title=f.text("title", MAX_SHORT, required=True),
        description=f.text("description", MAX_TEXT, one_line=False), lead_investigator=f.text("lead_investigator"),
        jurisdiction=f.text("jurisdiction"), legal_authority=f.text("legal_authority", MAX_TEXT, one_line=False),
        markings=_markings(f, f"{CASE_JSON} (the case)"), record=f.data)


@dataclass(frozen=True, slots=True)
class PartnerItem:
    id: str
    exhibit_number: str
    name: str
    original_path: str
    size: int
    hashes: dict[str, str]  # sha256 always; md5/sha1 when the partner computed them
    mime_type: str
    description: str
    markings: Markings
    acquisition: Acquisition
    parent_id: str | None
    payload: str  # "data/<id>"
    record: dict[str, Any]

    @property
    def sha256(self) -> str:
        return self.hashes["sha256"]


@_without_collections
def parse_items(untrusted: bytes) -> list[PartnerItem]:
    value = load_json(untrusted, ITEMS_JSON)
    if not isinstance(value, list) or not value:
        raise RefusedInput(_("{file} is not a non-empty list of item records.", file=ITEMS_JSON))
    items: list[PartnerItem] = []
    seen_ids: set[str] = set()
    seen_exhibits: set[str] = set()
    for number, entry in enumerate(value, 1):
        f = _Fields(entry, _("{file} record {number}", file=ITEMS_JSON, number=number))
        item_id = f.ident("id")
        exhibit = f.text("exhibit_number", 64, required=True)
        if item_id in seen_ids or exhibit in seen_exhibits:
            raise RefusedInput(_("{where} repeats the item id or exhibit number of an earlier record.", where=f.where))
        seen_ids.add(item_id)
        seen_exhibits.add(exhibit)
        if f.text("kind", 16) != "digital":
            raise f.fail("kind", _("is not 'digital' (only stored evidence travels in bundles)"))
        payload = f.text("payload", 200, required=True)
        if payload != f"data/{item_id}":
            raise f.fail("payload", _("does not name data/{item}", item=item_id))
        hashes = {"sha256": f.digest("sha256", required=True)}
        hashes.update({key: f.digest(key) for key in ("md5", "sha1") if f.digest(key)})
        acq = f.obj("acquisition")
        parent = f.data.get("parent_id")
        items.append(PartnerItem(
            id=item_id, exhibit_number=exhibit, name=f.file_name("name", 1024, required=True),
            original_path=f.file_name("original_path", 4096), size=f.integer("size"), hashes=hashes,
            mime_type=f.text("mime_type", 255), description=f.text("description", MAX_TEXT, one_line=False),
            markings=_markings(f.obj("markings"), f"{f.where} markings"),
            acquisition=Acquisition(**{key: acq.text(key) for key in Acquisition.__dataclass_fields__}),
            parent_id=None if parent is None else f.ident("parent_id"), payload=payload, record=f.data))
    _check_parent_links(items)
    return items


def _check_parent_links(items: list[PartnerItem]) -> None:
    """Parent links among the bundle's items must not loop (a parent outside the bundle is simply not here).

    Each item is walked once (a chain already known to end is not walked again): a hostile chain of 100,000
    items costs 100,000 steps, not their square."""
    parents = {i.id: i.parent_id for i in items}
    ends: set[str] = set()  # items whose chain of parents is known to end outside a loop
    for item in items:
        path: list[str] = []
        on_path: set[str] = set()
        current: str | None = item.id
        while current is not None and current in parents and current not in ends:
            if current in on_path:
                raise RefusedInput(_("{file}: the parent links of item {exhibit} lead back to itself (a cycle); the "
                                     "records are not consistent.", file=ITEMS_JSON,
                                     exhibit=shown_name(item.exhibit_number)))
            on_path.add(current)
            path.append(current)
            current = parents[current]
        ends.update(path)


def parents_first(items: list[PartnerItem]) -> list[PartnerItem]:
    """The items ordered so that a parent in the bundle comes before its children (links checked acyclic).

    Iterative: a chain of parents deeper than Python's recursion limit is a valid bundle, not a crash."""
    by_id = {i.id: i for i in items}
    ordered: list[PartnerItem] = []
    placed: set[str] = set()
    for item in items:
        chain: list[PartnerItem] = []
        current: PartnerItem | None = item
        while current is not None and current.id not in placed:
            chain.append(current)
            placed.add(current.id)  # links are acyclic (checked at parsing): each is reached once
            parent = current.parent_id
            current = by_id.get(parent) if parent is not None else None
        ordered.extend(reversed(chain))
    return ordered


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    text: bytes
    signature: bytes
    checkpoint: cp.Checkpoint


@dataclass(frozen=True, slots=True)
class PartnerEvent:
    leaf_index: int
    id: str
    body_bytes: bytes
    body: dict[str, Any]
    signature: bytes
    public_key: bytes
    inclusion_proof: list[bytes]


@dataclass(frozen=True, slots=True)
class PartnerCustody:
    checkpoint: SignedCheckpoint
    events: list[PartnerEvent]
    previous: SignedCheckpoint | None
    consistency_proof: list[bytes]


def _b64(f: _Fields, key: str, limit: int, value: Any = None) -> bytes:
    raw = f.data.get(key) if value is None else value
    if not isinstance(raw, str) or len(raw) > limit * 4 // 3 + 4:
        raise f.fail(key, _("is not base64 text of a plausible length"))
    try:
        # Strict base64 checked in C: the alphabet only, padding only at the end (stricter than b64decode's
        # validate, and a sixth of its time over the ~28,000 proof hashes of a 2,000-event bundle).
        return binascii.a2b_base64(raw, strict_mode=True)
    except (binascii.Error, ValueError):
        raise f.fail(key, _("is not valid base64")) from None


def _nodes(f: _Fields, key: str) -> list[bytes]:
    raw = f.data.get(key)
    if not isinstance(raw, list) or len(raw) > MAX_PROOF_NODES:
        raise f.fail(key, _("is not a list of proof hashes"))
    nodes = [_b64(f, key, 32, node) for node in raw]
    if any(len(node) != 32 for node in nodes):
        raise f.fail(key, _("holds a hash that is not 32 bytes"))
    return nodes


def _signed_checkpoint(f: _Fields) -> SignedCheckpoint:
    text = f.text("text", cp.MAX_CHECKPOINT_BYTES, required=True, one_line=False).encode("utf-8")
    signature = _b64(f, "signature_der_b64", 1 << 16)
    try:
        parsed = cp.parse_body(text)
    except RefusedInput as exc:
        raise RefusedInput(_("{where}: {error}", where=f.where, error=exc)) from None
    return SignedCheckpoint(text, signature, parsed)


# What refusals about one custody event name, worded only when one is made.
def _event_where(number: int) -> Callable[[], str]:
    return lambda: _("{file} event {number}", file=CUSTODY_JSON, number=number)


def _body_file(event: _Fields) -> Callable[[], str]:
    return lambda: _("{where} (signed body)", where=event.where)


def _body_record(event: _Fields) -> Callable[[], str]:
    return lambda: _("{where} signed body", where=event.where)


@_without_collections
def parse_custody(untrusted: bytes) -> PartnerCustody:
    f = _Fields(load_json(untrusted, CUSTODY_JSON), CUSTODY_JSON)
    if f.data.get("format") != PROOFS_FORMAT:
        raise f.fail("format", _("is not {format!r} (unknown custody proof format)", format=PROOFS_FORMAT))
    checkpoint = _signed_checkpoint(f.obj("checkpoint"))
    raw_events = f.data.get("events")
    if not isinstance(raw_events, list):
        raise f.fail("events", _("is not a list"))
    events: list[PartnerEvent] = []
    seen: set[int] = set()
    for number, entry in enumerate(raw_events, 1):
        e = _Fields(entry, _event_where(number))
        index = e.integer("leaf_index")
        if index in seen:
            raise e.fail("leaf_index", _("repeats an earlier event's"))
        seen.add(index)
        body_bytes = _b64(e, "event_b64", 1 << 20)
        body = _Fields(load_json(body_bytes, _body_file(e), max_depth=12), _body_record(e))
        if "event" in e.data and e.data["event"] != body.data:
            # What a partner without our tool reads (docs/verify_custody_proofs.py refuses it too): never another
            # story than the signed one.
            raise e.fail("event", _("(the readable copy) differs from the signed text 'event_b64'"))
        public_key = _b64(e, "public_key", 32)
        signature = _b64(e, "signature", 64)
        if len(public_key) != 32 or len(signature) != 64:
            raise RefusedInput(_("{where}: the public key or signature is not Ed25519-sized.", where=e.where))
        events.append(PartnerEvent(index, e.ident("id"), body_bytes, body.data, signature, public_key,
                                   _nodes(e, "inclusion_proof")))
    previous = None
    consistency: list[bytes] = []
    if "previous_checkpoint" in f.data:
        previous = _signed_checkpoint(f.obj("previous_checkpoint"))
        consistency = _nodes(f, "consistency_proof")
    return PartnerCustody(checkpoint, events, previous, consistency)
