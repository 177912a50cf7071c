"""Customer lifetime value from web-site event dumps.

The library API, usable without the command line:

    from clv import open_store, open_rejects, ingest, top_customers
    store = open_store("data")              # or open_store(None) for memory
    ingest(store, ["events.json"], open_rejects("logs"))
    print(top_customers(store.snapshot(), 10))
"""
from .export import export
from .ingest import ingest, reprocess
from .ltv import distribution, ltv_table, top_customers
from .overview import overview
from .profile import customer_profile
from .rejects import open_rejects
from .store import open_store

__all__ = ["customer_profile", "distribution", "export", "ingest", "ltv_table", "open_rejects", "open_store",
           "overview", "reprocess", "top_customers"]
