"""Static PNG charts for the report, drawn from the report context only (so they match its numbers).

Matplotlib with the Agg backend: no display, no JavaScript, images any mail client shows. Each chart is
960 px wide (shown at 600 px, sharp on high-density screens) and its height grows with the number of bars.
"""

from __future__ import annotations

import io

from . import decisions as dv

DECISION_COLOURS = dv.COLOURS
INK = "#24292f"
MUTED = "#6e7781"
GRID = "#e5e7eb"
WIDTH_IN = 6.4
DPI = 150
LABEL_CHARS = 34

CHART_TITLES = {
    "spend_by_category": "Monthly API spend by category",
    "acceptance": "Acceptance per category, with 95% intervals",
    "payback": "Cumulative net savings against hardware cost",
    "capacity": "Peak-hour load against capacity",
}


def _short(label: str | None, limit: int = LABEL_CHARS) -> str:
    label = " ".join(str(label or "").split())
    return label if len(label) <= limit else label[: limit - 1].rstrip() + "…"


def _label(rank: int | None, name: str | None, width: int = 30) -> str:
    """A category label on two lines at most, numbered like the report's sections, so similar names that
    differ only at the end stay distinguishable."""
    import textwrap

    text = " ".join(str(name or "").split())
    if rank is not None:
        text = f"{rank}. {text}"
    lines = textwrap.wrap(text, width) or [""]
    if len(lines) > 2:
        lines = [lines[0], _short(" ".join(lines[1:]), width)]
    return "\n".join(lines)


def _usd_axis(value, _pos=None, digits: int = 2) -> str:
    sign = "−" if value < 0 else ""
    value = abs(value)
    if value >= 1_000_000:
        return f"{sign}${value / 1_000_000:.1f}M"
    if value >= 10_000:
        return f"{sign}${value / 1000:.0f}k"
    if value >= 1000:
        return f"{sign}${value / 1000:.1f}k"
    if value >= 10 or value == 0:
        return f"{sign}${value:.0f}"
    return f"{sign}${value:.{digits}f}"


def _usd_scale(top: float):
    """A dollar formatter with enough decimals for an axis that runs to ``top``: a month of a few cents gets ticks
    of $0.005, not a row of "$0.00"."""
    import math

    digits = 2 if top >= 1 or top <= 0 else min(6, max(2, 1 - math.floor(math.log10(top / 5))))
    return lambda value, _pos=None: _usd_axis(value, _pos, digits)


def _tokens_axis(value, _pos=None) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if value >= 1000:
        return f"{value / 1000:.0f}k"
    return f"{value:.0f}"


def _figure(height_in: float):
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(WIDTH_IN, height_in), dpi=DPI)
    ax.spines[["top", "right"]].set_visible(False)
    ax.spines[["left", "bottom"]].set_color(GRID)
    ax.tick_params(colors=INK, labelsize=7.5)
    return fig, ax


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    # No software/date metadata: the same context gives the same bytes.
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None}, facecolor="white")
    plt.close(fig)
    return buffer.getvalue()


def spend_by_category(rows: list[dict]) -> bytes | None:
    """Bars of monthly spend; None (left out) when no category has a known, non-zero spend to show."""
    rows = [r for r in rows if r.get("monthly_spend_usd") is not None]
    if not rows or not any(r["monthly_spend_usd"] > 0 for r in rows):
        return None
    fig, ax = _figure(1.3 + 0.36 * len(rows))
    labels = [_label(r.get("rank"), r["name"]) for r in rows][::-1]
    values = [r["monthly_spend_usd"] for r in rows][::-1]
    colours = [DECISION_COLOURS.get(str(r.get("decision")), DECISION_COLOURS[dv.NOT_MEASURED]) for r in rows][::-1]
    bars = ax.barh(range(len(rows)), values, color=colours, height=0.62)
    ax.set_yticks(range(len(rows)), labels)
    top = max(values)
    money = _usd_scale(top)
    ax.xaxis.set_major_formatter(money)
    ax.grid(axis="x", color=GRID, linewidth=0.6)
    ax.set_axisbelow(True)
    ax.set_xlabel("Projected API spend per 30-day month", color=MUTED, fontsize=8)
    for bar, value in zip(bars, values, strict=True):
        ax.text(bar.get_width() + top * 0.01, bar.get_y() + bar.get_height() / 2, money(value), va="center", fontsize=7, color=INK)
    ax.set_xlim(0, top * 1.15)
    _decision_legend(ax, {r.get("decision") for r in rows})
    return _png(fig)


