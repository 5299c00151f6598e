"""Charts for the dashboard and the printed report, drawn on the server as inline SVG with
pygal: nothing is fetched from a CDN, pages work without JavaScript, and a chart prints as
crisply as the text around it. Each function takes figures already scoped and filtered.

Drawing is the dearest part of a dashboard page (pygal builds an element per bar, with its
tooltip: 30–60 ms for two years of monthly bars by ten partners, more than every query of
the page together). A chart is a function of the few figures it shows, so each is drawn
from those figures as a tuple, and the last CHARTS_KEPT drawings of each kind are kept:
a page seen again, or another view with the same figures, draws nothing; a new fact that
changes what a chart shows changes its key, so nothing stale is shown."""

from __future__ import annotations

import functools
import re
from typing import Any

import pygal
from pygal.style import Style

CHARTS_KEPT = 64  # per kind of chart; a drawing is 10–100 kB of SVG

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


_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>", re.S)


def _render(chart: Any) -> str:
    svg: str = chart.render(is_unicode=True)
    # pygal writes its tooltip settings into every drawing as an inline script, even with no
    # script to read them: the pages run none (their Content-Security-Policy forbids it).
    return _SCRIPT.sub("", svg)


def sessions_by_month(summary: dict[str, Any], series_by: str, names: dict[str, str] | None = None) -> str | None:
    """Delivered sessions per month, stacked by partner (commissioner) or activity (partner)."""
    sessions = summary["sessions"]
    months = tuple(sessions["by_month"])
    if not months:
        return None
    named = names if series_by == "partner" and names else {}
    series = tuple((named.get(name, name), tuple(counts.get(m, 0) for m in months))
                   for name, counts in sessions[f"by_month_and_{series_by}"].items())
    return _sessions_by_month(months, series)


