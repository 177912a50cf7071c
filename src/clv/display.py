"""Everything the user reads: tables that fit the terminal, summaries, LTV output, and paging long text.

Tables fit the width of the screen (`terminal.columns()`: the terminal's
width, $COLUMNS, or 80 when output is not a terminal). When a table is too
wide, its long text columns are first shortened to a roomy width, then the
columns that are not key columns are left out from the right, then the text
columns are shortened further; a line under the table names the columns left
out. Every value from a file has its control characters escaped.
"""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from typing import TextIO

import pandas as pd

from . import events as ev
from .defaults import PROG
from .ingest import ReprocessSummary, RunSummary, Summary
from .output import MONEY, tags_json
from .terminal import can_encode, columns, cut, escape, escape_layout, raw, width
from .timefmt import MISSING, iso_column, iso_utc

TABLE_FORMAT = "psql"
DEFAULT_PAGER = "less -FRSX"
COUNTS = ("read", "ingested", "updated", "duplicates", "rejected", "orphans")
NARROWEST = 6  # a shortened text column keeps at least this many cells (or its header's width)
ROOMY = 16  # long text is shortened to this before a column is left out
ROOMY_PATH = 24
LTV_KEYS = ("rank", "customer_id", "last_name", "ltv")
STORE_KEYS = ("key", ev.CUSTOMER_FIELD, "last_name", "amount")
UNICODE_SAMPLE = "█▏–│→…"
HINT = "--format csv or json has them"


@dataclass
class Screen:
    """Where text is shown: how many columns wide, and whether it can draw Unicode."""

    width: int = 80
    unicode: bool = True

    @property
    def ellipsis(self) -> str:
        return "…" if self.unicode else "..."

    @property
    def arrow(self) -> str:
        return "→" if self.unicode else "->"


def screen_of(stream: TextIO, wide: int | None = None) -> Screen:
    """The screen a stream shows on: the terminal's width (or $COLUMNS, or 80), and its encoding."""
    return Screen(wide or columns(), can_draw_unicode(stream))


def can_draw_unicode(stream: TextIO) -> bool:
    """Whether the output's encoding can show block characters (else plain ASCII is drawn)."""
    return can_encode(stream, UNICODE_SAMPLE)


def counted(n: int, word: str, many: str | None = None) -> str:
    """'1 row', '2 rows', '1,000 customers'."""
    return f"{n:,} {word if n == 1 else many or word + 's'}"


GLUE = "\x00"  # holds the words of one item together while a line is wrapped (never in escaped text)


def wrap(text: str, screen_width: int, indent: str = "  ") -> list[str]:
    """A line of prose within the width, its continuation lines indented; the words of a glued item (a reason
    and its count) stay on one line."""
    lines = textwrap.wrap(text, max(screen_width, 20), subsequent_indent=indent, break_on_hyphens=False) or [""]
    return [line.replace(GLUE, " ") for line in lines]


def glued(text: str) -> str:
    return text.replace(" ", GLUE)


# --- tables ---------------------------------------------------------------------------------------------------


@dataclass
class Column:
    """One column of a table as text: its cells, how it aligns, and how it may give way to fit the screen."""

    name: str
    cells: list[str]
    right: bool = False  # numbers align right
    keep: bool = False  # never left out
    shorten: str | None = None  # "end" or "start" (a path keeps its file name): text that may be cut
    roomy: int | None = None  # shortened to this before any column is left out; None: only after
    natural: int = field(init=False)

    def __post_init__(self) -> None:
        self.natural = max([width(self.name), *map(width, self.cells)])

    @property
    def floor(self) -> int:
        return max(width(self.name), min(self.natural, NARROWEST))


@dataclass
class Table:
    """A table laid out for a screen, and the columns left out to fit it."""

    text: str
    left_out: list[str]
    screen_width: int

    def footer(self, hint: str = HINT) -> list[str]:
        if not self.left_out:
            return []
        return wrap(f"columns not shown, to fit {self.screen_width} characters: {', '.join(self.left_out)} "
                    f"({hint})", self.screen_width)

    def lines(self, hint: str = HINT) -> list[str]:
        return [self.text, *self.footer(hint)]


