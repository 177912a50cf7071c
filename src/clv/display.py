"""Everything the user reads: tables, summaries, LTV output, and paging long text."""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from typing import TextIO

import orjson
import pandas as pd
from tabulate import tabulate

from . import events as ev
from .defaults import PROG
from .ingest import ReprocessSummary, RunSummary, Summary
from .timefmt import MISSING, iso_column, iso_utc

TABLE_FORMAT = "psql"
DEFAULT_PAGER = "less -FRSX"
MONEY = ("amount", "total_revenue", "revenue_per_visit", "weekly_value", "ltv")
COUNTS = ("read", "ingested", "updated", "duplicates", "rejected", "orphans")


def tags_json(value: object) -> str | None:
    """Tags as JSON text: an object, or an array of one-pair objects when a name repeats."""
    if value is None or (not isinstance(value, (list, dict)) and pd.isna(value)):
        return None
    pairs = list(value.items() if isinstance(value, dict) else value)
    names = [name for name, _ in pairs]
    shaped = dict(pairs) if len(set(names)) == len(names) else [{name: v} for name, v in pairs]
    return orjson.dumps(shaped).decode()


def _for_display(frame: pd.DataFrame) -> pd.DataFrame:
    """Only the rows about to be shown are turned into text."""
    shown = frame.copy()
    for name, column in frame.items():
        if isinstance(column.dtype, pd.DatetimeTZDtype):
            shown[name] = iso_column(column).astype(object).where(column.notna(), None)
        elif name == "tags":
            shown[name] = [tags_json(v) for v in column.to_numpy(dtype=object)]
        elif column.dtype == "str":
            shown[name] = column.astype(object).where(column.notna(), None)
    return shown


def _number_text(column: pd.Series, decimals: int | None) -> list[str | None]:
    values = column.to_numpy(dtype=object, na_value=None)
    if decimals is None:
        return [None if v is None else f"{v:,}" for v in values]
    return [None if v is None else f"{v:,.{decimals}f}" for v in values]


def render(frame: pd.DataFrame, decimals: dict[str, int] | None = None) -> str:
    """A frame as a text table: numbers right-aligned with separators, missing values as '-'.

    Text is never parsed as numbers, so keys such as '0012' or '1e5' show as they are.
    """
    shown = _for_display(frame)
    align = []
    for name, column in frame.items():
        numeric = pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype)
        align.append("right" if numeric else "left")
        if numeric:
            shown[name] = _number_text(column, (decimals or {}).get(name))
    return tabulate(shown, headers="keys", tablefmt=TABLE_FORMAT, showindex=False, colalign=align,
                    missingval=MISSING, disable_numparse=True)


def render_store(views: dict[str, pd.DataFrame], names: list[str], limit: int | None) -> str:
    """Each table under a title with its row count; at most limit rows each, with a footer saying so."""
    parts = []
    for name in names:
        frame = views[name]
        rows = len(frame)
        parts.append(f"{name} ({rows:,} row{'s' if rows != 1 else ''})")
        if rows == 0:
            parts.append("(empty)\n")
            continue
        shown = frame if limit is None else frame.head(limit)
        parts.append(render(shown, {name: 2 for name in MONEY}))
        if len(shown) < rows:
            parts.append(f"… {rows - len(shown):,} more rows not shown; see them all with: "
                         f"{PROG} display {name} --all (or --limit N)")
        parts.append("")
    return "\n".join(parts)


def render_ltv(table: pd.DataFrame) -> str:
    """The top-X table as text, money in cents."""
    return render(table, {**{name: 2 for name in MONEY}, "visits_per_week": 3}) + "\n"


def _reasons(summary: Summary) -> str:
    return ", ".join(f"{code} {n:,}" for code, n in sorted(summary.rejected_by_reason.items(),
                                                          key=lambda kv: ev.REJECTION_CODES.index(kv[0])))


def render_run(run: RunSummary, rejects_location: str) -> str:
    """The ingestion summary as a person reads it."""
    good = [f for f in run.files if not f.error]
    rows = [[f.source, *(getattr(f, c) for c in COUNTS), f"{f.seconds:.2f}"] for f in good]
    if len(good) > 1:
        rows.append(["total", *(getattr(run.total, c) for c in COUNTS), f"{run.total.seconds:.2f}"])
    lines = []
    if rows:
        lines.append(tabulate(rows, headers=["file", *COUNTS, "seconds"], tablefmt=TABLE_FORMAT, intfmt=",",
                              colalign=["left"] + ["right"] * (len(COUNTS) + 1)))
    lines.extend(f"skipped: {note}" for note in run.notes)
    for failed in run.failed:
        lines.append(f"not ingested: {failed.error}")
    lines.extend(_summary_tail(run.total, rejects_location))
    lines.append(f"done in {run.total.seconds:.2f} s")
    return "\n".join(lines) + "\n"


def _summary_tail(summary: Summary, rejects_location: str) -> list[str]:
    lines = [f"store size: {summary.store_size_before:,} → {summary.store_size_after:,} rows"]
    if summary.rejected:
        lines.append(f"rejected by reason: {_reasons(summary)}")
        lines.append(f"rejected events are held in {rejects_location}; run Reprocess after fixing their cause")
    if summary.orphans:
        lines.append(f"orphans: {summary.orphans:,} new rows refer to a customer with no CUSTOMER record yet")
    return lines