def _whole_numbers(top: int) -> list[int]:
    """Axis ticks for a count: whole numbers only (pygal would mark 0.2 of a session)."""
    step = max(1, -(-top // 8))
    return list(range(0, top + step, step))


@functools.lru_cache(maxsize=CHARTS_KEPT)
def _sessions_by_month(months: tuple[str, ...], series: tuple[tuple[str, tuple[int, ...]], ...]) -> str:
    top = max((sum(counts[i] for _, counts in series) for i in range(len(months))), default=0)
    chart = pygal.StackedBar(**_config(title="Sessions delivered per month", x_label_rotation=30,
                                       y_labels=_whole_numbers(top)))
    chart.x_labels = list(months)
    for name, counts in series:
        chart.add(name, list(counts))
    return _render(chart)


def spend_against_budget(summary: dict[str, Any], names: dict[str, str] | None = None) -> str | None:
    contracts = summary["spend"]["contracts"]
    if not contracts:
        return None
    names = names or {}
    return _spend_against_budget(tuple((f"{names.get(c['partner_id'], c['partner_id'])} / {c['contract_id']}",
                                        c["spent_pence"], c["remaining_pence"]) for c in contracts))


@functools.lru_cache(maxsize=CHARTS_KEPT)
def _spend_against_budget(contracts: tuple[tuple[str, int, int], ...]) -> str:
    chart = pygal.HorizontalStackedBar(**_config(title="Spend against each contract's budget",
                                                 value_formatter=_short_pounds, truncate_label=-1))
    chart.x_labels = [label for label, _, _ in contracts]
    chart.add("Spent", [spent / 100 for _, spent, _ in contracts])
    chart.add("Remaining", [max(remaining, 0) / 100 for _, _, remaining in contracts])
    return _render(chart)


def _short_pounds(value: float) -> str:
    """Axis labels that fit, whole: £935k rather than £935,005.90 (or pygal's cut "£1…")."""
    if value >= 1_000_000:
        return f"£{value / 1_000_000:.1f}m"
    return f"£{value / 1000:,.0f}k" if value >= 1000 else f"£{value:,.0f}"


def wellbeing_change(summary: dict[str, Any]) -> str | None:
    """Mean score at baseline and at latest follow-up, for each instrument with pairs."""
    measured = tuple((f"{name} ({o['pairs']} people)", o["mean_baseline"], o["mean_follow_up"])
                     for name, o in summary["outcomes"].items() if o["pairs"])
    return _wellbeing_change(measured) if measured else None


@functools.lru_cache(maxsize=CHARTS_KEPT)
def _wellbeing_change(measured: tuple[tuple[str, float, float], ...]) -> str:
    chart = pygal.Bar(**_config(title="Wellbeing: mean score, paired baseline and follow-up", print_values=True,
                                value_formatter=lambda v: f"{v:.2f}"))
    chart.x_labels = [label for label, _, _ in measured]
    chart.add("Baseline", [baseline for _, baseline, _ in measured])
    chart.add("Follow-up", [follow_up for _, _, follow_up in measured])
    return _render(chart)


def co_production_maturity(summary: dict[str, Any], names: dict[str, str] | None = None) -> str | None:
    latest, names = summary["co_production"], names or {}
    return _co_production_maturity(tuple((names.get(p, p), a["level"]) for p, a in latest.items())) if latest else None


@functools.lru_cache(maxsize=CHARTS_KEPT)
def _co_production_maturity(levels: tuple[tuple[str, int], ...]) -> str:
    chart = pygal.Bar(**_config(title="Co-production maturity: latest level per partner (1–3)", range=(0, 3),
                                y_labels=[0, 1, 2, 3], print_values=True, show_legend=False))
    chart.x_labels = [name for name, _ in levels]
    chart.add("Level", [level for _, level in levels])
    return _render(chart)


def participants_by_setting(summary: dict[str, Any]) -> str | None:
    by_setting = summary["participants"]["by_setting"]
    return _participants_by_setting(tuple(by_setting.items())) if by_setting else None


@functools.lru_cache(maxsize=CHARTS_KEPT)
def _participants_by_setting(by_setting: tuple[tuple[str, int], ...]) -> str:
    chart = pygal.Pie(**_config(title="Participants by setting", inner_radius=0.45, print_values=True, height=300))
    for setting, count in by_setting:
        chart.add(setting, count)
    return _render(chart)


FUNNEL_STAGES = (("referred", "Referred"), ("enrolled", "Enrolled"), ("attended", "Attended at least once"),
                 ("transitioned", "Moved into the community"), ("moved_on", "Moved on"))


def journey_funnel(summary: dict[str, Any]) -> str | None:
    funnel = summary["journey"]["funnel"]
    return _journey_funnel(tuple((label, funnel[key]) for key, label in FUNNEL_STAGES)) if any(funnel.values()) else None


@functools.lru_cache(maxsize=CHARTS_KEPT)
def _journey_funnel(stages: tuple[tuple[str, int], ...]) -> str:
    chart = pygal.HorizontalBar(**_config(title="The journey: referred, then the people enrolled in the period",
                                          print_values=True, show_legend=False, height=300,
                                          value_formatter=lambda v: f"{v:.0f}"))
    chart.x_labels = [label for label, _ in reversed(stages)]  # pygal draws the first label at the bottom
    chart.add("People", [count for _, count in reversed(stages)])
    return _render(chart)


GROUP_NAMES = {"participant": "Participants", "co_producer": "Co-producers", "partner": "Partners' staff",
               "commissioner": "Commissioner's staff"}


def tokenism_by_group(voices: dict[str, Any]) -> str | None:
    """The tokenism checklist as each group scored it, side by side: the share who said each
    sign happened (pathways_reporting.voices)."""
    checklist = next((s for s in voices["surveys"] if s["survey_id"] == "tokenism-checklist"), None)
    if checklist is None or not checklist["questions"]:
        return None
    groups = tuple(checklist["groups"])
    rows = tuple((q["text"], tuple(q["by_group"].get(g, {}).get("share_yes") for g in groups))
                 for q in checklist["questions"])
    named = tuple(f"{GROUP_NAMES.get(g, g)} ({checklist['groups'][g]['answered']})" for g in groups)
    return _tokenism_by_group(named, rows)


@functools.lru_cache(maxsize=CHARTS_KEPT)
def _tokenism_by_group(groups: tuple[str, ...], rows: tuple[tuple[str, tuple[float | None, ...]], ...]) -> str:
    chart = pygal.HorizontalBar(**_config(title="Tokenism checklist: who said each sign happened, group by group",
                                          range=(0, 100), height=120 + 34 * len(rows) * max(1, len(groups)) // 2,
                                          value_formatter=lambda v: f"{v:.0f}%"))
    chart.x_labels = [text for text, _ in reversed(rows)]  # pygal draws the first label at the bottom
    for i, group in enumerate(groups):
        chart.add(group, [_percent(shares[i]) for _, shares in reversed(rows)])
    return _render(chart)


def _percent(share: float | None) -> int | None:
    return None if share is None else round(100 * share)


DRAWINGS = (_journey_funnel, _sessions_by_month, _spend_against_budget, _wellbeing_change, _co_production_maturity,
            _participants_by_setting, _tokenism_by_group)


def forget_drawings() -> None:
    """Draw every chart afresh from now on (what the bench does to time a page's first view)."""
    for drawing in DRAWINGS:
        drawing.cache_clear()
