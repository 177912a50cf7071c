"""The event contract: one registry of event types, from which every other module derives.

Each type names its verbs, its fields (with the kind of value each holds and
whether it is required), the table its rows land in, and whether its rows are
built from several versions. Validation, the stored columns, the tables the
store keeps, orphan counting, where customer ids come from and the tables
shown to the user all read this registry, so a new event type is one
`register()` call. The rules themselves are described in docs/contract.md.
"""
from __future__ import annotations

from dataclasses import dataclass

# Kinds of field value, each with its own validation and stored dtype (docs/contract.md, "Field formats").
ID, TIME, AMOUNT, TEXT, TAGS = "id", "time", "amount", "text", "tags"

NEW, UPDATE, UPLOAD = "NEW", "UPDATE", "UPLOAD"
CUSTOMER, SITE_VISIT, IMAGE, ORDER = "CUSTOMER", "SITE_VISIT", "IMAGE", "ORDER"
# Events name their customer in this field; a type without it is the customer record itself or unrelated.
CUSTOMER_FIELD = "customer_id"
IDENTITY_FIELDS = ("type", "verb", "key", "event_time")

REJECTION_CODES = (
    "malformed",
    "unknown_type",
    "invalid_verb",
    "missing_field",
    "invalid_field",
    "conflict",
    "duplicate_key",
    "unknown_key",
)


@dataclass(frozen=True)
class Field:
    """One field of an event beyond type, verb, key and event_time; `column` is its stored name."""

    name: str
    kind: str
    required: bool = False
    column: str = ""

    @property
    def stored_as(self) -> str:
        return self.column or self.name


@dataclass(frozen=True)
class EventType:
    name: str
    verbs: tuple[str, ...]
    table: str
    fields: tuple[Field, ...]
    versioned: bool = False

    @property
    def required(self) -> tuple[str, ...]:
        return ("key", "event_time", *(f.name for f in self.fields if f.required))

    @property
    def columns(self) -> tuple[str, ...]:
        """Stored columns beyond the identity (key, verb, event_time) and the arrival sequence."""
        return tuple(f.stored_as for f in self.fields)

    @property
    def has_customer(self) -> bool:
        return any(f.name == CUSTOMER_FIELD for f in self.fields)


_REGISTRY: dict[str, EventType] = {}
# table_name values the store keeps for itself: the held rejected events, and the per-customer figures
HELD_TABLE, FIGURES_TABLE = "held", "customer_totals"


def register(event_type: EventType) -> None:
    """Add an event type; a field shared with other types must have the same kind and column there."""
    known = {f.name: f for t in _REGISTRY.values() for f in t.fields}
    for f in event_type.fields:
        other = known.get(f.name)
        if other is not None and (other.kind, other.stored_as) != (f.kind, f.stored_as):
            raise ValueError(f"field {f.name} is a {other.kind} stored as {other.stored_as} elsewhere")
    if any(t.table == event_type.table for t in _REGISTRY.values() if t.name != event_type.name) \
            or event_type.table in (HELD_TABLE, FIGURES_TABLE):
        raise ValueError(f"table {event_type.table} belongs to another type, or to the store")
    _REGISTRY[event_type.name] = event_type


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def types() -> tuple[EventType, ...]:
    return tuple(_REGISTRY.values())


def type_names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def of(name: str) -> EventType:
    return _REGISTRY[name]


def tables() -> tuple[str, ...]:
    return tuple(t.table for t in _REGISTRY.values())


def table_type(table: str) -> EventType:
    return next(t for t in _REGISTRY.values() if t.table == table)


def fields() -> dict[str, Field]:
    """Every field of every type by name (the first declaration; register() keeps them consistent)."""
    out: dict[str, Field] = {}
    for t in _REGISTRY.values():
        for f in t.fields:
            out.setdefault(f.name, f)
    return out


def fields_of_kind(kind: str) -> tuple[str, ...]:
    return tuple(name for name, f in fields().items() if f.kind == kind)


def read_fields() -> tuple[str, ...]:
    """Every field read from an event; anything else in an event is an ignored extra."""
    return (*IDENTITY_FIELDS, *fields())


def customer_tables() -> tuple[str, ...]:
    """Tables whose rows name a customer: where orphans and customer ids come from."""
    return tuple(t.table for t in _REGISTRY.values() if t.has_customer)


def all_verbs() -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for t in _REGISTRY.values() for v in t.verbs))


for _type in (
    EventType(CUSTOMER, (NEW, UPDATE), "customers",
              (Field("last_name", TEXT), Field("adr_city", TEXT), Field("adr_state", TEXT)), versioned=True),
    EventType(SITE_VISIT, (NEW,), "site_visits", (Field(CUSTOMER_FIELD, ID, required=True), Field("tags", TAGS))),
    EventType(IMAGE, (UPLOAD,), "images",
              (Field(CUSTOMER_FIELD, ID, required=True), Field("camera_make", TEXT), Field("camera_model", TEXT))),
    EventType(ORDER, (NEW, UPDATE), "orders",
              (Field(CUSTOMER_FIELD, ID, required=True), Field("total_amount", AMOUNT, required=True, column="amount")),
              versioned=True),
):
    register(_type)
# The tables the LTV formula reads by meaning: customer records, visits and revenue.
CUSTOMERS, VISITS, ORDERS = "customers", "site_visits", "orders"
