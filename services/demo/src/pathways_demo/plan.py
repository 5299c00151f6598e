"""The demo programme as data: every command a made-up programme's organisations would send
over a year, in stages. Pure and deterministic: the same seed gives the same plan, the same
ids and the same idempotency keys, so loading it twice adds nothing the second time.

Everyone is made up: organisations carry "(demo)" in their names and registration numbers
no real charity (9xxxxxx) or company (99xxxxxx) holds; participants are pseudonymous ids only."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta

from pathways.core.ids import OPERATOR_ORGANISATION

from pathways_demo import benefits, journey, safeguarding, surveys, targets
from pathways_demo.cast import (
    BY_CODE,
    CANCELLED,
    CHRISTMAS,
    COMMENTS,
    COMMISSIONER,
    DEVELOPMENTS,
    END,
    EVALUATION_LEAD,
    EVALUATOR,
    FAR,
    FINANCE,
    HOST_TRUST,
    LONDON,
    PARTICIPANTS,
    PARTNERS,
    PLANNER,
    QUARTERS,
    REFERRALS,
    RUNGS,
    SHOWCASES,
    START,
    TOKENISM,
    Partner,
    coordinator,
)
from pathways_demo.steps import DemoPlan, Person, Step, _Builder

CONTRACTS, CO_PRODUCERS, ENROLMENTS = "Contracts", "Co-producers", "Enrolments"
ACCOUNTS = "Co-producer pay, expenses and invoices"
SESSIONS = "Sessions, outcomes and co-production"


def build_plan(seed: int = 2025, *, programme_id: str | None = None, scale: float = 1.0) -> DemoPlan:
    """The whole programme. `scale` (0 < scale <= 1) thins participants and weeks for quick runs."""
    if not 0 < scale <= 1:
        raise ValueError("scale must be in (0, 1]")
    rng, journeys = random.Random(seed), journey.stream(seed)
    b = _Builder(seed, programme_id or f"demo-bridges-{seed}")
    _setup(b)
    people = _people(rng, max(12, round(PARTICIPANTS * scale)))
    journey.plan_completions(people, journeys)
    b.stage(CO_PRODUCERS, _co_producers(b, rng))
    b.stage(ENROLMENTS, _enrolments(b, people, journeys) + journey.not_enrolled(b, journeys, max(3, round(30 * scale))),
            after=(CONTRACTS,))
    _year(b, rng, people, every=max(1, round(1 / scale)), journeys=journeys)
    # The targets follow the contracts on the programme's lane; set from the plan's own counts.
    contracts = next(stage for stage in b.stages if stage.name == CONTRACTS)
    contracts.steps.extend(targets.target_steps(b, [s for stage in b.stages for s in stage.steps], len(people)))
    return DemoPlan(seed, b.programme_id, COMMISSIONER, EVALUATOR, tuple(p.org for p in PARTNERS),
                    tuple(p.pid for p in people), tuple(b.stages))


def _setup(b: _Builder) -> None:
    orgs = [(COMMISSIONER, "Harbourside Wellbeing Trust (demo)", "commissioner", "9100231", None),
            (EVALUATOR, "Lantern Evaluation Partners Ltd (demo)", "evaluator", None, "99004512"),
            (HOST_TRUST, "Northbridge Health NHS Trust (demo)", "nhs_trust", None, None),
            *((p.org, p.name, "delivery_partner", p.charity, p.company) for p in PARTNERS)]
    operator = "demo-platform-operator"
    b.stage("Organisations and settings", [
        *(b.step(OPERATOR_ORGANISATION, "registry", "RegisterOrganisation", {
            "organisation_id": org, "name": name, "kind": kind,
            **({"charity_number": charity} if charity else {}), **({"company_number": company} if company else {}),
        }, f"organisation/{org}", operator, shared=True) for org, name, kind, charity, company in orgs),
        # The benefits' earnings limits of 2025/26: configuration, not code (demo.benefits).
        *benefits.limit_steps(b, operator),
    ])
    b.stage("Programme", [b.step(COMMISSIONER, "registry", "LaunchProgramme", {
        "name": "Bridges to Independence (demo)", "starts_on": START, "ends_on": END, "budget_pence": 120_000_000,
        "aims": ["Supporting patients to connect with communities", "Improving patient agency and wellbeing",
                 "Co-production in in-patient care planning", "Cultural competency and staff development"],
    }, "programme", PLANNER)])
    b.stage(CONTRACTS, [*(b.step(COMMISSIONER, "registry", "CommissionPartner", {
        "contract_id": p.contract, "partner_id": p.org, "budget_pence": p.budget_pence,
        "activities": sorted({s.activity for s in p.streams}), "starts_on": p.starts_on, "ends_on": END,
    }, f"contract/{p.code}", PLANNER, "programme") for p in PARTNERS),
        # The host trust leads on safeguarding; personal details are kept six years after the end.
        b.step(COMMISSIONER, "registry", "AppointSafeguardingLead", {"organisation_id": HOST_TRUST},
               "safeguarding-lead", PLANNER, "programme"),
        b.step(COMMISSIONER, "registry", "SetRetentionRule", {"years_after_end": 6}, "retention-rule", PLANNER,
               "programme")])



def co_producers(p: Partner) -> tuple[str, str]:
    """The partner's two co-producers: one co-facilitates on the ward, one in the community."""
    return f"demo-cp-{p.code}-1", f"demo-cp-{p.code}-2"


