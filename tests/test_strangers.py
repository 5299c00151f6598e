"""Another commissioner's programme does not exist for a stranger, over NATS as over HTTP
(404): a command at it is answered exactly as a command at an id nobody uses, naming
neither the programme's commissioner nor anything else of it. (Before, replies said
"Only the programme's commissioner ('commissioner-x') ..." and "forbidden".)"""

from __future__ import annotations

from typing import Any

from pathways.runtime.host import ServiceHost

from tests.conftest import CommandClient, enrolment, setup_programme, unique


def commands(programme: str, partner: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(context, command, data) a stranger might send at `programme`."""
    contract = {"programme_id": programme, "partner_id": partner, "contract_id": "contract-0"}
    return [
        ("registry", "CommissionPartner", {"programme_id": programme, "contract_id": "c-x", "partner_id": partner,
                                           "budget_pence": 100, "activities": ["yoga"], "starts_on": "2025-10-01",
                                           "ends_on": "2026-09-30"}),
        ("registry", "RegisterCoProducer", {"programme_id": programme, "co_producer_id": unique("cp"),
                                            "role": "peer mentor", "receives_benefits": False, "hourly_rate_pence": 1200}),
        ("registry", "EnrolParticipant", enrolment(programme, unique("pt"))),
        ("payments", "ApproveExpense", contract | {"claim_id": "claim-1"}),
        ("payments", "PayInvoice", contract | {"invoice_id": "inv-1", "paid_on": "2026-01-15"}),
        ("payments", "IssuePaymentRun", {"programme_id": programme, "run_id": unique("run"), "up_to": "2026-03-31"}),
        ("evaluation", "RecordOutcome", {"programme_id": programme, "participant_id": "pt-1", "measurement_id": unique("m"),
                                         "instrument": "SWEMWBS", "timepoint": "baseline", "measured_on": "2026-01-10",
                                         "answers": [3] * 7}),
        ("evaluation", "ProposeDevelopment", {"programme_id": programme, "development_id": unique("d"), "you_said": "x",
                                              "raised_by": "participants", "we_will": "y"}),
        ("evaluation", "PublishEvaluationReport", {"programme_id": programme, "report_id": unique("r"), "title": "t",
                                                   "period_start": "2025-10-01", "period_end": "2026-03-31",
                                                   "summary": "s", "findings": ["f"]}),
    ]


async def test_a_stranger_is_told_another_commissioners_programme_does_not_exist(
    registry: ServiceHost, payments: ServiceHost, evaluation: ServiceHost, client: CommandClient,
) -> None:
    theirs, mine = await setup_programme(client), await setup_programme(client)
    nobody = unique("prog")  # an id no one uses: what a stranger's replies must look like
    for stranger in (mine.commissioner, mine.partner_a):
        for (context, command, data), (_, _, unused) in zip(commands(theirs.programme_id, theirs.partner_a),
                                                             commands(nobody, theirs.partner_a), strict=True):
            reply = await client.send(stranger, command, data, context=context)
            control = await client.send(stranger, command, unused, context=context)
            assert control["code"] == "not_found", (command, control)  # (an id nobody uses: the yardstick)
            assert reply["code"] == "not_found", (stranger, command, reply)
            assert reply["message"] == control["message"].replace(nobody, theirs.programme_id), (command, reply)
            assert theirs.commissioner not in reply["message"] and theirs.partner_a not in str(reply), (command, reply)
    # Those with a part in it are still told why they may not (they know it exists).
    refused = await client.send(theirs.partner_a, "PayInvoice", commands(theirs.programme_id, theirs.partner_a)[4][2],
                                context="payments")
    assert refused["code"] == "forbidden" and theirs.commissioner not in refused["message"], refused
