// A partner's system written from the exported AsyncAPI document and the README alone:
// every subject comes from a channel's address (its parameters filled in), every command
// and batch it sends is checked against that message's payload schema before it goes, and
// every reply and every event it receives against theirs (ajv, JSON Schema 2020-12).
//
//   node partner.mjs <asyncapi.json> <credentials.json> <programme id> <contract id>
//
// It follows its own events on the follow channel, enrols a participant (a made-up person),
// registers a co-producer, schedules a session and records it delivered (one batch), and
// claims an expense; then it waits until it has heard each of those facts and the
// commissioner's approval of the claim. It prints one JSON object a line:
//   {"step": <command>, "subject": ..., "reply": ...}   a command's (or batch's) reply
//   {"claimed": {...}}                                  the claim, for the commissioner to approve
//   {"event": {"type", "subject", "organisation", "id"}} an event heard on the follow channel
//   {"done": {"heard": [types]}}                        all heard, nothing else is coming
// and exits 1 with a message on stderr on anything unexpected (or after its time is up).

import { readFileSync } from "node:fs";
import { connect, JSONCodec } from "nats";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const WITHIN_MS = 20_000; // every wait is bounded: the whole run, and each request
const [docPath, credsPath, programmeId, contractId] = process.argv.slice(2);
const doc = JSON.parse(readFileSync(docPath, "utf8"));
const creds = JSON.parse(readFileSync(credsPath, "utf8"));
const me = creds.organisation_id;
const jc = JSONCodec();
const fail = (why) => { process.stderr.write(`${why}\n`); process.exit(1); };
const say = (line) => process.stdout.write(`${JSON.stringify(line)}\n`);
setTimeout(() => fail(`not done within ${WITHIN_MS} ms`), WITHIN_MS).unref();

// --- The document: references, channels, operations --------------------------------------
const at = (ref) => {
  if (!ref.startsWith("#/")) fail(`a reference outside the document: ${ref}`);
  return ref.slice(2).split("/").map((t) => t.replaceAll("~1", "/").replaceAll("~0", "~"))
    .reduce((node, key) => node?.[key], doc);
};
const deref = (node) => (node && node.$ref ? deref(at(node.$ref)) : node);
const refOf = (node) => (node.$ref && at(node.$ref).$ref ? refOf(at(node.$ref)) : node.$ref);

function subject(channel, params) {
  return channel.address.replace(/\{(\w+)\}/g, (_, name) => {
    if (!(name in (channel.parameters ?? {}))) fail(`${channel.address}: {${name}} is no parameter of the channel`);
    if (!(name in params)) fail(`${channel.address}: no value for {${name}}`);
    return params[name];
  });
}

const operations = Object.entries(doc.operations).map(([id, op]) => ({ id, ...op, channelObject: deref(op.channel) }));
function sendOperation(matches) {
  const found = operations.filter((op) => op.action === "send" && op.messages.some((m) => matches(deref(m))));
  if (found.length !== 1) fail(`expected one send operation, found ${found.map((o) => o.id)}`);
  return found[0];
}
const commandOperation = (name) => sendOperation((m) => m.name === name && m.title === `${name} command`);
const batchOperation = (names) => sendOperation((m) => {
  const items = m.payload?.properties?.commands?.items?.oneOf ?? [];
  const takes = new Set(items.map((i) => i.properties?.command?.const));
  return names.every((n) => takes.has(n));
});
const followOperation = (() => {
  const found = operations.filter((op) => op.action === "receive" && op.channelObject.address?.startsWith("_INBOX."));
  if (found.length !== 1) fail(`expected one receive operation on an inbox, found ${found.map((o) => o.id)}`);
  return found[0];
})();

// --- Schemas: the document's own, every $ref resolved within it -----------------------------
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema({ $id: "pathways-asyncapi.json", components: doc.components });
const validators = new Map();
function validator(messageRef) {
  const ref = refOf({ $ref: messageRef }); // the message itself, under components.messages
  if (!validators.has(ref)) validators.set(ref, ajv.compile({ $ref: `pathways-asyncapi.json${ref}/payload` }));
  return validators.get(ref);
}
function check(messageRef, body, what) {
  const valid = validator(messageRef);
  if (!valid(body)) fail(`${what} does not match ${messageRef}: ${ajv.errorsText(valid.errors)}\n${JSON.stringify(body)}`);
}