def render_reprocess(result: ReprocessSummary, rejects_location: str) -> str:
    s = result.summary
    if s.read == 0:
        return "no rejected events are held; nothing to reprocess\n"
    lines = [(f"reprocessed {s.read:,} held events: {s.ingested:,} ingested, {s.updated:,} updated, "
             f"{s.duplicates:,} duplicates, {s.rejected:,} still rejected")]
    lines.extend(_summary_tail(s, rejects_location))
    lines.append(f"{result.still_held:,} events remain held in {rejects_location}")
    return "\n".join(lines) + "\n"


def page(text: str, out: TextIO = sys.stdout) -> None:
    """Write text; in a terminal, text taller than the screen goes through $PAGER (default less -FRSX)."""
    height = shutil.get_terminal_size().lines
    if not (out is sys.stdout and out.isatty()) or text.count("\n") < height - 1:
        out.write(text)
        out.flush()
        return
    command = shlex.split(os.environ.get("PAGER") or DEFAULT_PAGER)
    try:
        pager = subprocess.Popen(command, stdin=subprocess.PIPE)
    except OSError:
        out.write(text)
        return
    try:
        pager.communicate(text.encode("utf-8", "replace"))
    except (BrokenPipeError, KeyboardInterrupt):
        pager.terminate()
    pager.wait()


BAR_WIDTH = 40
EIGHTHS = " ▏▎▍▌▋▊▉█"
UNICODE_SAMPLE = "█▏–│→"


def can_draw_unicode(stream: TextIO) -> bool:
    """Whether the output's encoding can show block characters (else plain ASCII is drawn)."""
    try:
        UNICODE_SAMPLE.encode(getattr(stream, "encoding", None) or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def _bar(count: int, largest: int, unicode: bool) -> str:
    if largest == 0:
        return ""
    eighths = round(count / largest * BAR_WIDTH * 8)
    if not unicode:
        return "#" * (eighths // 8) or ("." if count else "")
    return "█" * (eighths // 8) + (EIGHTHS[eighths % 8] if eighths % 8 else "") or ("▏" if count else "")


def money(value: float | None) -> str:
    return MISSING if value is None or pd.isna(value) else f"{value:,.2f}"


def render_distribution(spread: dict, unicode: bool) -> str:
    """The summary under the top-X table: shares, percentiles and a histogram drawn with text."""
    dash, rule = ("–", "│") if unicode else ("-", "|")
    share = MISSING if spread["top_share"] is None else f"{spread['top_share']:.1%}"
    lines = [f"LTV over all {spread['customers']:,} customers: the top {spread['top']:,} hold {share} of the total",
             (f"median {money(spread['median'])}   90th percentile {money(spread['p90'])}   "
             f"99th percentile {money(spread['p99'])}")]
    bins = spread["histogram"]
    largest = max(n for _, _, n in bins)
    low_width = max(len(money(lo)) for lo, _, _ in bins)
    high_width = max(len(money(hi)) for _, hi, _ in bins)
    for lo, hi, n in bins:
        lines.append(f"  {money(lo):>{low_width}} {dash} {money(hi):>{high_width}} {rule}"
                     f"{_bar(n, largest, unicode)} {n:,}")
    return "\n".join(lines) + "\n"


def _pairs(rows: list[tuple[str, object]]) -> str:
    return tabulate([(name, MISSING if value is None else value) for name, value in rows],
                    tablefmt="plain", disable_numparse=True)


def render_overview(info: dict) -> str:
    customers = info["customers"]
    per_customer = info["site_visits_per_customer"]
    last = info["last_ingest"]
    rows = [
        *((f"{table} rows", f"{count:,}") for table, count in info["rows"].items()),
        ("store size", f"{info['store_size']:,}"),
        ("customers", (f"{customers['total']:,} ({customers['with_record']:,} with a CUSTOMER record, "
                      f"{customers['without_record']:,} without)")),
        ("first event", info["first_event"]),
        ("last event", info["last_event"]),
        ("weeks (LTV timeframe)", info["weeks"]),
        ("orders", f"{info['orders']:,}"),
        ("total revenue", money(info["total_revenue"])),
        ("site visits per customer", None if per_customer is None else f"{per_customer:,.2f}"),
        ("rejected events held", f"{info['rejected_held']:,}" + (
            " (" + ", ".join(f"{code} {n:,}" for code, n in info["rejected_held_by_reason"].items()) + ")"
            if info["rejected_held"] else "")),
        ("last ingestion", f"{last['time']} from {', '.join(last['sources'])}" if last else None),
    ]
    return _pairs(rows) + "\n"


def render_profile(profile: dict) -> str:
    record = profile["record"]
    figures = profile["ltv"]
    lines = [f"customer {profile['customer_id']}"]
    if record is None:
        lines.append("no CUSTOMER record (an orphan: known only from its visits, images or orders)")
    else:
        lines.append(_pairs([(name, iso_utc(v) if isinstance(v, pd.Timestamp) else
                              (None if pd.isna(v) else v)) for name, v in record.items()]))
    lines.append("")
    lines.append(f"rank {figures['rank']:,} of {profile['customers_ranked']:,} by LTV")
    lines.append(_pairs([
        ("ltv", money(figures["ltv"])), ("total revenue", money(figures["total_revenue"])),
        *((table.replace("_", " "), f"{profile[table]:,}") for table in ev.customer_tables() if table != ev.ORDERS),
        ("revenue per visit", money(figures["revenue_per_visit"])),
        ("visits per week", f"{figures['visits_per_week']:.3f}"), ("weekly value", money(figures["weekly_value"])),
    ]))
    orders = profile["orders"]
    lines.append("")
    lines.append(f"orders ({len(orders):,})")
    if len(orders):
        lines.append(render(orders, {"amount": 2}))
    return "\n".join(lines) + "\n"