def _co_producers(b: _Builder, rng: random.Random) -> list[Step]:
    """Hourly rates; about half receive benefits (demo-cp-music-1 does, and passes the UC work allowance once)."""
    paid = {cp: (rng.choice((1300, 1400, 1500, 1600)), rng.random() < 0.45) for p in PARTNERS for cp in co_producers(p)}
    paid["demo-cp-music-1"] = (1500, True)
    return [b.step(p.org, "registry", "RegisterCoProducer", {
        "co_producer_id": cp, "role": ("peer facilitator (ward)", "lived experience co-facilitator (community)")[i],
        "hourly_rate_pence": paid[cp][0], "receives_benefits": paid[cp][1],
    }, f"co-producer/{cp}", coordinator(p)) for p in PARTNERS for i, cp in enumerate(co_producers(p))]


def _people(rng: random.Random, n: int) -> list[Person]:
    people = []
    for i in range(1, n + 1):
        person = Person(f"demo-p-{i:03d}", round(rng.uniform(0.25, 0.8), 2), rng.random() < 0.68)
        first, *others = rng.sample(PARTNERS, 6)
        day = max(first.starts_on, START + timedelta(days=int(rng.triangular(3, 270, 10))))
        person.enrolled[first.code] = day
        if rng.random() < 0.3:
            second = day + timedelta(days=rng.randint(14, 150))
            if second <= date(2026, 7, 31):
                person.enrolled[others[0].code] = max(second, others[0].starts_on)
        for code, on in person.enrolled.items():
            person.consent_on[code] = on + timedelta(days=rng.randint(7, 21)) if rng.random() < 0.05 else on
        if person.ward and rng.random() < 0.22:
            moved = day + timedelta(days=rng.randint(60, 200))
            person.moved_on = moved if moved <= date(2026, 8, 31) else None
        if rng.random() < 0.04:
            person.withdrawn[first.code] = min(day + timedelta(days=rng.randint(30, 200)), END - timedelta(days=14))
        if rng.random() < 0.015:
            person.consent_withdrawn_on = date(2026, 7, 1) + timedelta(days=rng.randint(0, 60))
        people.append(person)
    return people


