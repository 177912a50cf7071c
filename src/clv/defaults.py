"""Defaults the command line, the menu and the library share; nothing here imports anything heavy."""
from __future__ import annotations

import sys
from pathlib import Path

# Help and messages name the program the way it was started.
PROG = "process.py" if sys.argv and sys.argv[0].endswith("process.py") else "clv"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = PROJECT_ROOT / "data"
LOGS_DIR = PROJECT_ROOT / "logs"
DISPLAY_LIMIT = 50
EXPORT_FORMATS = ("csv", "parquet")
RETAIN_HOURS = 168  # what compact keeps restorable by default: a week, as Delta Lake does
SCHEDULER_VARIABLE = "DASK_SCHEDULER_ADDRESS"  # where a Dask scheduler is named when --scheduler is not given
# Arrow's allocator for a command's process, unless the environment names one: the system allocator made
# folding the per-customer figures of an 8M-event store faster and smaller than Arrow's default (mimalloc).
ARROW_POOL_VARIABLE, ARROW_POOL = "ARROW_DEFAULT_MEMORY_POOL", "system"
