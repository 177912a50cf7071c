"""Beyond one machine: the per-bucket work on a Dask cluster gives exactly the embedded results.

The cluster is a distributed.LocalCluster with two worker processes, started
here: the workers import the tool themselves and open the store's files, as
workers on other machines would through a shared file system.
"""
from __future__ import annotations

import json
import random

import pandas as pd
import pytest

from clv import cluster, store
from clv.store import BUCKETS, bucket_of

from helpers import MESSY, SAMPLE, customer, order, run, visit, write_json

distributed = pytest.importorskip("distributed")

WORD_PRIME = 0x100000001B3
MIXER = 0xBF58476D1CE4E5B9


def documented_bucket(key: str) -> int:
    """The bucket as docs/contract.md defines it, one byte word at a time."""
    data = key.encode()
    h = len(data)
    for i in range(0, len(data), 8):
        word = int.from_bytes(data[i:i + 8].ljust(8, b"\0"), "little")
        h = ((h ^ word) * WORD_PRIME) % 2**64
    h ^= h >> 29
    h = (h * MIXER) % 2**64
    h ^= h >> 32
    return h % BUCKETS


def test_a_keys_bucket_is_the_documented_hash_for_any_length_and_script():
    rng = random.Random(7)
    alphabet = "ab0123-_éß€😀\u0301 "
    keys = ["", "a", "12345678", "123456789", "x" * 1000, "96f55c7d8f42"]
    keys += ["".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40))) for _ in range(2000)]
    assert bucket_of(pd.Series(keys, dtype="str")).tolist() == [documented_bucket(k) for k in keys]


def test_keys_spread_over_every_bucket():
    counts = pd.Series(bucket_of(pd.Series([f"order-{i}" for i in range(16_000)], dtype="str"))).value_counts()
    assert len(counts) == BUCKETS and counts.min() > 700


@pytest.fixture(scope="module")
def scheduler():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as local:
        yield local.scheduler_address
        if cluster._client.cache_info().currsize:  # the commands' connection goes before the cluster does
            cluster._client(local.scheduler_address).close()
            cluster._client.cache_clear()


def events(n: int) -> list[dict]:
    rng = random.Random(3)
    out = []
    for i in range(n):
        c = f"c{rng.randrange(60)}"
        day = f"2017-0{1 + i % 9}-{10 + i % 18}T12:00:00Z"
        out.append([customer(c, day, last_name=f"N{i}"), visit(f"v{i}", day, c),
                    order(f"o{i % 150}", day, c, f"{rng.randrange(1, 500)}.{rng.randrange(100):02d} USD",
                          "NEW" if i < 150 else "UPDATE")][i % 3])
    return out


def same_but_when(output: str) -> object:
    """A command's JSON without the instants that say when it ran (the last ingestion, the rejection times)."""
    data = json.loads(output)
    if isinstance(data, dict) and data.get("last_ingest"):
        data["last_ingest"] = {**data["last_ingest"], "time": None, "sources": len(data["last_ingest"]["sources"])}
    if isinstance(data, list):
        data = [{k: v for k, v in row.items() if k not in ("time", "source")} for row in data]
    return data


def test_ingest_and_queries_on_a_cluster_give_the_embedded_results(tmp_path, scheduler, monkeypatch):
    monkeypatch.setattr(store, "SMALL_STORE", 0)  # a small store is figured in one pass; here, bucket by bucket
    batch = write_json(tmp_path / "batch.json", events(300))
    outputs = {}
    for name, extra in (("embedded", []), ("cluster", ["--scheduler", scheduler])):
        dirs = ["--data-dir", tmp_path / name / "data", "--logs-dir", tmp_path / name / "logs", *extra]
        for path in (MESSY, batch, batch):
            assert run([*dirs, "ingest", path]).returncode == 0
        outputs[name] = [run([*dirs, *command]) for command in (
            ["ltv", "100", "--format", "json"], ["stats", "--format", "json"], ["customer", "c7", "--format", "json"],
            ["rejects", "--format", "json"])]
    for embedded, clustered in zip(outputs["embedded"], outputs["cluster"], strict=True):
        assert embedded.returncode == clustered.returncode == 0
        assert same_but_when(clustered.stdout) == same_but_when(embedded.stdout)
    assert '"rank": 60' in outputs["cluster"][0].stdout  # every customer, from every bucket


def test_the_scheduler_can_be_named_by_the_environment(tmp_path, scheduler, dirs):
    assert run([*dirs, "ingest", SAMPLE]).returncode == 0
    result = run([*dirs, "ltv", "1"], env={"DASK_SCHEDULER_ADDRESS": scheduler})
    assert result.returncode == 0 and "96f55c7d8f42" in result.stdout


def test_an_unreachable_scheduler_is_one_line(dirs, monkeypatch):
    monkeypatch.setattr(cluster, "CONNECT_SECONDS", 1)
    monkeypatch.setattr(store, "SMALL_STORE", 0)
    assert run([*dirs, "ingest", SAMPLE]).returncode == 0
    result = run([*dirs, "--scheduler", "tcp://127.0.0.1:9", "ltv", "1"])
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot reach the Dask scheduler at tcp://127.0.0.1:9")
    assert len(result.stderr.strip().splitlines()) == 1