def _drawn_width(widths: list[int]) -> int:
    """How wide a psql table with these column widths is drawn: '| a | b |'."""
    return sum(widths) + 3 * len(widths) + 1


def _shorten(shown: list[Column], widths: dict[str, int], excess: int, target) -> int:
    """Take up to `excess` cells from the shortenable columns, the widest first, none below target(column)."""
    targets = {c.name: target(c) for c in shown if c.shorten and target(c) is not None}
    while excess > 0:
        able = [name for name, least in targets.items() if widths[name] > least]
        if not able:
            break
        name = max(able, key=widths.__getitem__)
        level = max([targets[name], *(widths[other] for other in able if other != name)])
        take = min(excess, max(widths[name] - level, 1))
        widths[name] -= take
        excess -= take
    return excess


def _layout(columns_: list[Column], screen_width: int, drop: list[str]) -> tuple[list[Column], dict[str, int]]:
    shown = list(columns_)

    def fit() -> tuple[dict[str, int], int]:
        widths = {c.name: c.natural for c in shown}
        excess = _drawn_width(list(widths.values())) - screen_width
        excess = _shorten(shown, widths, excess, lambda c: None if c.roomy is None else max(c.roomy, c.floor))
        return widths, excess

    widths, excess = fit()
    for name in drop:
        if excess <= 0:
            break
        shown = [c for c in shown if c.name != name]
        widths, excess = fit()
    _shorten(shown, widths, excess, lambda c: c.floor)
    return shown, widths


def _row(cells: list[str], shown: list[Column], widths: dict[str, int]) -> str:
    padded = []
    for text, column in zip(cells, shown):
        pad = " " * (widths[column.name] - width(text))
        padded.append(pad + text if column.right else text + pad)
    return "| " + " | ".join(padded) + " |"


def table(columns_: list[Column], screen: Screen, drop: list[str] | None = None) -> Table:
    """The columns drawn as a psql-style table within the screen's width (when it can be).

    `drop` is the order in which columns are left out; by default the columns that are not kept, from the right.
    """
    order = drop if drop is not None else [c.name for c in reversed(columns_) if not c.keep]
    shown, widths = _layout(columns_, screen.width, order)
    rule = "+" + "+".join("-" * (widths[c.name] + 2) for c in shown) + "+"
    lines = [rule, _row([c.name for c in shown], shown, widths),
             "|" + "+".join("-" * (widths[c.name] + 2) for c in shown) + "|"]
    cells = [[cut(text, widths[c.name], screen.ellipsis, keep_end=c.shorten == "start") for text in c.cells]
             for c in shown]
    lines.extend(_row(list(row), shown, widths) for row in zip(*cells))
    lines.append(rule)
    kept = {c.name for c in shown}
    left_out = [c.name for c in columns_ if c.name not in kept]
    return Table("\n".join(lines), left_out, screen.width)


def _number_cells(column: pd.Series, decimals: int | None) -> list[str]:
    values = column.to_numpy(dtype=object, na_value=None)
    if decimals is None:
        return [MISSING if v is None else f"{v:,}" for v in values]
    return [MISSING if v is None else f"{v:,.{decimals}f}" for v in values]


NUMBER, TIME, TEXT = "number", "time", "text"


def cells_of(name: str, column: pd.Series, decimals: int | None = None) -> tuple[list[str], str]:
    """A frame column as the text of its cells (controls escaped, missing values '-'), and its kind: number, time
    or text.

    Text is never parsed as numbers, so keys such as '0012' or '1e5' show as they are.
    """
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        text = iso_column(column).to_numpy(dtype=object)
        return [t if ok else MISSING for t, ok in zip(text, column.notna().to_numpy())], TIME
    if name == "tags" or str(column.dtype).startswith("map<"):
        return [MISSING if t is None else escape(t)
                for t in map(tags_json, column.to_numpy(dtype=object, na_value=None))], TEXT
    if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
        return _number_cells(column, decimals), NUMBER
    return [MISSING if v is None else escape(str(v)) for v in column.to_numpy(dtype=object, na_value=None)], TEXT


