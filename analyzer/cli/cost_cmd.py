from __future__ import annotations

import click

from .options import config_option, db_option, echo, emit_json, json_option, say


@click.command()
@db_option
@config_option
@json_option
@click.option("--hardware", "hardware", default=None, help="Hardware profile for the headline (built-in or [hardware.NAME] in plan.toml).")
@click.option(
    "--electricity-usd-per-kwh",
    "electricity",
    type=float,
    default=None,
    help="Electricity price (default: $PLAN_ELECTRICITY_USD_PER_KWH, [cost] electricity_usd_per_kwh, else $0.17).",
)
@click.option("--target", type=float, default=None, help="Re-derive decisions at this acceptance target (0-1).")
def cost(db_path, config_file, as_json, hardware, electricity, target):
    """Monthly spend per category, savings if accepted traffic moves local, hardware payback and capacity.

    Works after `plan ingest` alone (the all-local ceiling), and sharpens as
    `plan categorize` and `plan judge` run. Hardware profiles are built in;
    add yours as [hardware.NAME] in plan.toml.

    \b
    Examples:
      plan cost
      plan cost --hardware mac-studio-128gb --json
    """
    from ..config import load_config
    from ..cost import CostSettings, cost_model
    from ..db import connect

    settings = CostSettings.resolve(load_config(config_file), hardware=hardware, electricity_usd_per_kwh=electricity,
                                    target=target)
    con = connect(db_path, read_only=True)
    try:
        result = cost_model(con, settings, progress=not as_json, say=say)
    finally:
        con.close()
    if as_json:
        emit_json(result)
        return
    echo(render_text(result))


def _usd(x) -> str:
    if x is None:
        return "-"
    digits = 2 if 0 < abs(x) < 10 else 0  # small logs still show their cents
    return f"-${-x:,.{digits}f}" if x < 0 else f"${x:,.{digits}f}"


def _spend(x) -> str:
    """Spend or savings: "unknown" when no request behind it has a known cost (never $0)."""
    return "unknown" if x is None else _usd(x)


def _months(x, life=None) -> str:
    if x is None:
        return "never"
    if x == 0:
        return "now"
    return f"{x:,.1f} mo" + (" > life" if life is not None and x > life else "")


def _pct(x) -> str:
    return "-" if x is None else f"{x:.0%}"


def _spend_lines(r: dict) -> list[str]:
    """The window and the month: the full traffic's spend, and the sample's own when the logs are a sample."""
    sampling = r.get("sampling") or {}
    sampled = bool(sampling.get("sampled"))
    lines = [
        f"Window: {r['first_at']:%Y-%m-%d %H:%M} to {r['last_at']:%Y-%m-%d %H:%M} UTC ({r['window_days']:.1f} days, "
        f"{r['requests']:,} requests, {_spend(r['observed_spend_usd'])} {'in the sample' if sampled else 'observed'})"
    ]
    month = f"Monthly API spend (30 days): {_spend(r['monthly_spend_usd'])}"
    if sampled and r["monthly_spend_usd"] is not None:
        month += (f" for the full traffic, 95% range {_usd(r['monthly_spend_low_usd'])} to "
                  f"{_usd(r['monthly_spend_high_usd'])}; {_usd(r['sample_monthly_spend_usd'])} in the sample itself")
    lines.append(month)
    if sampled:
        lines.append(sampling["sentence"])
    return lines


def _potential_lines(r: dict) -> list[str]:
    p = r.get("potential")
    if not p:
        return []
    s = r["scenarios"].get("potential") or {}
    return [
        f"  {'potential (not measured)':<28} {_spend(p['monthly_savings_usd']):>10}  at {p['acceptance_assumed']:.0%} "
        f"acceptance  boxes {s.get('boxes_needed', 0)}  payback {_months(p['payback_months'])}",
        "  " + p["sentence"],
    ]


