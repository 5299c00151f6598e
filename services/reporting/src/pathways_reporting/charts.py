"""Charts for the dashboard and the printed report, drawn on the server as inline SVG with
pygal: nothing is fetched from a CDN, pages work without JavaScript, and a chart prints as
crisply as the text around it. Each function takes figures already scoped and filtered."""

from __future__ import annotations

from typing import Any

import pygal
from pygal.style import Style

STYLE = Style(
    background="transparent", plot_background="transparent", foreground="#1f2933", foreground_strong="#1f2933",
    foreground_subtle="#7b8794", opacity=".9", opacity_hover="1", title_font_size=16, legend_font_size=12,
    label_font_size=11, value_font_size=11,
    colors=("#2f6f8f", "#e07a2f", "#5a9e5a", "#a05195", "#d45087", "#8c6d31", "#3d5a80", "#98c1d9"),
)


def _config(**extra: Any) -> dict[str, Any]:
    # js=[]: pygal would otherwise link its tooltip script from a CDN.
    return {"js": [], "disable_xml_declaration": True, "style": STYLE, "width": 640, "height": 340,
            "legend_at_bottom": True, "print_values": False, "margin": 12} | extra


def _render(chart: Any) -> str:
    svg: str = chart.render(is_unicode=True)
    return svg


def sessions_by_month(summary: dict[str, Any], series_by: str) -> str | None:
    """Delivered sessions per month, stacked by partner (commissioner) or activity (partner)."""
    sessions = summary["sessions"]
    months, series = list(sessions["by_month"]), sessions[f"by_month_and_{series_by}"]
    if not months:
        return None
    chart = pygal.StackedBar(**_config(title="Sessions delivered per month", x_label_rotation=30))
    chart.x_labels = months
    for name, counts in series.items():
        chart.add(name, [counts.get(m, 0) for m in months])
    return _render(chart)


def spend_against_budget(summary: dict[str, Any]) -> str | None:
    contracts = summary["spend"]["contracts"]
    if not contracts:
        return None
    chart = pygal.HorizontalStackedBar(**_config(title="Spend against each contract's budget",
                                                 value_formatter=_short_pounds))
    chart.x_labels = [f"{c['partner_id']} / {c['contract_id']}" for c in contracts]
    chart.add("Spent", [c["spent_pence"] / 100 for c in contracts])
    chart.add("Remaining", [max(c["remaining_pence"], 0) / 100 for c in contracts])
    return _render(chart)


def _short_pounds(value: float) -> str:
    """Axis labels that fit: £935k rather than £935,005.90."""
    if value >= 1_000_000:
        return f"£{value / 1_000_000:.1f}m"
    return f"£{value / 1000:,.0f}k" if value >= 10_000 else f"£{value:,.0f}"


def wellbeing_change(summary: dict[str, Any]) -> str | None:
    """Mean score at baseline and at latest follow-up, for each instrument with pairs."""
    measured = {name: o for name, o in summary["outcomes"].items() if o["pairs"]}
    if not measured:
        return None
    chart = pygal.Bar(**_config(title="Wellbeing: mean score, paired baseline and follow-up", print_values=True,
                                value_formatter=lambda v: f"{v:.2f}"))
    chart.x_labels = [f"{name} ({o['pairs']} people)" for name, o in measured.items()]
    chart.add("Baseline", [o["mean_baseline"] for o in measured.values()])
    chart.add("Follow-up", [o["mean_follow_up"] for o in measured.values()])
    return _render(chart)


def co_production_maturity(summary: dict[str, Any]) -> str | None:
    latest = summary["co_production"]
    if not latest:
        return None
    chart = pygal.Bar(**_config(title="Co-production maturity: latest level per partner (1–3)", range=(0, 3),
                                print_values=True, show_legend=False))
    chart.x_labels = list(latest)
    chart.add("Level", [a["level"] for a in latest.values()])
    return _render(chart)


def participants_by_setting(summary: dict[str, Any]) -> str | None:
    by_setting = summary["participants"]["by_setting"]
    if not by_setting:
        return None
    chart = pygal.Pie(**_config(title="Participants by setting", inner_radius=0.45, print_values=True, height=300))
    for setting, count in by_setting.items():
        chart.add(setting, count)
    return _render(chart)
