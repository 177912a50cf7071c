"""Customer lifetime value from web-site event dumps.

The library API, usable without the command line:

    from clv import open_store, open_rejects, ingest, top_customers
    store = open_store("data")              # or open_store(None) for memory
    ingest(store, ["events.json"], open_rejects("logs"))
    print(top_customers(store.snapshot(), 10))
"""
from .ingest import ingest, reprocess
from .ltv import ltv_table, top_customers
from .rejects import open_rejects
from .store import open_store

__all__ = ["ingest", "reprocess", "ltv_table", "top_customers", "open_rejects", "open_store"]