def _decision_legend(ax, decisions):
    from matplotlib.patches import Patch

    handles = [
        Patch(color=colour, label=dv.LABELS.get(name, name))
        for name, colour in DECISION_COLOURS.items()
        if name in decisions
    ]
    if handles:
        ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=len(handles), fontsize=7, frameon=False)


def acceptance(rows: list[dict], target: float | None) -> bytes | None:
    rows = [r for r in rows if r.get("acceptance") is not None]
    if not rows:
        return None
    fig, ax = _figure(1.3 + 0.36 * len(rows))
    rows = rows[::-1]
    ys = range(len(rows))
    rates = [r["acceptance"] * 100 for r in rows]
    lows = [max(0.0, (r["acceptance"] - (r["ci_low"] if r["ci_low"] is not None else r["acceptance"])) * 100) for r in rows]
    highs = [max(0.0, ((r["ci_high"] if r["ci_high"] is not None else r["acceptance"]) - r["acceptance"]) * 100) for r in rows]
    colours = [DECISION_COLOURS.get(str(r.get("decision")), DECISION_COLOURS[dv.NOT_MEASURED]) for r in rows]
    ax.errorbar(rates, list(ys), xerr=[lows, highs], fmt="none", ecolor=MUTED, elinewidth=1.2, capsize=3)
    ax.scatter(rates, list(ys), c=colours, s=28, zorder=3)
    ax.set_yticks(list(ys), [_label(r.get("rank"), f"{r['name']} (n={r['n']})") for r in rows])
    ax.set_xlim(0, 100)
    ax.xaxis.set_major_formatter(lambda v, _p: f"{v:.0f}%")
    ax.grid(axis="x", color=GRID, linewidth=0.6)
    ax.set_axisbelow(True)
    if target is not None:
        ax.axvline(target * 100, color="#cf222e", linestyle="--", linewidth=1)
        ax.text(target * 100, len(rows) - 0.45, f" target {target * 100:.0f}%", color="#cf222e", fontsize=7, va="bottom")
    ax.set_ylim(-0.6, len(rows) - 0.2)
    ax.set_xlabel("Share of replayed requests whose local answer met the category's criteria", color=MUTED, fontsize=8)
    return _png(fig)


def payback(series: dict | None) -> bytes | None:
    """Cumulative net savings against the hardware bought; None (left out) when there is neither a box to pay back
    nor any savings: a flat line at $0 says nothing."""
    if not series or not series.get("months"):
        return None
    if not any(series["hardware_outlay_usd"]) and not any(series["cumulative_savings_usd"]):
        return None
    fig, ax = _figure(3.0)
    months = series["months"]
    if series.get("cumulative_savings_low_usd") and series.get("cumulative_savings_high_usd"):
        ax.fill_between(
            months, series["cumulative_savings_low_usd"], series["cumulative_savings_high_usd"],
            color=DECISION_COLOURS[dv.LOCAL], alpha=0.13, linewidth=0, label="95% savings interval",
        )
    ax.plot(months, series["cumulative_savings_usd"], color=DECISION_COLOURS[dv.LOCAL], linewidth=2, label="cumulative savings, net of running costs")
    ax.step(months, series["hardware_outlay_usd"], where="post", color="#cf222e", linestyle="--", linewidth=1.2, label="hardware bought")
    point = series.get("payback_months")
    if point is not None and 0 < point <= months[-1]:
        level = series["hardware_outlay_usd"][min(int(point), len(months) - 1)]
        ax.scatter([point], [level], color=INK, zorder=4, s=30)
        ax.annotate(f"pays back at {point:.1f} months", (point, level), textcoords="offset points", xytext=(8, -14), fontsize=8, color=INK)
    elif point is None:
        ax.set_title("does not pay back: savings do not cover running costs", fontsize=8, loc="right", color="#cf222e")
    elif point > months[-1]:
        ax.set_title(f"pays back at {point:.0f} months, beyond this chart", fontsize=8, loc="right", color=INK)
    values = series["cumulative_savings_usd"] + series["hardware_outlay_usd"] + (series.get("cumulative_savings_high_usd") or [])
    low = min([0.0] + series["cumulative_savings_usd"] + (series.get("cumulative_savings_low_usd") or []))
    ax.set_ylim(low * 1.1, (max(values) or 1) * 1.35)
    ax.set_xlim(0, months[-1])
    ax.set_xticks([m for m in range(0, months[-1] + 1, 6)])
    ax.yaxis.set_major_formatter(_usd_scale(max(abs(v) for v in values + [low]) or 1))
    ax.grid(color=GRID, linewidth=0.6)
    ax.set_axisbelow(True)
    boxes = series.get("boxes") or 1
    ax.set_xlabel(f"Months after buying {boxes} × {series.get('hardware') or 'box'}", color=MUTED, fontsize=8)
    ax.legend(loc="upper left", fontsize=7, frameon=False, ncol=3)
    if series.get("basis") == "potential":
        ax.text(0.99, 0.03, "potential, not measured", transform=ax.transAxes, ha="right", va="bottom", fontsize=8,
                color="#cf222e", style="italic")
    return _png(fig)