def _enrolments(b: _Builder, people: list[Person], journeys: random.Random) -> list[Step]:
    steps = []
    for person in people:
        for code, on in person.enrolled.items():
            p, lane = BY_CODE[code], f"enrolment/{code}/{person.pid}"
            referred, referral_id = journey.referral(b, journeys, person, code, on, person.setting(on), lane)
            steps += referred
            steps.append(b.step(p.org, "registry", "EnrolParticipant", {
                "participant_id": person.pid, "setting": person.setting(on), "enrolled_on": on,
                "referral_source": REFERRALS[person.setting(on)][int(person.pid[-3:]) % 2],
                "consent_given": person.consent_on[code] == on,
            } | ({"referral_id": referral_id} if referral_id else {}), f"enrol/{code}/{person.pid}", coordinator(p), lane))
            if person.consent_on[code] != on:
                steps.append(b.step(p.org, "registry", "RecordConsent", {"participant_id": person.pid,
                                    "on": person.consent_on[code]}, f"consent/{code}/{person.pid}", coordinator(p), lane))
            if person.photographs:
                steps.append(b.step(p.org, "registry", "RecordConsent", {
                    "participant_id": person.pid, "on": person.consent_on[code], "purposes": ["photographs_and_showcases"],
                    "information_version": "Showcases and photographs v1 (easy read)",
                    "review_on": person.consent_on[code] + timedelta(days=365)},
                    f"consent-photographs/{code}/{person.pid}", coordinator(p), lane))
    return steps


def endings(b: _Builder, people: list[Person]) -> list[Step]:
    """Moves into the community and withdrawals: sent last, as they change who may attend now."""
    steps = []
    for person in people:
        for code, on in person.enrolled.items():
            p, lane, enrolment = BY_CODE[code], f"enrolment/{code}/{person.pid}", {"participant_id": person.pid}
            left = person.withdrawn.get(code, FAR)
            if person.moved_on and on < person.moved_on < left and person.setting(on) == "ward":
                steps.append(b.step(p.org, "registry", "TransitionParticipant", enrolment | {
                    "on": person.moved_on, "to_setting": "community"}, f"move/{code}/{person.pid}", coordinator(p), lane))
            withdrawal = None
            if left != FAR:
                reason = ("Moved out of the area", "Chose to stop taking part", "Transferred to another hospital")[
                    int(person.pid[-3:]) % 3]
                withdrawal = enrolment | {"on": left, "reason": reason}
            steps += journey.ending(b, person, code, lane, withdrawal)
            if person.consent_withdrawn_on and person.consent_on[code] < person.consent_withdrawn_on < left:
                steps.append(b.step(p.org, "registry", "WithdrawConsent", enrolment | {"on": person.consent_withdrawn_on},
                                    f"withdraw-consent/{code}/{person.pid}", coordinator(p), lane))
    return steps


def starts_at(day: date, at: str) -> datetime:
    return datetime.combine(day, time.fromisoformat(at), LONDON)



def _weeks(first: date) -> Iterator[date]:
    day = first
    while day <= END:
        if not CHRISTMAS[0] <= day <= CHRISTMAS[1]:
            yield day
        day += timedelta(days=7)


def answers(raw: int, rng: random.Random) -> list[int]:
    """Seven SWEMWBS item answers (1..5) adding up to `raw`."""
    items = [1] * 7
    for _ in range(raw - 7):
        items[rng.choice([i for i in range(7) if items[i] < 5])] += 1
    return items


