"""Time `clv.predict.predict` on synthetic orders drawn from the BG/NBD and Gamma-Gamma models themselves.

Customers arrive uniformly over the first year and are watched for 78 weeks. Each buys at a
Gamma(r, alpha) weekly rate and, after every repeat purchase, drops out with a Beta(a, b) probability;
each buys at a Gamma(p, nu) spend with nu ~ Gamma(q, gamma). Prints the median of three wall times.

    python bench/predict.py                  # 100,000 customers
    python bench/predict.py --customers 200000 --holdout 26
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from clv.predict import predict

TRUE = {"r": 0.5, "alpha": 5.0, "a": 0.8, "b": 2.5, "p": 6.0, "q": 4.0, "gamma": 15.0}
START = np.datetime64("2020-01-01", "D")
ARRIVAL_DAYS = 364
WATCHED_DAYS = 78 * 7
MOST_PURCHASES = 200


def synthetic_orders(customers: int, seed: int = 7, truth: dict[str, float] = TRUE) -> pd.DataFrame:
    """Orders (customer_id, time, amount) of `customers` simulated customers, one order per purchase."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(truth["r"], 1.0 / truth["alpha"], customers) / 7.0
    drop = rng.beta(truth["a"], truth["b"], customers)
    repeats = np.minimum(rng.geometric(drop), MOST_PURCHASES)
    owner = np.repeat(np.arange(customers), repeats + 1)
    gaps = rng.exponential(1.0, owner.size) / rate[owner]
    firsts = np.r_[0, np.cumsum(repeats + 1)[:-1]]
    gaps[firsts] = 0.0
    elapsed = np.cumsum(gaps)
    elapsed -= np.repeat(elapsed[firsts], repeats + 1)
    day = rng.integers(0, ARRIVAL_DAYS, customers)[owner] + elapsed
    seen = day < WATCHED_DAYS
    nu = rng.gamma(truth["q"], 1.0 / truth["gamma"], customers)
    amount = rng.gamma(truth["p"], 1.0 / nu[owner])
    seconds = (day[seen] * 86400).astype(np.int64)
    return pd.DataFrame({
        "customer_id": pd.array([f"c{i:07d}" for i in owner[seen]], dtype="str"),
        "time": pd.to_datetime(START + seconds.astype("timedelta64[s]")).tz_localize("UTC").as_unit("us"),
        "amount": amount[seen],
    })


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--holdout", type=int, default=None, help="weeks of holdout to compare, as well")
    args = parser.parse_args()
    orders = synthetic_orders(args.customers)
    print(f"{args.customers:,} customers, {len(orders):,} orders")
    times = []
    for _ in range(3):
        started = time.perf_counter()
        result = predict(orders, holdout_weeks=args.holdout)
        times.append(time.perf_counter() - started)
    model, spend = result.bgnbd, result.gamma_gamma
    print(f"BG/NBD r={model.r:.3f} alpha={model.alpha:.3f} a={model.a:.3f} b={model.b:.3f} "
          f"(true {TRUE['r']}, {TRUE['alpha']}, {TRUE['a']}, {TRUE['b']}), converged={model.converged}")
    if spend is not None:
        print(f"Gamma-Gamma p={spend.p:.3f} q={spend.q:.3f} gamma={spend.gamma:.3f} "
              f"(true {TRUE['p']}, {TRUE['q']}, {TRUE['gamma']}), converged={spend.converged}")
    print(f"predict: median of 3 wall times {statistics.median(times):.2f} s "
          f"({', '.join(f'{t:.2f}' for t in times)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
