"""Where the per-bucket work runs: threads of this process, or a Dask cluster (docs/contract.md, "Beyond one machine").

The work is plain functions of (store path, version, bucket, …) that open the
Delta table themselves, so a Dask worker on another machine runs exactly what
a thread here runs, on the same version of the same files: the results are
identical whichever way they ran. Dask is only imported when a scheduler is
named (--scheduler or DASK_SCHEDULER_ADDRESS).
"""
from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

from .errors import ClvError

CONNECT_SECONDS = 10
INSTALL_HINT = "pip install -e '.[cluster]' (or: pip install -r requirements-dev.txt)"


def threads() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


@lru_cache(maxsize=2)
def _client(address: str):
    """One connection per scheduler for the life of the process (the menu runs many commands)."""
    try:
        from distributed import Client
    except ImportError:
        raise ClvError(f"--scheduler needs the Dask distributed package: {INSTALL_HINT}") from None
    try:
        return Client(address, timeout=CONNECT_SECONDS, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ClvError(f"cannot reach the Dask scheduler at {address}: {str(exc).strip().splitlines()[0]}") from None


def run(function: Callable, calls: list[tuple], scheduler: str | None = None) -> list:
    """function(*call) for every call, in order: on the scheduler's workers, or on threads here."""
    if scheduler:
        client = _client(scheduler)
        futures = [client.submit(function, *call, pure=False) for call in calls]
        return client.gather(futures)
    if len(calls) <= 1:
        return [function(*call) for call in calls]
    with ThreadPoolExecutor(min(threads(), len(calls))) as pool:
        return list(pool.map(lambda call: function(*call), calls))
