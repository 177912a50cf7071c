"""The event contract: types, verbs, fields and the tables they land in."""
from __future__ import annotations

CUSTOMER, SITE_VISIT, IMAGE, ORDER = "CUSTOMER", "SITE_VISIT", "IMAGE", "ORDER"
TYPES = (CUSTOMER, SITE_VISIT, IMAGE, ORDER)

NEW, UPDATE, UPLOAD = "NEW", "UPDATE", "UPLOAD"
VERBS = {CUSTOMER: (NEW, UPDATE), SITE_VISIT: (NEW,), IMAGE: (UPLOAD,), ORDER: (NEW, UPDATE)}
CREATING_VERBS = (NEW, UPLOAD)

REQUIRED = {
    CUSTOMER: ("key", "event_time"),
    SITE_VISIT: ("key", "event_time", "customer_id"),
    IMAGE: ("key", "event_time", "customer_id"),
    ORDER: ("key", "event_time", "customer_id", "total_amount"),
}
OPTIONAL = {
    CUSTOMER: ("last_name", "adr_city", "adr_state"),
    SITE_VISIT: ("tags",),
    IMAGE: ("camera_make", "camera_model"),
    ORDER: (),
}
ID_FIELDS = ("key", "customer_id")
TEXT_FIELDS = ("last_name", "adr_city", "adr_state", "camera_make", "camera_model")
# Every field read from an event; anything else in an event is ignored.
FIELDS = ("type", "verb", "key", "event_time", "customer_id", "total_amount", "tags") + TEXT_FIELDS

# Where each type is stored, and the columns each stored row carries beyond
# the identity (key, verb, event_time) and the arrival sequence number.
TABLE_OF = {CUSTOMER: "customers", SITE_VISIT: "site_visits", IMAGE: "images", ORDER: "orders"}
TABLES = tuple(TABLE_OF.values())
COLUMNS = {
    "customers": ("last_name", "adr_city", "adr_state"),
    "site_visits": ("customer_id", "tags"),
    "images": ("customer_id", "camera_make", "camera_model"),
    "orders": ("customer_id", "amount"),
}
# Tables whose rows are built from several versions (a NEW and its UPDATEs).
VERSIONED = ("customers", "orders")

REJECTION_CODES = (
    "malformed",
    "unknown_type",
    "invalid_verb",
    "missing_field",
    "invalid_field",
    "duplicate_key",
    "unknown_key",
)
