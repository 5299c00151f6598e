"""Which aggregate each sessions command writes, and what it consults in the directory."""

from __future__ import annotations

from typing import Any

from pathways.core.commands import CommandContext, CommandHandler, Load, handlers_by_name
from pathways.core.subjects import AggregateRef

from pathways_sessions.domain import commands as c
from pathways_sessions.domain import decide
from pathways_sessions.domain import facts as f
from pathways_sessions.domain.state import SESSION, SHOWCASE
from pathways_sessions.readmodel import DIRECTORY

CONTEXT = "sessions"


def _session(cmd: Any, ctx: CommandContext) -> Load[Any]:
    return Load(AggregateRef(CONTEXT, cmd.programme_id, ctx.organisation, cmd.session_id), SESSION)


HANDLERS = handlers_by_name(
    CommandHandler(
        c.ScheduleSession,
        target=_session,
        facts=f.Scheduling,
        consults=lambda cmd, ctx, conn: {
            "contracts": DIRECTORY.contracts(conn, cmd.programme_id, ctx.organisation),
            "co_producers": DIRECTORY.co_producers(conn, cmd.programme_id, cmd.co_facilitators),
        },
        decide=decide.schedule_session,
    ),
    CommandHandler(
        c.RecordSessionDelivered,
        target=_session,
        facts=f.Attendance,
        consults=lambda cmd, ctx, conn: {
            "enrolments": DIRECTORY.enrolments(conn, cmd.programme_id, ctx.organisation,
                                               [*cmd.attendees, *(a.participant_id for a in cmd.absences)]),
        },
        decide=decide.record_delivered,
    ),
    CommandHandler(c.CancelSession, target=_session, decide=decide.cancel_session),
    CommandHandler(
        c.HoldShowcase,
        target=lambda cmd, ctx: Load(AggregateRef(CONTEXT, cmd.programme_id, ctx.organisation, cmd.showcase_id), SHOWCASE),
        facts=f.ShowcaseFacts,
        consults=lambda cmd, ctx, conn: {
            "contracts": DIRECTORY.contracts(conn, cmd.programme_id, ctx.organisation),
            "enrolments": DIRECTORY.enrolments(conn, cmd.programme_id, ctx.organisation, cmd.featured_participants),
        },
        decide=decide.hold_showcase,
    ),
)
