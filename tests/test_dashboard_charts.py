"""The dashboard's charts are drawn once per set of figures they show: seen again, a page
draws nothing; a changed figure is drawn afresh (never a stale chart)."""

from __future__ import annotations

import copy
import re
from typing import Any

from pathways_reporting import charts


def summary() -> dict[str, Any]:
    return {
        "sessions": {"by_month": {"2026-01": 3, "2026-02": 5},
                     "by_month_and_partner": {"Bassline Studios": {"2026-01": 2, "2026-02": 5},
                                              "Open Door Arts": {"2026-01": 1}}},
        "spend": {"contracts": [{"partner_id": "bassline", "contract_id": "c-1", "spent_pence": 125_000,
                                 "remaining_pence": 75_000}]},
        "outcomes": {"WEMWBS": {"pairs": 4, "mean_baseline": 41.5, "mean_follow_up": 47.25}},
        "co_production": {"bassline": {"level": 2}},
        "participants": {"by_setting": {"ward": 6, "community": 3}},
    }


def draw_all(s: dict[str, Any]) -> list[str | None]:
    return [charts.sessions_by_month(s, "partner"), charts.spend_against_budget(s), charts.wellbeing_change(s),
            charts.co_production_maturity(s), charts.participants_by_setting(s)]


def shown(svg: str | None) -> str:
    """A drawing without the random id pygal gives every chart: what a reader sees."""
    return re.sub(r"chart-[0-9a-f-]{36}", "chart-id", svg or "")


def drawn() -> int:
    return sum(d.cache_info().misses for d in charts.DRAWINGS)


def test_a_page_seen_again_draws_nothing_and_a_changed_figure_is_drawn_afresh() -> None:
    charts.forget_drawings()
    first = draw_all(summary())
    assert all(svg and svg.startswith("<svg") and "<script" not in svg for svg in first)  # the pages run no script
    assert drawn() == 5
    assert draw_all(summary()) == first and drawn() == 5  # the same figures, built anew: nothing drawn
    for change, index in (
        (lambda s: s["sessions"]["by_month_and_partner"]["Open Door Arts"].__setitem__("2026-02", 4), 0),
        (lambda s: s["spend"]["contracts"][0].__setitem__("spent_pence", 130_000), 1),
        (lambda s: s["outcomes"]["WEMWBS"].__setitem__("mean_follow_up", 48.0), 2),
        (lambda s: s["co_production"]["bassline"].__setitem__("level", 3), 3),
        (lambda s: s["participants"]["by_setting"].__setitem__("ward", 7), 4),
    ):
        changed = copy.deepcopy(summary())
        change(changed)
        before = drawn()
        again = draw_all(changed)
        assert drawn() == before + 1, f"chart {index}: one changed figure, one chart drawn"
        assert shown(again[index]) != shown(first[index]), f"chart {index} shows the change"
        charts.forget_drawings()
        assert shown(draw_all(summary())[index]) == shown(first[index]), f"chart {index}: the same figures, the same chart"
        draw_all(summary())
        assert [shown(x) for x in again[:index] + again[index + 1:]] == [shown(x) for x in first[:index] + first[index + 1:]]


def test_charts_without_figures_are_left_out() -> None:
    empty = {"sessions": {"by_month": {}, "by_month_and_partner": {}}, "spend": {"contracts": []},
             "outcomes": {"WEMWBS": {"pairs": 0, "mean_baseline": None, "mean_follow_up": None}},
             "co_production": {}, "participants": {"by_setting": {}}}
    assert draw_all(empty) == [None] * 5


def test_the_drawings_kept_are_bounded() -> None:
    charts.forget_drawings()
    s = summary()
    for n in range(charts.CHARTS_KEPT + 10):
        s["participants"]["by_setting"]["ward"] = n
        charts.participants_by_setting(s)
    assert charts._participants_by_setting.cache_info().currsize == charts.CHARTS_KEPT


def axis_labels(svg: str | None) -> list[str]:
    """The tick labels of a drawing's axes, as a reader sees them."""
    return re.findall(r'<g class="guides">.*?<text[^>]*>([^<]*)</text>', svg or "", re.S)


def test_axes_read_as_whole_counts_levels_and_pounds_and_partners_by_name() -> None:
    """(issue 17) the money axis was cut to "£1…", sessions and levels had 0.2 ticks, and
    charts named partners by id."""
    charts.forget_drawings()
    s = summary()
    names = {"bassline": "Bassline Studios CIC (demo)"}
    sessions = axis_labels(charts.sessions_by_month(s, "partner"))
    assert sessions and all(re.fullmatch(r"\d+", label) for label in sessions if label and not label.startswith("20")), sessions
    levels = axis_labels(charts.co_production_maturity(s, names))
    assert {"0", "1", "2", "3"} <= set(levels) and not any("." in label for label in levels), levels
    money = axis_labels(charts.spend_against_budget(s, names))
    pounds = [label for label in money if label.startswith("£")]
    assert pounds and all(re.fullmatch(r"£\d+(\.\d)?[km]?", label) for label in pounds), money
    assert "Bassline Studios CIC (demo) / c-1" in (charts.spend_against_budget(s, names) or "")
    assert "Bassline Studios CIC (demo)" in (charts.co_production_maturity(s, names) or "")