def capacity(data: dict | None) -> bytes | None:
    """Local output tokens per UTC hour of day (mean and busiest) against what the planned boxes generate."""
    if not data or not data.get("hour_of_day") or not data.get("box_output_tokens_per_hour"):
        return None
    fig, ax = _figure(2.8)
    hours = [h["hour"] for h in data["hour_of_day"]]
    ax.bar(hours, [h["max_output_tokens"] for h in data["hour_of_day"]], color="#f0b8b8", width=0.8, label="busiest such hour")
    ax.bar(hours, [h["mean_output_tokens"] for h in data["hour_of_day"]], color="#cf222e", width=0.5, label="average")
    per_box = data["box_output_tokens_per_hour"]
    boxes = data.get("boxes") or 1
    peak = (data.get("peak_hour") or {}).get("output_tokens")
    if peak is not None:
        ax.axhline(peak, color=INK, linestyle=":", linewidth=1, label=f"p{data.get('percentile') or 95:g} hour")
    busiest = max([peak or 0] + [h["max_output_tokens"] for h in data["hour_of_day"]]) or 1
    capacity_line = per_box * boxes
    if capacity_line > 4 * busiest:
        # Far more capacity than demand: keep the demand readable and say where the capacity line is.
        ax.set_ylim(0, busiest * 1.35)
        ax.set_title(
            f"capacity of {boxes} box{'es' if boxes != 1 else ''}: {_tokens_axis(capacity_line)}/hour, {capacity_line / busiest:,.0f}× the busiest hour (off the scale)",
            fontsize=7.5, loc="right", color=DECISION_COLOURS[dv.LOCAL],
        )
    else:
        ax.axhline(capacity_line, color=DECISION_COLOURS[dv.LOCAL], linewidth=1.4, label=f"capacity of {boxes} box{'es' if boxes != 1 else ''}")
        ax.set_ylim(0, max(capacity_line, busiest) * 1.18)
    ax.set_xlim(-0.6, 23.6)
    ax.set_xticks(range(0, 24, 3))
    ax.yaxis.set_major_formatter(_tokens_axis)
    ax.grid(axis="y", color=GRID, linewidth=0.6)
    ax.set_axisbelow(True)
    ax.set_xlabel(f"Hour of day (UTC); output tokens the local model would generate, on {data.get('hardware') or 'the chosen hardware'}", color=MUTED, fontsize=8)
    ax.legend(loc="upper left", fontsize=7, frameon=False, ncol=4)
    return _png(fig)


def render_charts(context: dict) -> dict[str, bytes]:
    """PNG bytes per chart name, for the charts the context has data for (in the order the report shows them)."""
    import matplotlib

    charts = context.get("charts", {})
    drawn = {}
    # Text from logs is drawn literally: no $...$ mathtext.
    with matplotlib.rc_context({"text.parse_math": False, "font.family": "DejaVu Sans", "svg.hashsalt": "plan"}):
        for name, draw in (
            ("spend_by_category", lambda: spend_by_category(charts.get("spend_by_category") or [])),
            ("acceptance", lambda: acceptance(charts.get("acceptance") or [], charts.get("target"))),
            ("payback", lambda: payback(charts.get("payback"))),
            ("capacity", lambda: capacity(charts.get("capacity"))),
        ):
            png = draw()
            if png:
                drawn[name] = png
    return drawn
