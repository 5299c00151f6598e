"""The journey's figures (referred → enrolled → attended → moved into the community →
moved on) and attendance as people record it, from the tables journey.py keeps. Like
every figure, each honours the period and the partner and activity filters, as
DEFINITIONS says; the page shows the definitions beside the figures."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import Connection, and_, case, func, literal, select, union_all

from pathways_reporting.figures import Filters, _partner, _partners_for, came_to_activity
from pathways_reporting.journey import ABSENCES, JOURNEYS, MOVE_ON_DAYS, REFERRALS, TRANSITION_DAYS
from pathways_reporting.readmodel import ATTENDANCE, SESSIONS

MISSED_IN_A_ROW = 3  # unexcused absences running, at a person's latest sessions, that a partner is shown

DEFINITIONS = {
    "funnel": "Referred: referrals received in the period. The rest follow the people first enrolled with a partner in "
              "the period (enrolled again after leaving, they count at their first enrolment): of them, "
              "who attended at least once, moved from the ward into the community, and moved on (completed or left "
              "for community living, education, employment, volunteering or other; not a readmission), each by the "
              "period's last day. With an activity chosen: people who came to a session of it with that partner by the "
              "end of the period's last month.",
    "referrals": "Referrals received in the period, by where they stand now; declined: declined in the period, by reason.",
    "days_to_first_session": "Median days from referral to first session, for people whose first enrolment with a partner "
                             "took up a referral and whose first session was in the period.",
    "transitions": "Moves from ward to community in the period, and the median days from enrolment to that move.",
    "moved_on_to": "People who completed or left in the period, by where they moved on to.",
}


def journey(conn: Connection, programme_id: str, f: Filters) -> dict[str, Any]:
    partners = _partners_for(conn, programme_id, f)

    def chosen(column: Any) -> list[Any]:
        return [*_partner(column, f), *([column.in_(partners)] if partners is not None else [])]

    r, j, t, m = REFERRALS, JOURNEYS, TRANSITION_DAYS, MOVE_ON_DAYS
    by_status: dict[str, int] = defaultdict(int)
    for status, n in conn.execute(select(r.c.status, func.count()).where(
            r.c.programme_id == programme_id, *chosen(r.c.partner_id), *f.dated(r.c.referred_on)).group_by(r.c.status)):
        by_status[status] = int(n)
    declined = {reason: int(n) for reason, n in conn.execute(
        select(r.c.decline_reason, func.count()).where(r.c.programme_id == programme_id, r.c.status == "declined",
                                                       *chosen(r.c.partner_id), *f.dated(r.c.decided_on))
        .group_by(r.c.decline_reason).order_by(r.c.decline_reason))}

    def by_end(column: Any) -> Any:
        return func.coalesce(func.sum(case((and_(column.is_not(None), *f.by_end(column)), 1), else_=0)), 0)

    cohort = [j.c.programme_id == programme_id, j.c.enrolled_on.is_not(None), *chosen(j.c.partner_id),
              *f.dated(j.c.enrolled_on)]
    if f.activity:  # people who came to the activity, with the partner they are enrolled with
        cohort.append(came_to_activity(programme_id, f, j.c.partner_id, j.c.participant_id))
    enrolled, attended, transitioned, moved_on = conn.execute(select(
        func.count(), by_end(j.c.first_session_on), by_end(j.c.transitioned_on), by_end(j.c.moved_on_on)).where(*cohort)).one()

    moves = conn.execute(select(func.coalesce(func.sum(t.c.transitions), 0)).where(
        t.c.programme_id == programme_id, t.c.to_setting == "community", *chosen(t.c.partner_id), *f.dated(t.c.day))).scalar()
    to_transition = [(moved - start).days for start, moved in conn.execute(select(j.c.enrolled_on, j.c.transitioned_on).where(
        j.c.programme_id == programme_id, j.c.enrolled_on.is_not(None), j.c.transitioned_on.is_not(None),
        *chosen(j.c.partner_id), *f.dated(j.c.transitioned_on)))]
    to_first = [(first - referred).days for referred, first in conn.execute(
        select(r.c.referred_on, j.c.first_session_on).select_from(r.join(j, and_(
            j.c.programme_id == r.c.programme_id, j.c.partner_id == r.c.partner_id, j.c.participant_id == r.c.participant_id,
            j.c.enrolled_on == r.c.enrolled_on)))  # the referral the first enrolment took up: its first session is after it
        .where(r.c.programme_id == programme_id, r.c.status == "enrolled", j.c.first_session_on.is_not(None),
               *chosen(r.c.partner_id), *f.dated(j.c.first_session_on)))]
    move_on: dict[str, int] = defaultdict(int)
    for outcome, n in conn.execute(select(m.c.outcome, func.sum(m.c.people)).where(
            m.c.programme_id == programme_id, *chosen(m.c.partner_id), *f.dated(m.c.day)).group_by(m.c.outcome)):
        move_on[outcome] += int(n)
    referred = sum(by_status.values())
    return {
        "funnel": {"referred": referred, "enrolled": int(enrolled), "attended": int(attended),
                   "transitioned": int(transitioned), "moved_on": int(moved_on)},
        "referrals": {"received": referred, "waiting": by_status["accepted"], "not_yet_decided": by_status["referred"],
                      "enrolled": by_status["enrolled"], "declined": by_status["declined"],
                      "declined_in_period_by_reason": declined},
        "days_to_first_session": _median(to_first),
        "transitions": {"to_community": int(moves or 0), "median_days_from_enrolment": _median(to_transition)},
        "moved_on_to": dict(sorted(move_on.items())),
    }


def _median(days: list[int]) -> dict[str, Any]:
    return {"median": statistics.median(days) if days else None, "people": len(days)}


def attendance_of(conn: Connection, programme_id: str, f: Filters,
                  people: Iterable[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    """For these (partner, participant): sessions attended, excused and unexcused absences in
    the period, the attendance rate (attended of those expected), and the unexcused absences
    running at their latest sessions: those after the last session they came to, in the order
    the sessions were held (the day, then the hour they started, then the session id; an
    excused absence neither breaks nor extends the run).

    Attendances are counted in their index, never read out one by one (200 people have
    10,800 on 1 M events: reading them in order was 27 ms of a page). Only absences (a few per
    person) are read, and, for someone absent on the last day they came, that day's records."""
    wanted = set(people)
    if not wanted:
        return {}
    partners = sorted({p for p, _ in wanted})
    ids = sorted({pid for _, pid in wanted})
    at, ab, sessions = ATTENDANCE, ABSENCES, SESSIONS
    # By person only (the index on programme and participant): with the partner in the WHERE too,
    # SQLite read every attendance of the partner through its one-column index (2.3 M rows on
    # 1 M events). Another partner's rows of the same person are passed over below.
    came = [at.c.programme_id == programme_id, at.c.participant_id.in_(ids), *f.dated(at.c.attended_on),
            *([at.c.activity == f.activity] if f.activity else [])]
    missed = [ab.c.programme_id == programme_id, ab.c.partner_id.in_(partners), ab.c.participant_id.in_(ids),
              *f.dated(ab.c.on), *([ab.c.activity == f.activity] if f.activity else [])]
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for partner, participant, present, last_came in conn.execute(  # attended_on is the day the session is listed under
            select(at.c.partner_id, at.c.participant_id, func.count(), func.max(at.c.attended_on)).where(*came)
            .group_by(at.c.partner_id, at.c.participant_id)):
        if (partner, participant) in wanted:
            out[(partner, participant)] = {"present": present, "excused": 0, "unexcused": 0, "last_came": last_came}
    absences: dict[tuple[str, str], list[tuple[date, str]]] = defaultdict(list)
    for partner, participant, kind, day in conn.execute(
            select(ab.c.partner_id, ab.c.participant_id, ab.c.kind, sessions.c.day).select_from(ab.join(sessions, and_(
                sessions.c.programme_id == ab.c.programme_id, sessions.c.session_id == ab.c.session_id))).where(*missed)):
        if (partner, participant) in wanted:
            absences[(partner, participant)].append((day, kind))
            seen = out.setdefault((partner, participant), {"present": 0, "excused": 0, "unexcused": 0, "last_came": None})
            seen[kind] += 1
    last_day = {person: out[person]["last_came"] for person, days in absences.items()
                if any(day == out[person]["last_came"] for day, _ in days)}
    running_then = _running_at_end_of(conn, programme_id, came, missed, last_day)
    for person, seen in out.items():
        days, last_came = absences.get(person, []), seen.pop("last_came")
        seen["in_a_row"] = running_then.get(person, 0) + sum(
            1 for day, kind in days if kind == "unexcused" and (last_came is None or day > last_came))
        last_on = max([d for d in (last_came, *(day for day, _ in days)) if d is not None], default=None)
        seen["last_on"] = last_on.isoformat() if isinstance(last_on, date) else last_on
        expected = seen["present"] + seen["excused"] + seen["unexcused"]
        seen["rate"] = round(seen["present"] / expected, 3) if expected else None
    return out