def frame_table(frame: pd.DataFrame, screen: Screen, decimals: dict[str, int] | None = None,
                keys: tuple[str, ...] = STORE_KEYS, drop: list[str] | None = None) -> Table:
    """A frame as a table that fits the screen: numbers right-aligned with separators, missing values '-'.

    Numbers and instants are never cut; text is (ids only once every other column that may go has gone).
    """
    built = []
    for name, column in frame.items():
        cells, kind = cells_of(name, column, (decimals or {}).get(name))
        keep = name in keys
        text = kind == TEXT
        built.append(Column(name, cells, right=kind == NUMBER, keep=keep, shorten="end" if text else None,
                            roomy=ROOMY if text and (not keep or name == "last_name") else None))
    return table(built, screen, drop)


def render(frame: pd.DataFrame, decimals: dict[str, int] | None = None, screen: Screen | None = None) -> str:
    """A frame as a text table within the screen's width (80 columns unless told)."""
    return "\n".join(frame_table(frame, screen or Screen(), decimals).lines())


MONEY_DECIMALS = {name: 2 for name in MONEY}


def render_store(views: dict[str, pd.DataFrame], names: list[str], limit: int | None, screen: Screen | None = None
                 ) -> str:
    """Each table under a title with its row count; at most limit rows each, with a footer saying so."""
    screen = screen or Screen()
    parts = []
    for name in names:
        frame = views[name]
        rows = len(frame)
        parts.append(f"{name} ({counted(rows, 'row')})")
        if rows == 0:
            parts.append("(empty)\n")
            continue
        shown = frame if limit is None else frame.head(limit)
        parts.extend(frame_table(shown, screen, MONEY_DECIMALS).lines())
        if len(shown) < rows:
            more = rows - len(shown)
            parts.extend(wrap(f"… {counted(more, 'more row')} not shown; see them all with: "
                              f"{PROG} display {name} --all (or --limit N)", screen.width))
        parts.append("")
    return "\n".join(parts)


def render_ltv(top: pd.DataFrame, screen: Screen | None = None) -> str:
    """The top-X table as text, money in cents; at 80 columns rank, customer_id, last_name and ltv always show."""
    fitted = frame_table(top, screen or Screen(), {**MONEY_DECIMALS, "visits_per_week": 3}, keys=LTV_KEYS)
    return "\n".join(fitted.lines()) + "\n"


HISTORY_KEYS = ("version", "time", "command")


def render_history(rows: pd.DataFrame, screen: Screen | None = None) -> str:
    """The versions, newest first; at 80 columns version, time and command always show."""
    if rows.empty:
        return "no versions\n"
    fitted = frame_table(rows.astype(object).where(rows.notna(), ""), screen or Screen(), {}, keys=HISTORY_KEYS)
    return "\n".join(fitted.lines()) + "\n"


# --- ingestion and reprocessing -----------------------------------------------------------------------------------


def _reasons(by_reason: dict[str, int]) -> str:
    """'malformed 2, unknown_type 1', each code with its count glued for wrapping."""
    return ", ".join(glued(f"{code} {n:,}") for code, n in sorted(
        by_reason.items(), key=lambda kv: ev.REJECTION_CODES.index(kv[0]) if kv[0] in ev.REJECTION_CODES else 99))


