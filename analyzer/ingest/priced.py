"""Prices in SQL: the genai-prices tariffs of the models seen, loaded into a temporary table and joined per row.

A cost the log states wins; models whose price is not linear (time-of-day pricing) are priced request by request
with ``Pricing.price``; models the catalogue and plan.toml do not know keep a NULL cost and are listed."""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa

TARIFFS = "_ingest_tariffs"
_TARIFF_DDL = f"""
create temp table if not exists {TARIFFS} (
    provider varchar, model varchar, is_batch boolean, date_from date, date_to date, tier_lo bigint,
    tier_hi bigint, fixed double, per_input double, per_cached double, per_write double, per_output double,
    per_write_1h double, per_search double, minute_from integer, minute_to integer
)
"""


def tariff_cost(row: str, tariff: str = "t") -> str:
    """The catalogue price of one row from its tariff row."""
    return (
        f"{tariff}.fixed + {tariff}.per_input * coalesce({row}.input_tokens, 0)"
        f" + {tariff}.per_cached * coalesce({row}.cached_input_tokens, 0)"
        f" + {tariff}.per_write * coalesce({row}.cache_write_tokens, 0)"
        f" + {tariff}.per_write_1h * coalesce({row}.cache_write_1h_tokens, 0)"
        f" + {tariff}.per_output * coalesce({row}.output_tokens, 0)"
        f" + {tariff}.per_search * coalesce({row}.web_searches, 0)"
    )


def tariff_applies(row: str, tariff: str = "t") -> str:
    """The join condition of a row and the tariff that prices it (model, batch, tier, date and time of day);
    parameter ``$now`` (the date of a row without one)."""
    when = f"coalesce({row}.created_at, $now::timestamp)"
    minute_of_day = f"(hour({when}) * 60 + minute({when}))"
    return (
        f"{tariff}.provider = coalesce({row}.provider, '') and {tariff}.model = {row}.model"
        f" and {tariff}.is_batch = {row}.is_batch"
        f" and coalesce({row}.input_tokens, 0) > {tariff}.tier_lo and coalesce({row}.input_tokens, 0) <= {tariff}.tier_hi"
        f" and coalesce({row}.created_at, $now::timestamp) >= {tariff}.date_from"
        f" and coalesce({row}.created_at, $now::timestamp) < {tariff}.date_to"
        f" and {minute_of_day} >= {tariff}.minute_from and {minute_of_day} < {tariff}.minute_to"
        f" and coalesce({row}.cached_input_tokens, 0) <= coalesce({row}.input_tokens, 0)"  # else no price (``Pricing.price``)
    )


def priced_select(source: str, alias: str = "s") -> str:
    """Rows of ``source`` (a table, or a parenthesised query, with the stage's columns and ``_price``) with
    ``cost_usd``/``cost_source`` from the log, an exact price or the tariffs. ``cost_source`` is NULL where the
    tariffs do not know the model yet (the caller prices those rows later). Parameter: ``$now``."""
    s = alias
    return f"""
        select {s}.* exclude (cost_usd, cost_source, _price),
            coalesce({s}.cost_usd, {s}._price, {tariff_cost(s)}) as cost_usd,
            case when {s}.cost_usd is not null then 'log'
                 when {s}._price is not null or t.model is not null then 'catalog'
                 when ({s}.input_tokens is null and {s}.output_tokens is null) or {s}.model is null then 'unknown'
            end as cost_source
        from {source} {s}
        left join {TARIFFS} t
          on {s}.cost_usd is null and {s}._price is null and {tariff_applies(s)}
         and ({s}.input_tokens is not null or {s}.output_tokens is not null)
    """


class Tariffs:
    """The tariffs of one ingest run, loaded into ``_ingest_tariffs`` as models are met."""

    def __init__(self, con, pricing, now: datetime):
        self.con = con
        self.pricing = pricing
        self.now = now
        self.priced_keys: set[tuple] = set()
        self.exact_keys: set[tuple] = set()
        self.unknown_models: set[str] = set()
        con.execute(_TARIFF_DDL)
        con.execute(f"delete from {TARIFFS}")  # another run may have had other prices (plan.toml)

    def learn(self, keys: list[tuple]) -> None:
        """Load the tariffs of these (provider, model, is_batch) keys, so that SQL prices their rows."""
        new = [k for k in keys if k not in self.priced_keys]
        if not new:
            return
        rows, exact = self.pricing.tariff_rows(new)
        self.priced_keys.update(new)
        self.exact_keys.update(exact)
        if rows:
            self.con.executemany(f"insert into {TARIFFS} values ({', '.join('?' * 16)})", rows)
        covered = {(r[0], r[1], r[2]) for r in rows} | exact
        self.unknown_models.update(k[1] for k in new if k not in covered)

    def exact_prices(self, rows) -> tuple[list, list]:
        """(keys, prices) for rows ``(key, provider, model, input, output, cached, write, is_batch, created_at,
        write_1h, searches[, tier])`` whose model is priced request by request; rows of other models are left out."""
        return self._prices([row for row in rows if (row[1] or "", row[2], bool(row[7])) in self.exact_keys])

    def tier_prices(self, rows) -> tuple[list, list]:
        """(keys, prices) for rows as ``exact_prices`` takes them, each at the service tier it names (its last value)."""
        return self._prices(rows, tiered=True)

    def _prices(self, rows, tiered: bool = False) -> tuple[list, list]:
        keys, prices = [], []
        for key, provider, model, inp, out, cached, write, is_batch, created, write_1h, searches, *tier in rows:
            price = self.pricing.price(provider, model, inp, out, cached, write, is_batch, created, write_1h, searches,
                                       service_tier=tier[0] if tiered and tier else None)
            if price is not None:
                keys.append(key)
                prices.append(price)
        return keys, prices


def price_stored(con, tariffs: Tariffs, source_file: str, first_line: int, last_line: int) -> None:
    """Price rows the SQL route stored before their model's tariffs were known (models first seen late in a file)."""
    where = "r.source_file = $file and r.source_line between $first and $last and r.cost_source is null"
    args = {"file": source_file, "first": first_line, "last": last_line}
    keys = con.execute(
        f"select distinct coalesce(r.provider, ''), r.model, r.is_batch from requests r where {where}", args
    ).fetchall()
    tariffs.learn(keys)
    con.execute(
        f"""
        update requests r set cost_source = 'catalog', cost_usd = {tariff_cost('r')}
        from {TARIFFS} t where {where} and {tariff_applies('r')}
        """,
        {**args, "now": tariffs.now},
    )
    if tariffs.exact_keys:
        todo = con.execute(
            f"""select r.id, r.provider, r.model, r.input_tokens, r.output_tokens, r.cached_input_tokens,
                       r.cache_write_tokens, r.is_batch, r.created_at, r.cache_write_1h_tokens, r.web_searches
                from requests r where {where}""",
            args,
        ).fetchall()
        ids, prices = tariffs.exact_prices(todo)
        if ids:
            con.register("_ingest_exact", pa.table({"id": pa.array(ids, pa.int64()), "price": pa.array(prices, pa.float64())}))
            try:
                con.execute("update requests r set cost_usd = e.price, cost_source = 'catalog' from _ingest_exact e where r.id = e.id")
            finally:
                con.unregister("_ingest_exact")
    con.execute(f"update requests r set cost_source = 'unknown' where {where}", args)
