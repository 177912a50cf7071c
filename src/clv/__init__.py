"""Customer lifetime value from web-site event dumps.

The library API, usable without the command line:

    from clv import open_store, ingest, top_customers, history, rollback
    store = open_store("data")              # or open_store(None) for memory
    ingest(store, ["events.json"])          # rejected events are held in the store
    print(top_customers(store.snapshot(), 10))
    print(history(store)[0])                # every commit is a version; rollback(store, n) restores one

The API's names are imported on first use, so `clv --help` answers without
loading pandas. Two of them (ingest, export) share their name with the
module that holds them; the API name always means the function.
"""
from __future__ import annotations

import sys
import types
from importlib import import_module

__version__ = "0.4.0"

_HOMES = {
    "compact": "versions", "customer_profile": "profile", "distribution": "ltv", "export": "export",
    "history": "versions", "ingest": "ingest", "ltv_table": "ltv", "open_store": "store", "overview": "overview",
    "reprocess": "ingest", "rollback": "versions", "top_customers": "ltv",
}
__all__ = ["compact", "customer_profile", "distribution", "export", "history", "ingest", "ltv_table", "open_store",
           "overview", "reprocess", "rollback", "top_customers"]


class _Api(types.ModuleType):
    def __getattribute__(self, name: str) -> object:
        home = _HOMES.get(name)
        if home is None:
            return super().__getattribute__(name)
        return getattr(import_module(f"{__name__}.{home}"), name)


sys.modules[__name__].__class__ = _Api
