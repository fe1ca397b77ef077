"""Identifiers are NewTypes so that a case id cannot be passed where a user id is meant."""

from __future__ import annotations

import uuid
from typing import NewType

UserId = NewType("UserId", str)
CaseId = NewType("CaseId", str)
ItemId = NewType("ItemId", str)
EventId = NewType("EventId", str)
VaultId = NewType("VaultId", str)


def new_id() -> str:
    """A random, opaque identifier (UUID4, hex with dashes)."""
    return str(uuid.uuid4())


def new_user_id() -> UserId:
    return UserId(new_id())


def new_case_id() -> CaseId:
    return CaseId(new_id())


def new_item_id() -> ItemId:
    return ItemId(new_id())


def new_event_id() -> EventId:
    return EventId(new_id())