// --- Connect as the document says: the NATS server, with the credentials file's user ---------
const server = Object.values(doc.servers)[0];
if (server.protocol !== "nats") fail(`not a NATS server: ${server.protocol}`);
const schemes = (server.security ?? []).map((s) => deref(s).type);
if (!schemes.includes("userPassword")) fail(`the server asks for ${schemes}, not a user and password`);
const nc = await connect({ servers: creds.nats.url, user: creds.nats.user, pass: creds.nats.password,
                           inboxPrefix: creds.nats.inbox_prefix, timeout: 5_000 });

// Follow first: the consumer waits while nobody listens, so nothing is missed either way.
const byType = new Map(followOperation.messages.map((m) => [deref(m).payload.properties.type.const, m.$ref]));
const heard = [];
const expected = ["ParticipantEnrolled", "CoProducerRegistered", "SessionScheduled", "SessionDelivered",
                  "ExpenseClaimed", "ExpenseApproved"];
let allHeard;
const allHeardNow = new Promise((resolve) => { allHeard = resolve; });
const follow = nc.subscribe(subject(followOperation.channelObject, { organisation: me }));
(async () => {
  for await (const msg of follow) {
    const event = msg.json();
    const ref = byType.get(event.type);
    if (!ref) fail(`an event the follow channel does not list: ${event.type}`);
    check(ref, event, `event ${event.type}`);
    heard.push(event.type.split(".").pop());
    say({ event: { type: event.type, subject: msg.subject, organisation: event.organisation, id: event.id,
                   data: event.data } });
    if (expected.every((t) => heard.includes(t))) allHeard();
  }
})().catch((err) => fail(`following: ${err}`));

async function request(operation, body, step) {
  const [messageRef] = operation.messages.map((m) => m.$ref);
  check(messageRef, body, step);
  const to = subject(operation.channelObject, { organisation: me });
  const reply = (await nc.request(to, jc.encode(body), { timeout: 10_000 })).json();
  const matching = deref(operation.reply).messages.filter((m) => validator(m.$ref)(reply));
  if (matching.length !== 1) fail(`the reply to ${step} matches ${matching.length} of its reply messages: ${JSON.stringify(reply)}`);
  say({ step, subject: to, reply });
  const answers = reply.replies ?? [reply];
  if (!answers.every((r) => r.status === "accepted")) fail(`${step} was not accepted: ${JSON.stringify(reply)}`);
  return reply;
}
const envelope = (key, data) => ({ idempotency_key: `${me}-${key}`, organisation: me, actor: `systems@${me}.example`, data });
const send = (command, key, data) => request(commandOperation(command), envelope(key, data), command);

// --- The partner's day --------------------------------------------------------------------
const participant = `${me}-P-0001`;
const coProducer = `${me}-CP-01`;
const session = `${me}-S-01`;
const claim = `${me}-C-01`;
const people = { "org-a": { name: "Robin Fictitious", date_of_birth: "1990-04-01", contact: "robin@example.invalid" },
                 "org-b": { name: "Morgan Madeup", date_of_birth: "1985-12-24", contact: "+44 7700 900123" } };

await send("EnrolParticipant", "enrol-1", {
  programme_id: programmeId, participant_id: participant, setting: "community", referral_source: "self",
  consent_given: true, enrolled_on: "2025-11-03", personal: people[me] ?? { name: "Alex Invented" } });
await send("RegisterCoProducer", "cp-1", {
  programme_id: programmeId, co_producer_id: coProducer, role: "peer mentor", hourly_rate_pence: 1500,
  receives_benefits: false });
const planned = { programme_id: programmeId, session_id: session, activity: "soft archery", site: "Sports hall",
                  starts_at: "2026-03-03T10:00:00Z", duration_minutes: 90, capacity: 12 };
const delivered = { programme_id: programmeId, session_id: session, attendees: [participant], duration_minutes: 90 };
await request(batchOperation(["ScheduleSession", "RecordSessionDelivered"]), { commands: [
  { command: "ScheduleSession", ...envelope("schedule-1", planned) },
  { command: "RecordSessionDelivered", ...envelope("deliver-1", delivered) },
] }, "batch");
const claimed = { programme_id: programmeId, contract_id: contractId, claim_id: claim, co_producer_id: coProducer,
                  category: "travel", amount_pence: 1250, incurred_on: "2026-03-03", description: "Bus fares to the hall" };
await send("ClaimExpense", "claim-1", claimed);
say({ claimed: { programme_id: programmeId, partner_id: me, contract_id: contractId, claim_id: claim } });

await allHeardNow;
await new Promise((resolve) => setTimeout(resolve, 1_000)); // anything more (someone else's) arrives by now
say({ done: { heard } });
await nc.drain();
process.exit(0);