def render_text(r: dict) -> str:
    lines = _spend_lines(r)
    pr = r["pricing"]
    lines.append(
        f"Priced from log: {pr['log']['requests']:,} requests ({_usd(pr['log']['spend_usd'])}); catalog: "
        f"{pr['catalog']['requests']:,} ({_usd(pr['catalog']['spend_usd'])}); unknown cost: {pr['unknown']['requests']:,}"
    )
    if pr["unknown"]["models"]:
        lines.append("  unknown-cost models: " + ", ".join(f"{m['model']} ({m['requests']:,})" for m in pr["unknown"]["models"][:8]))
    t = r.get("trend")
    if t:
        verdict = t["direction"] if t["significant"] else "no significant trend (95% interval of the slope includes zero)"
        mean = t["mean_daily_spend_usd"]
        if t["weekly_change_pct"] is not None and mean:
            low, high = t["slope_ci_low"] * 7 / mean * 100, t["slope_ci_high"] * 7 / mean * 100
            verdict += f": {t['weekly_change_pct']:+.1f}% of daily spend per week [{low:+.1f}%, {high:+.1f}%]"
        lines.append(f"Trend over {t['days']} days: {verdict}")
    lines.append("")
    lines.append(f"{'Category':<34} {'Decision':<21} {'Accept':>16} {'Spend/mo':>10} {'Savings/mo [95% interval]':>30}")
    for c in r["categories"]:
        acc = "-" if c["acceptance"] is None else f"{c['acceptance']:.0%} ({_pct(c['ci_low'])}-{_pct(c['ci_high'])})"
        interval = (f"{_spend(c['monthly_savings_usd'])} [{_usd(c['monthly_savings_low_usd'])}, "
                    f"{_usd(c['monthly_savings_high_usd'])}]" if c["monthly_savings_usd"] is not None else "unknown")
        name = (c["name"] or "")[:33]
        lines.append(f"{name:<34} {c['decision']:<21} {acc:>16} {_spend(c['monthly_spend_usd']):>10} {interval:>30}")
    lines.append("")
    lines.append(f"Scenarios on {r['selected_hardware']} (monthly, after electricity and maintenance):")
    for key, label in (("route", "route (local-ready move)"), ("cascade", "cascade (plus local-first)"), ("ceiling", "ceiling (everything local)")):
        s = r["scenarios"][key]
        mark = "  <- plan" if key == r["plan_scenario"] else ""
        lines.append(
            f"  {label:<28} {_usd(s['monthly_savings_usd']):>10} [{_usd(s['monthly_savings_low_usd'])}, {_usd(s['monthly_savings_high_usd'])}]"
            f"  boxes {s['boxes_needed']}  payback {_months(s['payback_months'])}{mark}"
        )
    lines.extend(_potential_lines(r))
    lines.append("  " + r["scenarios"]["framing"]["sentence"])
    if r.get("undecided_monthly_spend_usd"):
        lines.append(f"  Undecided (not measured, or judged by similarity alone): {_usd(r['undecided_monthly_spend_usd'])}/month")
    lines.append("")
    lines.append(f"Hardware ({r['plan_scenario']} plan):")
    lines.append(f"  {'Profile':<18} {'Price':>8} {'tok/s':>12} {'Boxes':>5} {'Net/mo':>9} {'Payback':>18} {'12 mo':>9} {'24 mo':>9} {'36 mo':>9}")
    for h in r["hardware"]:
        cum = h["cumulative_net_usd"] or {}
        tps = f"{h['output_tokens_per_s']:.0f}{'*' if h['throughput_source'] == 'measured' else ''}"
        boxes = f"{h['boxes_needed']}" + ("!" if not h["fits"] else "")
        lines.append(
            f"  {h['name'][:18]:<18} {_usd(h['price_usd']):>8} {tps:>12} {boxes:>5} {_usd(h['monthly_savings_usd']):>9} "
            f"{_months(h['payback_months'], h['useful_life_months']) if h['fits'] else 'n/a':>18} {_usd(cum.get('12')):>9} {_usd(cum.get('24')):>9} {_usd(cum.get('36')):>9}"
            + ("  <-" if h["selected"] else "")
        )
    if any(h["throughput_source"] == "measured" for h in r["hardware"]):
        lines.append("  * throughput measured by plan replay")
    if any(not h["fits"] for h in r["hardware"]):
        lines.append("  ! needs more boxes than the profile allows")
    cap = r["capacity"]
    if cap.get("peak_hour"):
        q = cap["queue"] or {}
        wait = "unbounded" if q.get("mean_wait_s") is None else f"{q['mean_wait_s']:.1f} s"
        lines.append("")
        lines.append(
            f"Capacity on {cap['hardware']}: p{cap['percentile']:g} hour needs {cap['peak_hour']['busy_seconds']:,.0f} busy s "
            f"({cap['peak_hour']['requests']:,.0f} requests, {cap['peak_hour']['output_tokens']:,.0f} output tokens); "
            f"{cap['boxes_needed']} box(es) at {cap['utilisation_at_peak']:.0%} utilisation, mean wait {wait} (M/M/c)."
        )
    lines.append("")
    lines.append("Sensitivity (plan on selected hardware):")
    for s in r["sensitivity"]:
        lines.append(f"  {s['description']:<52} {_usd(s['monthly_savings_usd']):>10}/mo  payback {_months(s['payback_months'])}")
    if r["notes"]:
        lines.append("")
        lines.extend("Note: " + n for n in r["notes"])
    return "\n".join(lines)
