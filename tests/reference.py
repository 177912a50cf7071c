"""A slow, obviously correct reading of docs/contract.md, one event at a time, to check the fast path against."""
from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

TYPES = ("CUSTOMER", "SITE_VISIT", "IMAGE", "ORDER")
VERBS = {"CUSTOMER": ("NEW", "UPDATE"), "SITE_VISIT": ("NEW",), "IMAGE": ("UPLOAD",), "ORDER": ("NEW", "UPDATE")}
REQUIRED = {"CUSTOMER": ["key", "event_time"], "SITE_VISIT": ["key", "event_time", "customer_id"],
            "IMAGE": ["key", "event_time", "customer_id"],
            "ORDER": ["key", "event_time", "customer_id", "total_amount"]}
TEXT = {"CUSTOMER": ["last_name", "adr_city", "adr_state"], "SITE_VISIT": [], "IMAGE": ["camera_make", "camera_model"],
        "ORDER": []}
TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})[T :](\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})?")
AMOUNT = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*USD\s*", re.IGNORECASE)


def parse_time(text: str) -> datetime | None:
    match = TIME.fullmatch(text)
    if not match:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, zone = match.group(7), match.group(8)
    micro = int((fraction[1:] + "000000")[:6]) if fraction else 0
    try:
        moment = datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)
    except ValueError:
        return None
    if zone and zone != "Z":
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        if hours > 23 or minutes > 59:
            return None
        try:  # Python's datetime holds exactly the years 0001-9999
            moment -= (1 if zone[0] == "+" else -1) * timedelta(hours=hours, minutes=minutes)
        except OverflowError:
            return None
    return moment


def check(event: object) -> tuple[str | None, dict]:
    """(rejection code or None, the event's normalised fields)."""
    if not isinstance(event, dict):
        return "malformed", {}
    kind = event.get("type")
    if not isinstance(kind, str) or kind not in TYPES:
        return "unknown_type", {}
    verb = event.get("verb")
    if not isinstance(verb, str) or verb not in VERBS[kind]:
        return "invalid_verb", {}
    if any(event.get(field) is None for field in REQUIRED[kind]):
        return "missing_field", {}
    out = {"type": kind, "verb": verb}
    for field in ("key", "customer_id"):
        if field in REQUIRED[kind]:
            value = event[field]
            if not isinstance(value, str) or not value.strip():
                return "invalid_field", {}
            out[field] = value.strip()
    if not isinstance(event["event_time"], str) or parse_time(event["event_time"]) is None:
        return "invalid_field", {}
    out["event_time"] = parse_time(event["event_time"])
    if kind == "ORDER":
        value = event["total_amount"]
        match = AMOUNT.fullmatch(value) if isinstance(value, str) else None
        if not match:
            return "invalid_field", {}
        out["amount"] = float(match.group(1))
        if out["amount"] >= 1e12:
            return "invalid_field", {}
    for field in TEXT[kind]:
        value = event.get(field)
        if value is not None and not isinstance(value, str):
            return "invalid_field", {}
        out[field] = value
    if kind == "SITE_VISIT":
        tags = event.get("tags")
        pairs = tag_pairs(tags)
        if pairs is False:
            return "invalid_field", {}
        out["tags"] = pairs
    return None, out


def tag_pairs(tags: object) -> list | None | bool:
    """The (name, value) pairs of a tags value, None for null, False for a shape that is not allowed."""
    if tags is None:
        return None
    if isinstance(tags, dict):
        items = list(tags.items())
    elif isinstance(tags, list) and all(isinstance(t, dict) for t in tags):
        items = []
        for t in tags:
            if set(t) == {"name", "value"} and isinstance(t["name"], str):
                items.append((t["name"], t["value"]))
            elif len(t) == 1:
                items.extend(t.items())
            else:
                return False
    else:
        return False
    return [(name, v if isinstance(v, str) or v is None else json.dumps(v)) for name, v in items]


class Store:
    """Versions per (type, key), the identities accepted, and the arrival counter."""

    def __init__(self) -> None:
        self.versions: dict[tuple[str, str], list[tuple[datetime, int, dict]]] = {}
        self.created: dict[tuple[str, str], datetime] = {}
        self.identities: dict[tuple, dict] = {}
        self.seq = 0

    def ingest(self, events: list) -> list[str]:
        """Outcome of each event: ingested, updated, duplicate, or a rejection code."""
        checked = [check(e) for e in events]
        outcomes: list[str | None] = [code for code, _ in checked]
        base, self.seq = self.seq, self.seq + len(events)
        creating = [i for i, (code, e) in enumerate(checked) if code is None and e["verb"] != "UPDATE"]
        updating = [i for i, (code, e) in enumerate(checked) if code is None and e["verb"] == "UPDATE"]
        for i in creating + updating:  # NEWs first: a batch is a set, an UPDATE may precede its NEW
            event = checked[i][1]
            identity = (event["type"], event["verb"], event["key"], event["event_time"])
            slot = (event["type"], event["key"])
            if identity in self.identities:
                same = self.identities[identity] == self.content(event)
                outcomes[i] = "duplicate" if same else "conflict"
            elif event["verb"] != "UPDATE" and slot in self.created:
                outcomes[i] = "duplicate_key"
            elif event["verb"] == "UPDATE" and slot not in self.created:
                outcomes[i] = "unknown_key"
            else:
                outcomes[i] = "updated" if event["verb"] == "UPDATE" else "ingested"
                self.identities[identity] = self.content(event)
                if event["verb"] != "UPDATE":
                    self.created[slot] = event["event_time"]
                self.versions.setdefault(slot, []).append((event["event_time"], base + i, event))
        return outcomes

    @staticmethod
    def content(event: dict) -> dict:
        """What a repeat of an identity must match to be a duplicate: every stored field."""
        return {f: v for f, v in event.items() if f not in ("type", "verb", "key", "event_time")}

    def current(self, kind: str) -> dict[str, dict]:
        """Per key, each field from the latest version (time, then arrival) carrying it."""
        rows = {}
        for (type_name, key), versions in self.versions.items():
            if type_name != kind:
                continue
            row: dict = {}
            for _, _, event in sorted(versions, key=lambda v: (v[0], v[2]["verb"] == "UPDATE", v[1])):
                row.update({f: v for f, v in event.items() if v is not None})
            rows[key] = row
        return rows

    def ltv(self) -> dict[str, float]:
        times = [t for versions in self.versions.values() for t, _, _ in versions]
        sunday = datetime(1970, 1, 4, tzinfo=UTC)
        weeks = (max(times) - sunday).days // 7 - (min(times) - sunday).days // 7 + 1
        revenue: dict[str, float] = {}
        for kind in ("CUSTOMER", "SITE_VISIT", "IMAGE", "ORDER"):
            for key, row in self.current(kind).items():
                customer = key if kind == "CUSTOMER" else row["customer_id"]
                revenue[customer] = revenue.get(customer, 0.0) + (row["amount"] if kind == "ORDER" else 0.0)
        return {customer: 52 * (total / weeks) * 10 for customer, total in revenue.items()}