def render_run(run: RunSummary, rejects_location: str, screen: Screen | None = None) -> str:
    """The ingestion summary as a person reads it. A file that could not be ingested is not in it: its error
    goes to stderr, once."""
    screen = screen or Screen()
    good = [f for f in run.files if not f.error]
    rows = [[f.source, *(f"{getattr(f, c):,}" for c in COUNTS), f"{f.seconds:.2f}"] for f in good]
    if len(good) > 1:
        rows.append(["total", *(f"{getattr(run.total, c):,}" for c in COUNTS), f"{run.total.seconds:.2f}"])
    lines = []
    if rows:
        names = ["file", *COUNTS, "seconds"]
        built = [Column("file", [escape(r[0]) for r in rows], keep=True, shorten="start", roomy=ROOMY_PATH)]
        built += [Column(name, [r[i] for r in rows], right=True) for i, name in enumerate(names[1:], 1)]
        lines.extend(table(built, screen).lines("--format json has them"))
    lines.extend(f"skipped: {note}" for note in run.notes)
    lines.extend(_summary_tail(run.total, rejects_location, screen))
    lines.append(f"done in {run.total.seconds:.2f} s")
    return "\n".join(lines) + "\n"


def _summary_tail(summary: Summary, rejects_location: str, screen: Screen) -> list[str]:
    size = summary.store_size_after
    lines = [f"store size: {summary.store_size_before:,} {screen.arrow} {counted(size, 'row')}"]
    if summary.rejected:
        lines.extend(wrap(f"rejected by reason: {_reasons(summary.rejected_by_reason)}", screen.width))
        lines.extend(wrap(f"rejected events are held in {escape(rejects_location)}; run Reprocess (menu 5, or "
                          f"{PROG} reprocess) after fixing their cause", screen.width))
    if summary.orphans:
        refer = "refers" if summary.orphans == 1 else "refer"
        lines.extend(wrap(f"orphans: {counted(summary.orphans, 'new row')} {refer} to a customer with no CUSTOMER "
                          "record yet", screen.width))
    return lines


def render_reprocess(result: ReprocessSummary, rejects_location: str, screen: Screen | None = None) -> str:
    screen = screen or Screen()
    s = result.summary
    if s.read == 0:
        return "no rejected events are held; nothing to reprocess\n"
    parts = [f"{s.ingested:,} ingested", f"{s.updated:,} updated", counted(s.duplicates, "duplicate"),
             f"{s.rejected:,} still rejected"]
    lines = wrap(f"reprocessed {counted(s.read, 'held event')}: {', '.join(map(glued, parts))}", screen.width)
    lines.extend(_summary_tail(s, rejects_location, screen))
    remain = "remains" if result.still_held == 1 else "remain"
    lines.extend(wrap(f"{counted(result.still_held, 'event')} {remain} held in {escape(rejects_location)}",
                      screen.width))
    return "\n".join(lines) + "\n"


# --- paging -------------------------------------------------------------------------------------------------------


def page(text: str, out: TextIO = sys.stdout) -> None:
    """Write text; in a terminal, text taller than the screen goes through $PAGER (default less -FRSX), escaped
    as the terminal stream would have escaped it."""
    import shutil

    height = shutil.get_terminal_size().lines
    if not (raw(out) is sys.stdout and out.isatty()) or text.count("\n") < height - 1:
        out.write(text)
        out.flush()
        return
    command = shlex.split(os.environ.get("PAGER") or DEFAULT_PAGER)
    out.flush()
    try:
        pager = subprocess.Popen(command, stdin=subprocess.PIPE)
    except OSError:
        out.write(text)
        return
    try:
        pager.communicate(escape_layout(text).encode("utf-8", "backslashreplace"))
    except (BrokenPipeError, KeyboardInterrupt):
        pager.terminate()
    pager.wait()


# --- the LTV distribution -----------------------------------------------------------------------------------------

BAR_WIDTH = 40
EIGHTHS = " ▏▎▍▌▋▊▉█"


