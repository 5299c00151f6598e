"""The AsyncAPI 3.0 document `pathways schemas export` writes, read by the official parser
(npm `@asyncapi/parser`): valid, with every command as a send operation that names its
reply and where that reply arrives, a batch channel per context, every event as a message
of its context's channel and of the follow channel, and the NATS server with the
user/password security a partner's credentials file gives."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from pathways.core.batch_wire import MAX_COMMANDS
from pathways.jetstream.batch import BatchReply
from pathways.jetstream.contract import export_schemas
from pathways.runtime.service import all_schemas, discover

from tests.conftest import npm_install

PARSE = """
const { Parser } = require("@asyncapi/parser");
const fs = require("fs");
(async () => {
  const { document, diagnostics } = await new Parser().parse(fs.readFileSync(process.argv[2], "utf8"));
  const problems = diagnostics.filter((d) => d.severity <= 1).map((d) => `${d.code}: ${d.message} at ${d.path.join("/")}`);
  const out = { problems };
  if (document) {
    out.channels = Object.fromEntries(document.channels().all().map((c) => [c.id(), {
      address: c.address(), parameters: c.parameters().all().map((p) => p.id()),
      messages: c.messages().all().map((m) => m.id()) }]));
    out.operations = document.operations().all().map((o) => {
      const reply = o.reply();
      return { id: o.id(), action: o.action(), channel: o.channels().all().map((c) => c.id()),
               messages: o.messages().all().map((m) => m.id()),
               reply: reply ? { address: reply.address() ? reply.address().location() : null,
                                channel: reply.channel() ? reply.channel().id() : null,
                                messages: reply.messages().all().map((m) => m.id()) } : null };
    });
    out.messages = document.allMessages().all().map((m) => m.id());
    out.required = Object.fromEntries(["Accepted", "Rejected"].map(
      (id) => [id, document.allMessages().get(id).payload().required()]));
    out.batch = Object.fromEntries(document.allMessages().all().filter((m) => m.id().startsWith("batch.")).map((m) => {
      const commands = m.payload().properties().commands;
      return [m.id(), { maxItems: commands.maxItems(),
                        names: commands.items().oneOf().map((i) => i.properties().command.const()) }];
    }));
    out.servers = document.servers().all().map((s) => ({ id: s.id(), protocol: s.protocol(), host: s.host(),
      security: s.security().map((r) => r.all().map((x) => x.scheme().type())) }));
  }
  console.log(JSON.stringify(out));
})();
"""


async def test_the_asyncapi_document_parses_and_holds_every_command_and_event(tmp_path: Path) -> None:
    registry = all_schemas(discover())
    written = export_schemas(registry, tmp_path / "schemas")
    assert tmp_path / "schemas" / "asyncapi.json" in written
    await npm_install(tmp_path, "@asyncapi/parser@3")
    (tmp_path / "parse.js").write_text(PARSE)
    parsed = await asyncio.create_subprocess_exec("node", "parse.js", "schemas/asyncapi.json", cwd=tmp_path,
                                                  stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(parsed.communicate(), 120)
    assert parsed.returncode == 0, err.decode()[-2000:]
    found = json.loads(out)
    assert found["problems"] == []  # no error and no warning
    commands = {f"{c.context}.{c.name}" for c in registry.commands.values()}
    events = {f"{e.context}.{e.name}" for e in registry.events.values()}
    contexts = {e.context for e in registry.events.values()}
    command_contexts = {c.context for c in registry.commands.values()}
    batches = {f"batch.{c}" for c in command_contexts}
    operations = {o["id"]: o for o in found["operations"]}
    sends = {o["id"] for o in found["operations"] if o["action"] == "send" and o["reply"]}
    assert sends == commands | batches, sorted((commands | batches) ^ sends)
    assert events <= set(found["messages"]), sorted(events - set(found["messages"]))
    assert set(found["channels"]) == commands | batches | {f"events.{c}" for c in contexts} | {"replies", "follow"}
    assert len(commands) >= 25 and len(events) >= 25

    # Every reply says where it arrives: the request's NATS reply subject, on the replies channel.
    assert found["channels"]["replies"]["address"] is None  # the spec's rule where a reply has an address
    for key in commands:
        assert operations[key]["reply"] == {"address": "$message.header#/replyTo", "channel": "replies",
                                            "messages": ["Accepted", "Rejected"]}, key
    # A batch per context with commands, on its own subject, of that context's commands only.
    for context in command_contexts:
        channel = found["channels"][f"batch.{context}"]
        assert channel["address"] == f"pathways.cmd.{{organisation}}.{context}.batch"
        assert channel["parameters"] == ["organisation"]
        assert operations[f"batch.{context}"]["reply"] == {"address": "$message.header#/replyTo", "channel": "replies",
                                                           "messages": ["BatchReply", "Rejected"]}
        batch = found["batch"][f"batch.{context}"]
        assert batch["maxItems"] == MAX_COMMANDS
        assert set(batch["names"]) == {c.name for c in registry.commands.values() if c.context == context}
    document = json.loads((tmp_path / "schemas" / "asyncapi.json").read_text())
    batch_reply = document["components"]["messages"]["BatchReply"]["payload"]
    assert batch_reply["required"] == list(BatchReply.model_json_schema()["properties"]) == ["replies"]
    # The follow subject: the organisation's own events, any event of any context.
    follow = found["channels"]["follow"]
    assert follow["address"] == "_INBOX.{organisation}.follow" and follow["parameters"] == ["organisation"]
    assert set(follow["messages"]) == events
    assert operations["follow"]["action"] == "receive" and set(operations["follow"]["messages"]) == events
    # Where to connect and how: NATS, with the user and password of the credentials file.
    assert found["servers"] == [{"id": "nats", "protocol": "nats", "host": "localhost:4222",
                                 "security": [["userPassword"]]}]
    # `status` is on the wire in every reply (model_dump_json sends every field), so required.
    assert "status" in found["required"]["Accepted"] and "status" in found["required"]["Rejected"]
    assert set(found["required"]["Rejected"]) == {"status", "code", "message", "details"}
