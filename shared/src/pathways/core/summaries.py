"""Summaries: tables of answers a projection keeps beside its tables of facts, so a
dashboard reads a few rows per day or month instead of aggregating every fact at query
time (issue 13: 1 M events made one page cost 1.4 s).

Two ways to keep one, by what the facts do:
- facts that only ever add (an attendance, an enrolment) add into counters as they are
  applied: `accumulate` (pathways.core.rows), no read needed;
- facts that change (a session delivered or cancelled, a claim approved) make the summary
  of their group stale. A `Summary` names its source table, the columns that group it
  (`by`, e.g. programme and day) and the grouped query that computes it; the batch notes the
  groups its writes leave and join, and only those groups are recomputed, in the batch's
  transaction. What that costs grows with the facts in the groups touched, not with history.

A rebuild fills the source first and computes each summary once, whole, at the end. A
summary of facts that only ever add can instead be added into by the handlers as they go
(`refreshed=False`): no batch then reads its source at all, and a rebuild, which fills it
whole anyway, drops those writes."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, Table, bindparam

from pathways.core.rows import Rows


@dataclass(frozen=True)
class Summary:
    table: Table  # the answers
    source: Table  # the facts
    by: tuple[str, ...]  # source columns that pick a group; the query groups by them (among others)
    query: Callable[[Table], Select[Any]]  # the summary's rows from a source table (live or a rebuild copy), in
    # the order of `table`'s columns
    # False: the handlers add into it as its facts arrive (`accumulate`: facts that are never
    # taken back), so no batch recomputes it; a rebuild still fills it whole with `query`, and
    # drops those writes (`Rows(drop=...)`).
    refreshed: bool = True

    @functools.cache  # noqa: B019 - a handful of summaries, each with its live and its rebuild table
    def _refresh(self, table: Table, source: Table) -> tuple[Any, Any]:
        group = [source.c[b] == bindparam(f"g_{b}") for b in self.by]
        delete = table.delete().where(*(table.c[b] == bindparam(f"g_{b}") for b in self.by))
        insert = table.insert().from_select([c.name for c in table.columns], self.query(source).where(*group))
        return delete, insert

    def refresh(self, rows: Rows, tables: Mapping[str, Table], groups: set[tuple[Any, ...]]) -> None:
        """Recompute the summary for these groups: one DELETE and one INSERT … SELECT per
        batch, each executed for every group."""
        if not groups:
            return
        delete, insert = self._refresh(tables[self.table.name], tables[self.source.name])
        params = [{f"g_{b}": v for b, v in zip(self.by, g, strict=True)} for g in sorted(groups, key=repr)]
        rows.statements += 2
        rows.connection.execute(delete, params)
        rows.connection.execute(insert, params)

    def fill(self, rows: Rows, tables: Mapping[str, Table]) -> None:
        """The whole summary at once, from the whole source (after a rebuild's load)."""
        table, source = tables[self.table.name], tables[self.source.name]
        rows.statements += 2
        rows.connection.execute(table.delete())
        rows.connection.execute(table.insert().from_select([c.name for c in table.columns], self.query(source)))


def watching(summaries: Sequence[Summary], tables: Mapping[str, Table]) -> dict[Table, tuple[str, ...]]:
    """What a batch must watch for these summaries: each source table, by every column that
    groups it in one of its summaries (a day summary and a month summary of one table)."""
    out: dict[Table, tuple[str, ...]] = {}
    for s in summaries:
        if not s.refreshed:
            continue
        source = tables[s.source.name]
        held = out.get(source, ())
        out[source] = held + tuple(b for b in s.by if b not in held)
    return out


def refresh_touched(rows: Rows, summaries: Sequence[Summary], tables: Mapping[str, Table]) -> None:
    watched = watching(summaries, tables)
    for s in summaries:
        if not s.refreshed:
            continue
        source = tables[s.source.name]
        columns = watched[source]
        pick = [columns.index(b) for b in s.by]
        groups = {tuple(g[i] for i in pick) for g in rows.touched.get(source, set())}
        s.refresh(rows, tables, groups)