def _year(b: _Builder, rng: random.Random, people: list[Person], every: int, journeys: random.Random) -> None:
    schedule: list[Step] = []
    deliver: list[Step] = []
    charges: dict[str, list[tuple[date, int, Step]]] = {p.code: [] for p in PARTNERS}
    attended: dict[str, set[str]] = {p.code: set() for p in PARTNERS}
    worked: dict[tuple[str, str], list[date]] = {}

    def involvement(p: Partner, cp: str, day: date, minutes: int, activity: str, tag: str) -> None:
        iid = f"demo-i-{cp[8:]}-{day:%Y%m%d}-{tag}"
        charges[p.code].append((day, 0, b.step(p.org, "payments", "RecordInvolvement", {
            "contract_id": p.contract, "involvement_id": iid, "co_producer_id": cp, "worked_on": day, "minutes": minutes,
            "activity": activity}, f"involvement/{iid}", coordinator(p), f"account/{p.code}")))
        worked.setdefault((cp, f"{day:%Y-%m}"), []).append(day)

    for p in PARTNERS:
        lead = f"demo-{p.code}-session-lead"
        for s, cp in zip(p.streams, co_producers(p), strict=True):
            for n, day in enumerate(_weeks(s.first)):
                here = [x for x in people if x.can_attend(p.code, day) and x.setting(day) == s.setting]
                if n % every or not here:  # nobody to run it for yet
                    continue
                sid = f"demo-s-{p.code}-{s.setting[0]}-{day:%Y%m%d}"
                with_cp = rng.random() < 0.4 + 0.5 * (day - START).days / 365
                schedule.append(b.step(p.org, "sessions", "ScheduleSession", {
                    "session_id": sid, "activity": s.activity, "site": s.site, "starts_at": starts_at(day, s.at),
                    "duration_minutes": s.minutes, "capacity": s.capacity, "co_facilitators": [cp] if with_cp else [],
                }, f"schedule/{sid}", lead, f"session/{sid}"))
                came = sorted(x.pid for x in here if rng.random() < x.engagement)
                if len(came) > s.capacity:
                    came = sorted(rng.sample(came, s.capacity))
                reason = None if came else "Nobody was able to attend this week"
                if rng.random() < 0.06:
                    reason = rng.choice(CANCELLED[s.setting])
                if reason:
                    deliver.append(b.step(p.org, "sessions", "CancelSession", {"session_id": sid, "reason": reason},
                                          f"cancel/{sid}", lead, f"session/{sid}"))
                    continue
                missed = journey.absences(journeys, [x for x in here if x.pid not in came])
                deliver.append(b.step(p.org, "sessions", "RecordSessionDelivered", {
                    "session_id": sid, "attendees": came, "duration_minutes": s.minutes}
                    | ({"absences": missed} if missed else {}), f"deliver/{sid}", lead, f"session/{sid}"))
                attended[p.code].update(came)
                if with_cp:
                    involvement(p, cp, day, s.minutes + 30, f"Co-facilitating {s.activity} at {s.site}", "s")
        for month in range(12):  # a monthly co-design meeting with both co-producers, on the first Monday
            start = date(2025 + (9 + month) // 12, (9 + month) % 12 + 1, 1)
            meeting = max(start, p.starts_on)
            meeting += timedelta(days=-meeting.weekday() % 7)
            for cp in co_producers(p) if start >= p.starts_on.replace(day=1) and meeting.month == start.month else ():
                involvement(p, cp, meeting, 90, "Monthly co-design meeting", "m")
    for research in range(9, 13):  # four days of interviews in February: past the UC work allowance that month
        involvement(BY_CODE["music"], "demo-cp-music-1", date(2026, 2, research), 360,
                    "Peer research interviews for the evaluation", "r")
    for (cp, month_worked), worked_on in sorted(worked.items()):
        days = sorted(set(worked_on))  # a day ticket covers a session and a meeting on one day
        p, claim = BY_CODE[cp.split("-")[2]], f"demo-x-{cp[8:]}-{month_worked}"
        on, claimed = max(days), {"contract_id": p.contract, "claim_id": claim}
        charges[p.code].append((on, 1, b.step(p.org, "payments", "ClaimExpense", claimed | {
            "co_producer_id": cp, "category": "travel", "amount_pence": 480 * len(days), "incurred_on": on,
            "description": f"Bus day tickets for {len(days)} days' work in {month_worked}"}, f"claim/{claim}", coordinator(p),
            f"account/{p.code}")))
        decided = claimed | {"partner_id": p.org}
        if month_worked == "2026-09" and rng.random() < 0.4:
            continue  # still waiting for approval
        if rng.random() < 0.04:
            step = b.step(COMMISSIONER, "payments", "RejectExpense", decided | {
                "reason": "No tickets or receipts attached; please claim again with them"}, f"reject/{claim}", FINANCE,
                f"account/{p.code}")
        else:
            step = b.step(COMMISSIONER, "payments", "ApproveExpense", decided, f"approve/{claim}", FINANCE, f"account/{p.code}")
        charges[p.code].append((on + timedelta(days=5), 2, step))
    _invoices(b, rng, charges)
    # Each contract account is one long lane (every charge is decided on its history): the
    # load's critical path. It builds only on the contracts and the co-producers, so it starts
    # as soon as they are there and everything else runs beside it.
    accounts = [step for code in charges for _, _, step in sorted(charges[code], key=lambda c: c[:2])]
    registered = [s for stage in b.stages if stage.name == CO_PRODUCERS for s in stage.steps]
    on_benefits = [s.data["co_producer_id"] for s in registered if s.data["receives_benefits"]]
    rate = {s.data["co_producer_id"]: s.data["hourly_rate_pence"] for s in registered}
    b.stage(ACCOUNTS, accounts + benefits.benefit_steps(b, benefits.engaging_partners(), on_benefits),
            after=(CO_PRODUCERS,))
    # A session's lane: scheduled, then delivered or cancelled. Attendance needs the
    # enrolments, co-facilitators the co-producers; outcomes and assessments need the same.
    b.stage(SESSIONS, schedule + deliver + _outcomes(b, rng, people) + _evaluation(b, rng, people, attended)
            + safeguarding.concern_steps(b, people) + surveys.survey_steps(b, deliver, 1 / every),
            after=(CO_PRODUCERS, ENROLMENTS))
    # A payment run pays what the accounts hold; the moves and withdrawals after it change
    # who may attend, so they wait for every session.
    paid_time = [(s.data["co_producer_id"], date.fromisoformat(s.data["worked_on"]),
                  (s.data["minutes"] * rate[s.data["co_producer_id"]] + 30) // 60)
                 for s in accounts if s.command == "RecordInvolvement"]
    runs = benefits.payment_runs(b, paid_time, on_benefits)
    reports = [b.step(EVALUATOR, "evaluation", "PublishEvaluationReport", {
        "report_id": f"demo-report-{tag}", "title": title, "period_start": START, "period_end": end,
        "summary": f"An independent evaluation of the made-up Bridges to Independence programme ({title.lower()}).",
        "findings": [f"{sum(1 for x in people if min(x.enrolled.values()) <= end)} people enrolled by {end:%d %B %Y}.",
                     "Wellbeing (SWEMWBS) rose on average between baseline and follow-up.",
                     "Co-production matured from consultation towards working in partnership."]},
        f"report/{tag}", EVALUATION_LEAD) for tag, title, end in (("interim", "Interim report", date(2026, 3, 31)),
                                                                 ("year-one", "Year one report", END))]
    b.stage("Payment runs and evaluation reports", runs + reports, after=(ACCOUNTS, SESSIONS))
    b.stage("Moves, completions and withdrawals", endings(b, people))


def _invoices(b: _Builder, rng: random.Random, charges: dict[str, list[tuple[date, int, Step]]]) -> None:
    """Quarterly drawdown of 23% of each contract; the commissioner pays a month later (the last
    quarter's invoices are not all paid yet)."""
    for p in PARTNERS:
        lane = f"account/{p.code}"
        for start, end, label in QUARTERS:
            invoice = {"contract_id": p.contract, "invoice_id": f"demo-invoice-{p.code}-{label}"}
            charges[p.code].append((end, 3, b.step(p.org, "payments", "SubmitInvoice", invoice | {
                "amount_pence": p.budget_pence * 23 // 100, "period_start": max(start, p.starts_on), "period_end": end,
                "description": f"Delivery {max(start, p.starts_on):%d %b %Y} to {end:%d %b %Y}"},
                f"invoice/{p.code}/{label}", coordinator(p), lane)))
            if label != QUARTERS[-1][2] or rng.random() < 0.6:
                paid = end + timedelta(days=28)
                charges[p.code].append((paid, 4, b.step(COMMISSIONER, "payments", "PayInvoice", invoice | {
                    "partner_id": p.org, "paid_on": paid}, f"pay/{p.code}/{label}", FINANCE, lane)))


def _outcomes(b: _Builder, rng: random.Random, people: list[Person]) -> list[Step]:
    """SWEMWBS at baseline (most people) and follow-up (most of those, when there was time)."""
    steps = []
    for x in people:
        code = next(iter(x.enrolled))
        p, lane = BY_CODE[code], f"outcome/{code}/{x.pid}"
        last = min(END, x.withdrawn.get(code, FAR), x.consent_withdrawn_on or FAR) - timedelta(days=1)
        baseline = x.consent_on[code] + timedelta(days=rng.randint(0, 14))
        raw = max(9, min(31, round(rng.gauss(19.5, 3.5))))
        if rng.random() > 0.88 or baseline > last:
            continue
        follow_up = baseline + timedelta(days=rng.randint(112, 224))
        for timepoint, day in (("baseline", baseline), ("follow_up", follow_up)):
            if day > last or (timepoint == "follow_up" and rng.random() > 0.85):
                break
            steps.append(b.step(p.org, "evaluation", "RecordOutcome", {
                "participant_id": x.pid, "measurement_id": f"demo-m-{x.pid[7:]}-{timepoint[0]}", "instrument": "SWEMWBS",
                "timepoint": timepoint, "measured_on": day, "answers": answers(raw, rng)}, f"outcome/{x.pid}/{timepoint}",
                coordinator(p), lane))
            raw = max(7, min(35, raw + round(rng.gauss(0.5 + 4 * x.engagement, 2.5))))
    return steps


def _evaluation(b: _Builder, rng: random.Random, people: list[Person], attended: dict[str, set[str]]) -> list[Step]:
    """Quarterly co-production assessments, the "you said, we did" tracker, showcases, feedback."""
    steps = []
    for p in PARTNERS:
        level = 1 + (rng.random() < 0.3)
        for q, (_, end, label) in enumerate(QUARTERS):
            level = max(level if q < 3 else 2, min(3, level + (q > 0 and rng.random() < 0.6)))
            seen = set(rng.sample(TOKENISM, rng.randint(0, max(0, 4 - level - q))))
            steps.append(b.step(EVALUATOR, "evaluation", "AssessCoProduction", {
                "assessment_id": f"demo-assessment-{p.code}-{label}", "partner_id": p.org,
                "assessed_on": end - timedelta(days=14), "level": level, "ladder_rung": rng.choice(RUNGS[level]),
                "tokenism": {item: item in seen for item in TOKENISM},
                "evidence": f"Observed sessions, interviewed co-producers and read co-design meeting notes ({label})."},
                f"assessment/{p.code}/{label}", EVALUATION_LEAD))
        for n in range(2):
            steps.append(b.step(p.org, "evaluation", "SubmitFeedback", {
                "feedback_id": f"demo-feedback-{p.code}-{n}", "respondent": ("participant", "co_producer")[n],
                "activity": p.streams[n].activity, "rating": rng.choice((3, 4, 4, 5, 5)), "comment": rng.choice(COMMENTS)},
                f"feedback/{p.code}/{n}", coordinator(p)))
    for n, (code, said_by, said, will, status, did) in enumerate(DEVELOPMENTS, 1):
        org, actor = (BY_CODE[code].org, coordinator(BY_CODE[code])) if code else (COMMISSIONER, PLANNER)
        dev, lane = f"demo-development-{n:02d}", f"development/{n}"
        steps.append(b.step(org, "evaluation", "ProposeDevelopment", {
            "development_id": dev, "you_said": said, "raised_by": said_by, "we_will": will}, f"develop/{n}", actor, lane))
        for to in ("amber", "green")[: ("red", "amber", "green").index(status)]:
            steps.append(b.step(org, "evaluation", "SetDevelopmentStatus", {"development_id": dev, "status": to} | (
                {"we_did": did} if to == "green" else {}), f"develop/{n}/{to}", actor, lane))
    for n, (code, title, day, venue, audience) in enumerate(SHOWCASES, 1):
        p, here = BY_CODE[code], sorted(x.pid for x in people
                                        if x.pid in attended[code] and x.can_attend(code, day) and x.photographs)
        steps.append(b.step(p.org, "sessions", "HoldShowcase", {
            "showcase_id": f"demo-showcase-{n}", "title": title, "held_on": day, "venue": venue,
            "activities": [p.streams[0].activity], "featured_participants": sorted(rng.sample(here, min(8, len(here)))),
            "audience": audience}, f"showcase/{n}", coordinator(p)))
    return steps
