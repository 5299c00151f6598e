"""The demo's cast and scenery: the made-up organisations, their activities and sites,
and the texts people write over the year (cancellation reasons, "you said, we did" items,
showcases, feedback). Data only; `plan.py` turns it into commands."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

START, END = date(2025, 10, 1), date(2026, 9, 30)
CHRISTMAS = (date(2025, 12, 22), date(2026, 1, 2))  # no sessions
FAR = date(9999, 12, 31)
PARTICIPANTS = 143
LONDON = ZoneInfo("Europe/London")
COMMISSIONER, EVALUATOR = "demo-harbourside-wellbeing", "demo-lantern-evaluation"
HOST_TRUST = "demo-northbridge-trust"  # the NHS trust whose wards host the programme: its safeguarding lead
PLANNER, FINANCE, EVALUATION_LEAD = "demo-programme-manager", "demo-finance-officer", "demo-lead-evaluator"
TOKENISM = ("not_involved_until_the_end", "solution_already_decided", "suggestions_rejected_as_not_fitting",
            "not_reflected_in_final_service", "consulted_and_never_heard_of_again", "no_expenses_or_fee",
            "too_little_notice_or_impossible_times", "inaccessible_venue", "key_stakeholders_absent", "comments_not_documented")


@dataclass(frozen=True)
class Stream:
    """A weekly session of one activity at one site, from its first day to the programme's end."""

    activity: str
    site: str
    setting: str
    first: date
    at: str
    minutes: int
    capacity: int


@dataclass(frozen=True)
class Partner:
    code: str
    org: str
    name: str
    charity: str | None
    company: str | None
    budget_pence: int
    starts_on: date
    streams: tuple[Stream, Stream]  # ward, community

    @property
    def contract(self) -> str:
        return f"demo-contract-{self.code}"


def _p(code: str, name: str, reg: str, budget: int, starts: date, *streams: tuple[Any, ...]) -> Partner:
    ward, community = (Stream(*s) for s in streams)
    charity, company = (reg, None) if len(reg) == 7 else (None, reg)
    return Partner(code, f"demo-{name.split(' (')[0].lower().replace(' ', '-')}", name, charity, company, budget * 100, starts,
                   (ward, community))


PARTNERS = (
    _p("work", "Next Step Works CIC (demo)", "99017734", 185_000, START,
       ("employability", "Cedar Ward", "ward", date(2025, 10, 9), "14:00", 60, 8),
       ("employability", "Eastgate Community Hub", "community", date(2025, 10, 14), "10:00", 90, 10)),
    _p("archery", "Steady Aim Archery Club (demo)", "9104417", 160_000, START,
       ("soft archery", "Willow Ward", "ward", date(2025, 10, 6), "14:00", 60, 8),
       ("soft archery", "Eastgate Community Hub", "community", date(2026, 1, 10), "11:00", 90, 12)),
    _p("yoga", "Still Water Yoga Collective (demo)", "9108852", 150_000, START,
       ("yoga", "Rowan Ward", "ward", date(2025, 10, 8), "10:30", 60, 8),
       ("yoga", "Eastgate Community Hub", "community", date(2025, 11, 7), "10:00", 60, 12)),
    _p("podcast", "Open Mic Media CIC (demo)", "99023318", 170_000, START,
       ("podcasting", "Cedar Ward", "ward", date(2025, 10, 14), "14:00", 90, 6),
       ("podcasting", "Eastgate Community Hub", "community", date(2026, 1, 8), "11:00", 90, 8)),
    _p("music", "Bassline Studios (demo)", "9112093", 190_000, START,
       ("music production", "Willow Ward", "ward", date(2025, 10, 9), "15:00", 120, 6),
       ("music production", "Bassline Studio, Eastgate", "community", date(2025, 11, 1), "13:00", 120, 8)),
    _p("peer", "Common Ground Peer Network (demo)", "9115560", 145_000, date(2025, 11, 3),
       ("cooking for independence", "Rowan Ward", "ward", date(2025, 11, 7), "11:00", 90, 6),
       ("peer mentoring", "Eastgate Community Hub", "community", date(2025, 11, 5), "13:00", 120, 15)),
)
BY_CODE = {p.code: p for p in PARTNERS}
REFERRALS = {"ward": ("clinical_team", "ward_staff"), "community": ("community_services", "self")}


# --- the year's activity -------------------------------------------------------------
CANCELLED = {"ward": ("Ward closed to visitors (infection control)", "Not enough ward staff to escort patients",
                      "Facilitator off sick", "Facilitator off sick"),
             "community": ("Facilitator off sick", "Facilitator off sick", "Venue double-booked", "Severe weather warning")}
QUARTERS = ((date(2025, 10, 1), date(2025, 12, 31), "2025q4"), (date(2026, 1, 1), date(2026, 3, 31), "2026q1"),
            (date(2026, 4, 1), date(2026, 6, 30), "2026q2"), (date(2026, 7, 1), date(2026, 9, 30), "2026q3"))
RUNGS = {1: ("informing", "consultation"), 2: ("engagement", "co_design"), 3: ("co_design", "co_production")}
DEVELOPMENTS = (  # (proposer: partner code or "" for the commissioner, raised by, you said, we will, status, we did)
    ("music", "participants", "We want to take our tracks home.", "Give everyone a copy of their music.", "green",
     "Tracks are now burnt to CD or sent to the ward's media account after each session."),
    ("archery", "participants", "More sessions in the evenings.", "Trial an evening slot at the community hub.", "green",
     "A Thursday evening session has run since April."),
    ("", "co_producers", "Co-producers are paid too late.", "Move to monthly payment runs.", "amber", None),
    ("work", "participants", "Bus fares to the hub are hard to afford.", "Pay travel on the day.", "green",
     "Travel is reimbursed at the end of each session."),
    ("podcast", "staff", "Ward staff don't know what the sessions are for.", "Brief ward staff at handover each month.",
     "amber", None),
    ("yoga", "participants", "A quiet space after yoga would help.", "Ask the ward for a room after sessions.", "red", None),
    ("peer", "carers", "Carers would like to see what people have made.", "Invite carers to the community showcase.",
     "green", "Carers were invited to the summer open day; 19 came."),
    ("", "co_producers", "We want to help choose next year's activities.", "Co-producers join the recommissioning panel.",
     "amber", None),
)
SHOWCASES = (("music", "Willow Ward music night", date(2026, 3, 19), "Willow Ward day room", 34),
             ("podcast", "Podcast launch: Voices from Cedar", date(2026, 5, 21), "Cedar Ward", 28),
             ("archery", "Summer archery open day", date(2026, 7, 18), "Eastgate Community Hub", 61))
COMMENTS = ("I look forward to this every week.", "It helps me feel calmer.", "I learnt something new.",
            "Staff listened to what we wanted.", "Sessions are too short.", "I'd like to bring a friend.")



def coordinator(p: Partner) -> str:
    """The made-up staff member who records a partner's enrolments and referrals."""
    return f"demo-{p.code}-coordinator"