def _bar(count: int, largest: int, unicode: bool, bar_width: int = BAR_WIDTH) -> str:
    if largest == 0:
        return ""
    eighths = round(count / largest * bar_width * 8)
    if not unicode:
        return "#" * (eighths // 8) or ("." if count else "")
    return "█" * (eighths // 8) + (EIGHTHS[eighths % 8] if eighths % 8 else "") or ("▏" if count else "")


def money(value: float | None) -> str:
    return MISSING if value is None or pd.isna(value) else f"{value:,.2f}"


def render_distribution(spread: dict, unicode: bool, screen_width: int = 80) -> str:
    """The summary under the top-X table: shares, percentiles and a histogram drawn with text."""
    dash, rule = ("–", "│") if unicode else ("-", "|")
    share = MISSING if spread["top_share"] is None else f"{spread['top_share']:.1%}"
    n, top = spread["customers"], spread["top"]
    holds = "holds" if top == 1 else "hold"
    over = f"all {counted(n, 'customer')}" if n > 1 else counted(n, "customer")
    lines = wrap(f"LTV over {over}: the top {top:,} {holds} {share} of the total", screen_width)
    lines.extend(wrap(f"median {money(spread['median'])}   90th percentile {money(spread['p90'])}   "
                      f"99th percentile {money(spread['p99'])}", screen_width))
    bins = spread["histogram"]
    largest = max(n for _, _, n in bins)
    low_width = max(len(money(lo)) for lo, _, _ in bins)
    high_width = max(len(money(hi)) for _, hi, _ in bins)
    count_width = max(len(f"{n:,}") for _, _, n in bins)
    labels = 2 + low_width + 3 + high_width + 2
    bar_width = max(min(BAR_WIDTH, screen_width - labels - count_width - 1), 10)
    for lo, hi, n in bins:
        lines.append(f"  {money(lo):>{low_width}} {dash} {money(hi):>{high_width}} {rule}"
                     f"{_bar(n, largest, unicode, bar_width)} {n:,}")
    return "\n".join(lines) + "\n"


# --- name and value pairs: the overview and the customer look-up --------------------------------------------------


def _pairs(rows: list[tuple[str, object]], screen_width: int = 80) -> str:
    """Names and values in two columns; a value too long for the screen wraps under itself."""
    name_width = max((len(name) for name, _ in rows), default=0)
    room = max(screen_width - name_width - 2, 20)
    lines = []
    for name, value in rows:
        text = MISSING if value is None else str(value)
        parts = [part.replace(GLUE, " ") for part in textwrap.wrap(text, room, break_on_hyphens=False)] or [""]
        lines.append(f"{name:<{name_width}}  {parts[0]}".rstrip())
        lines.extend(" " * (name_width + 2) + part for part in parts[1:])
    return "\n".join(lines)


def render_overview(info: dict, screen: Screen | None = None) -> str:
    screen = screen or Screen()
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
            f" ({_reasons(info['rejected_held_by_reason'])})" if info["rejected_held"] else "")),
        ("last ingestion", f"{last['time']} from {', '.join(escape(s) for s in last['sources'])}" if last else None),
    ]
    return _pairs(rows, screen.width) + "\n"


def render_profile(profile: dict, screen: Screen | None = None) -> str:
    screen = screen or Screen()
    record = profile["record"]
    figures = profile["ltv"]
    lines = [f"customer {escape(profile['customer_id'])}"]
    if record is None:
        lines.extend(wrap("no CUSTOMER record (an orphan: known only from its visits, images or orders)",
                          screen.width))
    else:
        lines.append(_pairs([(name, iso_utc(v) if isinstance(v, pd.Timestamp) else
                              (None if pd.isna(v) else escape(str(v)))) for name, v in record.items()], screen.width))
    lines.append("")
    lines.append(f"rank {figures['rank']:,} of {profile['customers_ranked']:,} by LTV")
    lines.append(_pairs([
        ("ltv", money(figures["ltv"])), ("total revenue", money(figures["total_revenue"])),
        *((table.replace("_", " "), f"{profile[table]:,}") for table in ev.customer_tables() if table != ev.ORDERS),
        ("revenue per visit", money(figures["revenue_per_visit"])),
        ("visits per week", f"{figures['visits_per_week']:.3f}"), ("weekly value", money(figures["weekly_value"])),
    ], screen.width))
    orders = profile["orders"]
    lines.append("")
    lines.append(f"orders ({len(orders):,})")
    if len(orders):
        lines.extend(frame_table(orders, screen, {"amount": 2}, keys=("key", "amount")).lines())
    return "\n".join(lines) + "\n"


