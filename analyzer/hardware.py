"""Hardware profiles for serving a 35B-A3B mixture-of-experts model (Qwen3.6-35B-A3B) locally.

A profile states what a finance lead needs to price a box: its up-front price, its power at the wall
under load and at idle, how fast it generates (single-stream output tokens/s, the rate one request sees
through Ollama or llama.cpp with a Q4_K_M-class quantisation) and prefills, and its useful life.

Figures are dated community measurements (2026), cited in each profile's ``basis``. They are assumptions,
not promises: a throughput measured by ``plan replay`` (table ``endpoint_throughput``) replaces the
profile's figure, and the cost model says which one it used. Users add or override profiles in
``plan.toml``::

    [hardware.office-box]
    description = "Dual RTX 3090 tower we already priced"
    price_usd = 2400
    load_watts = 650
    idle_watts = 90
    output_tokens_per_s = 140
    prompt_tokens_per_s = 3000
    useful_life_months = 48
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .db import dicts, table_exists
from .errors import PlanError


@dataclass(frozen=True)
class HardwareProfile:
    name: str
    description: str
    price_usd: float  # per box, up front
    load_watts: float  # whole system at the wall while generating
    idle_watts: float  # whole system at the wall, model loaded, no requests
    output_tokens_per_s: float  # sustained decode rate the box delivers (single stream unless measured)
    prompt_tokens_per_s: float  # prefill rate
    useful_life_months: int
    maintenance_usd_per_month: float = 0.0  # per box
    max_boxes: int | None = None  # None: buy as many as needed
    basis: str = ""  # where the figures come from
    builtin: bool = True

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


BUILTIN_PROFILES: dict[str, HardwareProfile] = {
    p.name: p
    for p in (
        HardwareProfile(
            name="desktop-24gb",
            description="Desktop with a 24 GB consumer GPU (RTX 4090 class; a used RTX 3090 is ~10% slower)",
            price_usd=2700.0,
            load_watts=380.0,
            idle_watts=60.0,
            output_tokens_per_s=120.0,
            prompt_tokens_per_s=3000.0,
            useful_life_months=48,
            basis=(
                "Qwen3.6-35B-A3B Q4_K_M (~21 GB) fits a 24 GB card: ~120 tok/s on an RTX 4090, ~107 tok/s on an "
                "RTX 3090 with Ollama (runaihome.com, 2026). Price: RTX 4090 street ~$1,600 plus a ~$1,100 desktop. "
                "Power: an RTX 4090 draws ~300-350 W in bandwidth-bound decode plus ~60 W for the rest of the "
                "system; ~60 W idle with the model resident."
            ),
        ),
        HardwareProfile(
            name="desktop-32gb",
            description="Desktop with a 32 GB GPU (RTX 5090 class)",
            price_usd=4000.0,
            load_watts=560.0,
            idle_watts=75.0,
            output_tokens_per_s=170.0,
            prompt_tokens_per_s=5000.0,
            useful_life_months=48,
            basis=(
                "llama.cpp measured 214 tok/s for Qwen3.5-35B-A3B Q4_K_M on an RTX 5090 (zenn.dev/toki_mwc, "
                "April 2026); Ollama's defaults give less, so 170 tok/s is assumed. Price: RTX 5090 street "
                "~$2,800 plus a ~$1,200 desktop. Power: ~450 W card in decode plus ~100 W system; ~75 W idle."
            ),
        ),
        HardwareProfile(
            name="mac-studio-128gb",
            description="Mac Studio, M4 Max with 64-128 GB unified memory",
            price_usd=3500.0,
            load_watts=140.0,
            idle_watts=10.0,
            output_tokens_per_s=65.0,
            prompt_tokens_per_s=800.0,
            useful_life_months=60,
            basis=(
                "Qwen3.6-35B-A3B 4-bit (MLX) decodes at ~50-54 tok/s on an M1 Max and a 32 GB M5 "
                "(petronella.ai Mac leaderboard, May 2026); the M4 Max has ~35% more bandwidth than the M1 Max, "
                "so 65 tok/s is assumed. Apple Silicon prefill is ~10x slower than a discrete GPU. Price: "
                "M4 Max (16/40-core) with 128 GB ~$3,500. Power: Mac Studio idles near 9-10 W; ~140 W in decode."
            ),
        ),
        HardwareProfile(
            name="gb10-128gb",
            description="Small GB10-class box (NVIDIA DGX Spark, ASUS Ascent GX10), 128 GB unified memory",
            price_usd=4000.0,
            load_watts=100.0,
            idle_watts=30.0,
            output_tokens_per_s=55.0,
            prompt_tokens_per_s=3000.0,
            useful_life_months=48,
            basis=(
                "Qwen3.6-35B-A3B on a DGX Spark: 28-33 tok/s single-user FP8 in vLLM, 55.9 tok/s NVFP4 with MTP, "
                "and 433 tok/s aggregate at 32 concurrent requests (community benchmarks, May 2026); 273 GB/s "
                "LPDDR5X bounds single-stream decode. Price: DGX Spark ~$4,000 (OEM GB10 boxes from ~$3,000). "
                "Power: 60-90 W in LLM inference, 240 W adapter; 22-37 W idle depending on firmware."
            ),
        ),
        HardwareProfile(
            name="existing",
            description="The machine I already have (assumed: 32 GB RAM, 16 GB GPU or Apple Silicon, partial offload)",
            price_usd=0.0,
            load_watts=150.0,
            idle_watts=40.0,
            output_tokens_per_s=30.0,
            prompt_tokens_per_s=600.0,
            useful_life_months=36,
            max_boxes=1,
            basis=(
                "No purchase. Speed is the weakest assumption here: Qwen3.6-35B-A3B needs ~21 GB at Q4, so a "
                "16 GB GPU offloads experts to RAM (~50-56 tok/s on an RTX 5060 Ti/5080) and a 24 GB Mac mini "
                "M4 Pro gets 15-22 tok/s; 30 tok/s is assumed. Run `plan replay` on this machine: the measured "
                "throughput replaces the assumption. Idle counts the cost of keeping it awake to serve."
            ),
        ),
    )
}

DEFAULT_PROFILE = "desktop-24gb"
MEASURED_DEFAULT_PROFILE = "existing"  # replay only talks to loopback, so a measurement is of this machine

_NUMERIC_FIELDS = {
    "price_usd": float,
    "load_watts": float,
    "idle_watts": float,
    "output_tokens_per_s": float,
    "prompt_tokens_per_s": float,
    "useful_life_months": int,
    "maintenance_usd_per_month": float,
    "max_boxes": int,
}
_REQUIRED_FOR_NEW = ("price_usd", "load_watts", "output_tokens_per_s")


def _coerce(name: str, key: str, value):
    kind = _NUMERIC_FIELDS[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PlanError(f"plan.toml [hardware.{name}] {key} must be a number, got {value!r}.")
    if value < 0:
        raise PlanError(f"plan.toml [hardware.{name}] {key} cannot be negative ({value}).")
    if key in ("output_tokens_per_s", "prompt_tokens_per_s", "useful_life_months", "max_boxes") and value == 0:
        raise PlanError(f"plan.toml [hardware.{name}] {key} must be above zero.")
    return kind(value)


def load_profiles(config: dict | None = None) -> dict[str, HardwareProfile]:
    """Built-in profiles plus ``[hardware.NAME]`` tables from plan.toml. A table named like a built-in
    profile overrides only the keys it gives; a new name must give at least price, load power and speed."""
    profiles = dict(BUILTIN_PROFILES)
    user = (config or {}).get("hardware") or {}
    if not isinstance(user, dict):
        raise PlanError("plan.toml [hardware] must hold tables such as [hardware.mybox].")
    for name, table in user.items():
        if not isinstance(table, dict):
            raise PlanError(
                f"plan.toml hardware.{name} = {table!r}: each profile is a table such as [hardware.{name}] "
                "with price_usd, load_watts, idle_watts, output_tokens_per_s, useful_life_months."
            )
        unknown = set(table) - set(_NUMERIC_FIELDS) - {"description", "basis"}
        if unknown:
            raise PlanError(
                f"plan.toml [hardware.{name}] has unknown keys {sorted(unknown)}; "
                f"known keys: {sorted(set(_NUMERIC_FIELDS) | {'description', 'basis'})}."
            )
        values = {k: _coerce(name, k, v) for k, v in table.items() if k in _NUMERIC_FIELDS}
        for key in ("description", "basis"):
            if key in table:
                values[key] = str(table[key])
        base = profiles.get(name)
        if base is not None:
            profiles[name] = dataclasses.replace(base, builtin=False, **values)
            continue
        missing = [k for k in _REQUIRED_FOR_NEW if k not in values]
        if missing:
            raise PlanError(f"plan.toml [hardware.{name}] needs {', '.join(missing)} (a new profile).")
        output_rate = values.pop("output_tokens_per_s")
        profiles[name] = HardwareProfile(
            name=name,
            description=values.pop("description", f"User profile {name} from plan.toml"),
            price_usd=values.pop("price_usd"),
            load_watts=values.pop("load_watts"),
            idle_watts=values.pop("idle_watts", 0.0),
            output_tokens_per_s=output_rate,
            # Without a stated prefill rate assume a GPU-class one, 20x the decode rate.
            prompt_tokens_per_s=values.pop("prompt_tokens_per_s", 20.0 * output_rate),
            useful_life_months=values.pop("useful_life_months", 48),
            basis=values.pop("basis", "Figures given in plan.toml."),
            builtin=False,
            **values,
        )
    return profiles


def resolve_name(profiles: dict[str, HardwareProfile], name: str | None) -> str:
    """The profile a user means, by exact or case-insensitive name; a clear error lists the choices."""
    if name is None:
        return DEFAULT_PROFILE if DEFAULT_PROFILE in profiles else next(iter(profiles))
    name = str(name)
    if name in profiles:
        return name
    lowered = {k.lower(): k for k in profiles}
    if name.lower() in lowered:
        return lowered[name.lower()]
    raise PlanError(f"No hardware profile named {name!r}. Choose one of: {', '.join(profiles)} (or add [hardware.{name}] to plan.toml).")


def measured_throughput(con) -> dict | None:
    """The local endpoint's throughput measured by ``plan replay``: the most recently measured endpoint and
    model, at the concurrency that gave the highest aggregate output tokens/s. Falls back to the per-call
    rates of successful replays (their median, single stream) when replay recorded no throughput run."""
    if table_exists(con, "endpoint_throughput"):
        runs = dicts(
            con,
            """
            with latest as (
                select endpoint, model from endpoint_throughput
                where output_tokens_per_s > 0
                order by measured_at desc nulls last limit 1
            )
            select t.endpoint, t.model, t.concurrency, t.calls, t.output_tokens, t.wall_s,
                   t.output_tokens_per_s, t.measured_at
            from endpoint_throughput t join latest l
              on t.endpoint is not distinct from l.endpoint and t.model is not distinct from l.model
            where t.output_tokens_per_s > 0
            order by t.output_tokens_per_s desc, t.measured_at desc
            limit 1
            """,
        )
        if runs:
            r = runs[0]
            return {
                "source": "endpoint_throughput",
                "endpoint": r["endpoint"],
                "model": r["model"],
                "concurrency": r["concurrency"],
                "calls": r["calls"],
                "output_tokens_per_s": float(r["output_tokens_per_s"]),
                "measured_at": r["measured_at"],
            }
    if table_exists(con, "replays"):
        per_call = dicts(
            con,
            """
            select endpoint, model, count(*) as calls, median(output_tokens_per_s) as rate, max(finished_at) as last_at
            from replays
            where error is null and output_tokens_per_s > 0
            group by endpoint, model order by last_at desc nulls last limit 1
            """,
        )
        if per_call and per_call[0]["calls"] >= 5:
            r = per_call[0]
            return {
                "source": "replays",
                "endpoint": r["endpoint"],
                "model": r["model"],
                "concurrency": 1,
                "calls": r["calls"],
                "output_tokens_per_s": float(r["rate"]),
                "measured_at": r["last_at"],
            }
    return None


def apply_measurement(
    profiles: dict[str, HardwareProfile], measurement: dict | None, measured_on: str | None
) -> tuple[dict[str, HardwareProfile], dict[str, str]]:
    """Replace the throughput of the profile the measurement was taken on. Returns the profiles and, for
    each, where its throughput came from: ``measured`` or ``profile``."""
    sources = {name: "profile" for name in profiles}
    if measurement is None or measured_on is None or measured_on not in profiles:
        return profiles, sources
    out = dict(profiles)
    out[measured_on] = dataclasses.replace(
        profiles[measured_on], output_tokens_per_s=float(measurement["output_tokens_per_s"])
    )
    sources[measured_on] = "measured"
    return out, sources
