"""How long `plan cost` takes on a large log: 1,000,000 requests over 30 days in 11 categories, judged.

    python benchmarks/bench_cost.py [--requests N]

Prints the time to build the payload (all five hardware profiles, three scenarios and the sensitivity
cases) and peak memory. The data is synthetic and inserted with SQL; nothing here is asserted."""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path


def build(con, n: int) -> None:
    con.execute(
        """
        insert into requests (id, created_at, cost_usd, cost_source, input_tokens, output_tokens, model)
        select k,
               timestamp '2026-01-01' + to_microseconds(cast(hash(k) % 2592000000000::ubigint as bigint)),
               0.0001 + (hash(k * 7) % 1000) / 100000.0,
               case when k % 50 = 0 then 'log' else 'catalog' end,
               200 + hash(k * 3) % 4000, 50 + hash(k * 5) % 800, 'gpt-4o-mini'
        from range(?) t(k)
        """,
        [n],
    )
    con.execute(
        "insert into categories (category_id, name, is_other, requests) "
        "select c, 'Category ' || c, c = 10, ? / 11 from range(11) t(c)",
        [n],
    )
    con.execute("insert into request_categories (request_id, category_id) select k, k % 11 from range(?) t(k)", [n])
    con.execute(
        """
        insert into category_acceptance (category_id, n, passed, acceptance, ci_low, ci_high, decision)
        select c, 60, 30 + 3 * c, (30 + 3 * c) / 60.0, (30 + 3 * c) / 60.0 - 0.12, least(1, (30 + 3 * c) / 60.0 + 0.1),
               case when c < 3 then 'local' when c < 6 then 'cascade' else 'frontier' end
        from range(10) t(c)
        """
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1_000_000)
    args = parser.parse_args()
    from analyzer.cost import cost_model
    from analyzer.db import connect

    with tempfile.TemporaryDirectory() as tmp:
        con = connect(str(Path(tmp) / "bench.duckdb"))
        t0 = time.perf_counter()
        build(con, args.requests)
        t1 = time.perf_counter()
        result = cost_model(con)
        t2 = time.perf_counter()
        con.close()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"requests: {args.requests:,}  build: {t1 - t0:.1f} s  cost_model: {t2 - t1:.2f} s  peak RSS: {peak_mb:,.0f} MB")
    print(f"monthly spend ${result['monthly_spend_usd']:,.0f}, plan {result['plan_scenario']} saves ${result['monthly_savings_usd']:,.0f}/mo, "
          f"{result['capacity']['boxes_needed']} box(es) of {result['selected_hardware']}")


if __name__ == "__main__":
    main()
