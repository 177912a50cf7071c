"""Customer lifetime value from web-site event dumps.

The library API, usable without the command line:

    from clv import open_store, open_rejects, ingest, top_customers
    store = open_store("data")              # or open_store(None) for memory
    ingest(store, ["events.json"], open_rejects("logs"))
    print(top_customers(store.snapshot(), 10))

The API's names are imported on first use, so `clv --help` answers without
loading pandas. Two of them (ingest, export) share their name with the
module that holds them; the API name always means the function.
"""
from __future__ import annotations

import sys
import types
from importlib import import_module

__version__ = "0.3.0"

_HOMES = {
    "customer_profile": "profile", "distribution": "ltv", "export": "export", "ingest": "ingest",
    "ltv_table": "ltv", "open_rejects": "rejects", "open_store": "store", "overview": "overview",
    "reprocess": "ingest", "top_customers": "ltv",
}
__all__ = ["customer_profile", "distribution", "export", "ingest", "ltv_table", "open_rejects", "open_store",
           "overview", "reprocess", "top_customers"]


class _Api(types.ModuleType):
    def __getattribute__(self, name: str) -> object:
        home = _HOMES.get(name)
        if home is None:
            return super().__getattribute__(name)
        return getattr(import_module(f"{__name__}.{home}"), name)


sys.modules[__name__].__class__ = _Api
