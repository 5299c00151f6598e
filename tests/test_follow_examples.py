"""The README's examples of following one's own facts, run as written: the Python one with
nats-py, the Node.js one with the `nats` package from npm, each as a partner with its own
credentials file. Each prints its own organisation's events, and none of the other's."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path

from pathways.runtime.accounts import inbox_prefix, nats_user
from pathways.runtime.follow import delivered_to, ensure_following, follow_consumer, followed_subject

from tests.conftest import npm_install
from tests.test_nats_permissions import Secured, secured

__all__ = ["secured"]  # the fixture used here

README = Path(__file__).resolve().parents[1] / "README.md"


def example(language: str) -> str:
    blocks = re.findall(rf"```{language}\n(.*?)```", README.read_text(), re.S)
    assert blocks, f"README.md has a {language} example"
    return str(blocks[0])


def creds_file(s: Secured, org: str, where: Path) -> Path:
    """The parts of the file `pathways org add` writes (pathways.runtime.cli.org) that a partner's system reads."""
    path = where / f"{org}.json"
    path.write_text(json.dumps({
        "organisation_id": org, "role": "partner",
        "nats": {"url": s.server.url, "user": nats_user(org), "password": s.passwords[org], "inbox_prefix": inbox_prefix(org)},
        "follow": {"subscribe": delivered_to(org), "consumer": follow_consumer(org), "events_on": followed_subject(org)}}))
    return path


async def lines_of(*argv: str, cwd: Path, count: int, within: float = 60) -> list[str]:
    child = await asyncio.create_subprocess_exec(*argv, cwd=cwd, stdout=asyncio.subprocess.PIPE,
                                                 stderr=asyncio.subprocess.PIPE)
    out: list[str] = []
    try:
        while len(out) < count:
            assert child.stdout is not None
            line = await asyncio.wait_for(child.stdout.readline(), within)
            if not line:
                assert child.stderr is not None
                raise AssertionError(f"{argv[0]} ended: {(await child.stderr.read()).decode()[-2000:]}")
            out.append(line.decode().strip())
        await asyncio.sleep(1.0)  # anything more it would print (someone else's event) arrives by now
    finally:
        child.kill()
        rest, _ = await child.communicate()
    return out + [x for x in rest.decode().splitlines() if x.strip()]


async def test_the_readme_examples_follow_a_partners_own_facts(secured: Secured, tmp_path: Path) -> None:
    platform = await secured.endpoint.connection.connect("follow-examples")
    try:
        await ensure_following(platform, ["org-a", "org-b"])
        js = platform.jetstream()
        for org, n in [("org-a", 1), ("org-b", 1), ("org-a", 2), ("org-b", 2)]:
            event = {"type": f"pathways.test.Happened{n}", "data": {}}
            await js.publish(f"pathways.evt.p1.{org}.registry.x{n}", json.dumps(event).encode(),
                             headers={"Nats-Msg-Id": os.urandom(8).hex()})
    finally:
        await platform.close()

    python = tmp_path / "follow.py"
    python.write_text(example("python").replace('"partner-a.json"', json.dumps(str(creds_file(secured, "org-a", tmp_path)))))
    printed = await lines_of(sys.executable, str(python), cwd=tmp_path, count=2)
    assert printed == ["pathways.test.Happened1 pathways.evt.p1.org-a.registry.x1",
                       "pathways.test.Happened2 pathways.evt.p1.org-a.registry.x2"], printed

    await npm_install(tmp_path, "nats@2", within=180)
    creds_file(secured, "org-b", tmp_path).rename(tmp_path / "partner-a.json")  # the name the example requires
    (tmp_path / "follow.js").write_text(example("js"))
    printed = await lines_of("node", "follow.js", cwd=tmp_path, count=2)
    assert printed == ["pathways.test.Happened1 pathways.evt.p1.org-b.registry.x1",
                       "pathways.test.Happened2 pathways.evt.p1.org-b.registry.x2"], printed
