"""The AsyncAPI 3.0 document `pathways schemas export` writes, read by the official parser
(npm `@asyncapi/parser`): valid, with every command as a send operation that names its
reply and every event as a message of its context's channel."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest
from pathways.schemas import export_schemas
from pathways.service import all_schemas, discover

PARSE = """
const { Parser } = require("@asyncapi/parser");
const fs = require("fs");
(async () => {
  const { document, diagnostics } = await new Parser().parse(fs.readFileSync(process.argv[2], "utf8"));
  const problems = diagnostics.filter((d) => d.severity <= 1).map((d) => `${d.code}: ${d.message} at ${d.path.join("/")}`);
  const out = { problems };
  if (document) {
    out.channels = document.channels().all().map((c) => c.id());
    out.operations = document.operations().all().map((o) => ({ id: o.id(), action: o.action(), reply: !!o.reply() }));
    out.messages = document.allMessages().all().map((m) => m.id());
  }
  console.log(JSON.stringify(out));
})();
"""


async def test_the_asyncapi_document_parses_and_holds_every_command_and_event(tmp_path: Path) -> None:
    registry = all_schemas(discover())
    written = export_schemas(registry, tmp_path / "schemas")
    assert tmp_path / "schemas" / "asyncapi.json" in written
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is needed to run the AsyncAPI parser (it is on this machine and CI's)")
    installed = await asyncio.create_subprocess_exec(npm, "install", "--no-audit", "--no-fund", "--silent",
                                                     "@asyncapi/parser@3", cwd=tmp_path)
    assert await asyncio.wait_for(installed.wait(), 300) == 0
    (tmp_path / "parse.js").write_text(PARSE)
    parsed = await asyncio.create_subprocess_exec("node", "parse.js", "schemas/asyncapi.json", cwd=tmp_path,
                                                  stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(parsed.communicate(), 120)
    assert parsed.returncode == 0, err.decode()[-2000:]
    found = json.loads(out)
    assert found["problems"] == []  # no error and no warning
    commands = {f"{c.context}.{c.name}" for c in registry.commands.values()}
    events = {f"{e.context}.{e.name}" for e in registry.events.values()}
    sends = {o["id"] for o in found["operations"] if o["action"] == "send" and o["reply"]}
    assert sends == commands, sorted(commands ^ sends)
    assert events <= set(found["messages"]), sorted(events - set(found["messages"]))
    contexts = {e.context for e in registry.events.values()}
    assert set(found["channels"]) == commands | {f"events.{c}" for c in contexts} | {"replies"}
    assert len(commands) >= 25 and len(events) >= 25
