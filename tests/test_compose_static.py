"""docker-compose.yml, validated without a Docker engine: every image, build, command
and config file it names exists and makes sense, and the NATS configs parse with the
real nats-server (`-t`)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from pathways.runtime.natsserver import nats_server_binary
from pathways.runtime.service import discover

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    body: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return body


def test_every_service_has_a_pinned_image_or_an_existing_build(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        if "build" in svc:
            dockerfile = ROOT / svc["build"]["context"] / svc["build"]["dockerfile"]
            assert dockerfile.is_file(), (name, dockerfile)
            text = dockerfile.read_text()
            assert re.search(r"^FROM \S+:\S+", text, re.M), f"{dockerfile} must pin its base image"
            for src in re.findall(r"^COPY (.+) \S+$", text, re.M):
                for path in src.split():
                    assert (ROOT / path).exists(), (dockerfile, path)
        else:
            assert re.fullmatch(r"[a-z0-9./-]+:[A-Za-z0-9._-]+", svc["image"]), name
            assert not svc["image"].endswith(":latest"), name


def test_every_bind_mounted_file_exists(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), (name, source)
            else:
                assert source in compose["volumes"], (name, source)


def test_service_commands_name_real_services_and_cli_options(compose: dict[str, Any]) -> None:
    known = set(discover())
    built = [svc for svc in compose["services"].values() if "build" in svc]
    assert built
    # The same help for every service: one process (each takes seconds to start) asked once.
    result = subprocess.run(
        [str(Path(sys.executable).parent / "pathways"), "serve", "--help"], capture_output=True, text=True, check=True
    )
    for svc in built:
        command = svc["command"]
        assert command[:2] == ["pathways", "serve"] and command[2] in known
        for option in (c for c in command if c.startswith("--")):
            assert option in result.stdout, option
        dockerfile = (ROOT / svc["build"]["context"] / svc["build"]["dockerfile"]).read_text()
        assert f'"serve", "{command[2]}"' in dockerfile


def test_every_service_package_has_a_dockerfile_and_a_compose_entry(compose: dict[str, Any]) -> None:
    for name in discover():
        assert (ROOT / "services" / name / "Dockerfile").is_file()
        assert name in compose["services"]


@pytest.mark.parametrize("conf", sorted((ROOT / "deploy" / "nats").glob("*.conf")), ids=lambda p: p.name)
def test_nats_configs_are_durable_and_parse(conf: Path) -> None:
    text = conf.read_text()
    assert "sync_interval: always" in text and "jetstream" in text
    assert "authorization" in text, "never an open server"
    env = os.environ | {"PATHWAYS_NATS_USER": "u", "PATHWAYS_NATS_PASSWORD": "p"}
    result = subprocess.run([str(nats_server_binary()), "-t", "-c", str(conf)], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr + result.stdout


def test_compose_nats_config_is_the_one_mounted(compose: dict[str, Any]) -> None:
    nats = compose["services"]["nats"]
    assert any(v.startswith("./deploy/nats/nats-server.conf:") for v in nats["volumes"])
    assert "-c" in nats["command"]


def test_a_deployments_authorization_as_pathways_org_writes_it_parses(tmp_path: Path) -> None:
    """`pathways org` run for a deployment (PATHWAYS_HOME=deploy/nats/auth, no credentials.json)
    writes users the mounted config includes: the platform's from the environment, and each
    organisation's with its permissions. The real config must accept what it writes."""
    from pathways.runtime.accounts import OrganisationRegister, ServiceAccounts
    from pathways.runtime.natsserver import reload_running_server

    (tmp_path / "auth").mkdir()
    OrganisationRegister(tmp_path / "auth").issue("partner-x", "partner")
    OrganisationRegister(tmp_path / "auth").issue("auditor-y", "auditor")
    ServiceAccounts(tmp_path / "auth").ensure(list(discover()))  # what `pathways org services` does
    assert reload_running_server(tmp_path / "auth") is False  # nothing to signal here: the operator reloads it
    written = (tmp_path / "auth" / "authorization.conf").read_text()
    assert "$PATHWAYS_NATS_USER" in written and "org-partner-x" in written and "pathways.cmd.partner-x.>" in written
    assert all(f'"svc-{name}"' in written for name in discover())
    assert written.startswith("# Written by `pathways org")  # the tracked file keeps saying what it is
    conf = tmp_path / "nats-server.conf"
    conf.write_text((ROOT / "deploy" / "nats" / "nats-server.conf").read_text())
    env = os.environ | {"PATHWAYS_NATS_USER": "u", "PATHWAYS_NATS_PASSWORD": "p"}
    result = subprocess.run([str(nats_server_binary()), "-t", "-c", str(conf)], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr + result.stdout


def test_each_service_connects_as_its_own_nats_user(compose: dict[str, Any]) -> None:
    for name in discover():
        env = compose["services"][name]["environment"]
        assert env["PATHWAYS_NATS_USER"] == f"svc-{name}", name
        assert env["PATHWAYS_NATS_PASSWORD"].startswith(f"${{PATHWAYS_NATS_PASSWORD_{name.upper()}:?"), name


def test_every_process_is_started_again_and_each_service_is_health_checked_on_its_own_port(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        assert svc.get("restart") == "unless-stopped", name
        if name == "otel-collector":  # distroless: no command to probe with; it serves its health itself
            assert "13133:13133" in svc["ports"]
            continue
        check = " ".join(svc["healthcheck"]["test"])
        if "build" in svc:
            port = svc["command"][svc["command"].index("--http-port") + 1]
            assert f"http://127.0.0.1:{port}/healthz" in check, name


def test_the_collector_pipelines_are_complete_and_every_service_exports_to_it(compose: dict[str, Any]) -> None:
    collector = compose["services"]["otel-collector"]
    [mount] = [v for v in collector["volumes"] if "collector.yaml" in v]
    source, target = mount.split(":")[:2]
    assert f"--config={target}" in collector["command"]
    config: dict[str, Any] = yaml.safe_load((ROOT / source).read_text())
    for kind in ("receivers", "processors", "exporters"):
        for pipeline, body in config["service"]["pipelines"].items():
            missing = [c for c in body.get(kind, []) if c not in config[kind]]
            assert not missing, (pipeline, kind, missing)
    assert set(config["service"]["pipelines"]) >= {"traces", "metrics"}
    assert config["service"]["extensions"] == list(config["extensions"])
    http = config["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
    for name in discover():
        env = compose["services"][name]["environment"]
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == f"http://otel-collector:{http.rsplit(':', 1)[1]}", name
        assert env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"  # the one the services export
        assert "otel-collector" not in compose["services"][name].get("depends_on", {})