def _running_at_end_of(conn: Connection, programme_id: str, came: list[Any], missed: list[Any],
                       last_day: dict[tuple[str, str], date]) -> dict[tuple[str, str], int]:
    """For people absent on the last day they came: the unexcused absences running at the end
    of that day. Its records are put in order by the database (the hour, then the session id
    as it orders ids, as reading every record in order always did)."""
    if not last_day:
        return {}
    at, ab, sessions = ATTENDANCE, ABSENCES, SESSIONS
    who, days = sorted({p for _, p in last_day}), sorted(set(last_day.values()))
    records = union_all(
        select(at.c.partner_id, at.c.participant_id, at.c.session_id, literal("present").label("kind")).where(
            *came, at.c.participant_id.in_(who), at.c.attended_on.in_(days)),
        select(ab.c.partner_id, ab.c.participant_id, ab.c.session_id, ab.c.kind).where(
            *missed, ab.c.participant_id.in_(who), ab.c.on.in_(days))).subquery()
    out: dict[tuple[str, str], int] = {}
    for partner, participant, day, kind in conn.execute(
            select(records.c.partner_id, records.c.participant_id, sessions.c.day, records.c.kind).select_from(
                records.join(sessions, and_(sessions.c.programme_id == programme_id,
                                            sessions.c.session_id == records.c.session_id)))
            .order_by(records.c.partner_id, records.c.participant_id, sessions.c.day, sessions.c.starts_at,
                      sessions.c.session_id)):
        person = (partner, participant)
        if last_day.get(person) == day:
            run = out.get(person, 0)
            out[person] = run + 1 if kind == "unexcused" else (run if kind == "excused" else 0)
    return out


def missed_in_a_row(conn: Connection, programme_id: str, f: Filters, at_least: int = MISSED_IN_A_ROW) -> list[dict[str, Any]]:
    """People whose latest sessions in the period are `at_least` unexcused absences running
    (an excused absence neither breaks nor extends the run): often the first sign that
    someone is struggling. Only people with that many unexcused absences are looked at."""
    ab = ABSENCES
    candidates = [(p, pid) for p, pid in conn.execute(
        select(ab.c.partner_id, ab.c.participant_id).where(
            ab.c.programme_id == programme_id, ab.c.kind == "unexcused", *_partner(ab.c.partner_id, f), *f.dated(ab.c.on),
            *([ab.c.activity == f.activity] if f.activity else []))
        .group_by(ab.c.partner_id, ab.c.participant_id).having(func.count() >= at_least))]
    found = attendance_of(conn, programme_id, f, candidates)
    return [{"participant_id": pid, "partner_id": partner, "unexcused_in_a_row": seen["in_a_row"],
             "last_recorded_on": seen["last_on"], "attendance_rate": seen["rate"]}
            for (partner, pid), seen in sorted(found.items()) if seen["in_a_row"] >= at_least]
