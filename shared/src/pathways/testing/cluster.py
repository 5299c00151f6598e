"""A three-node NATS cluster on loopback, from the project's own `deploy/nats` cluster
configs run natively with the wheel's nats-server: the same files docker-compose mounts,
with the compose host names and container paths turned into loopback ports and a
directory of each node's own. What the cluster tests (and a developer) start and kill."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from pathways.runtime.connection import ConnectionInfo
from pathways.runtime.natsserver import Credentials, _jetstream_ready, free_port, nats_server_binary


@dataclass
class ClusterNode:
    name: str  # the server_name in its config: pathways-nats-<n>
    port: int
    route_port: int
    home: Path
    process: subprocess.Popen[bytes] | None = None
    log_offset: int = 0  # where this start's lines begin in its log

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.home / "nats-server.log"


@dataclass
class NatsCluster:
    deploy: Path  # the repository's deploy/nats
    directory: Path
    credentials: Credentials = field(default_factory=lambda: Credentials("pathways-cluster", "c-" + os.urandom(8).hex()))
    nodes: list[ClusterNode] = field(default_factory=list)

    def __post_init__(self) -> None:
        configs = sorted(self.deploy.glob("cluster-node-*.conf"))
        if len(configs) != 3:
            raise FileNotFoundError(f"expected three cluster-node-*.conf in {self.deploy}")
        for n, _ in enumerate(configs, start=1):
            home = self.directory / f"nats-{n}"
            self.nodes.append(ClusterNode(f"pathways-nats-{n}", free_port(), free_port(), home))

    @property
    def connection(self) -> ConnectionInfo:
        return ConnectionInfo(",".join(node.url for node in self.nodes), self.credentials.user, self.credentials.password)

    def config_of(self, n: int) -> str:
        """Node n's deploy config, with the compose network's names as loopback ports."""
        text = (self.deploy / f"cluster-node-{n}.conf").read_text()
        node = self.nodes[n - 1]
        text = text.replace("listen: 0.0.0.0:4222", f"listen: 127.0.0.1:{node.port}")
        text = re.sub(r"^http: .*$", "", text, flags=re.MULTILINE)  # no monitoring port needed here
        text = text.replace("listen: 0.0.0.0:6222", f"listen: 127.0.0.1:{node.route_port}")
        text = text.replace("store_dir: /data/jetstream", f"store_dir: {node.home / 'jetstream'}")
        for other, peer in enumerate(self.nodes, start=1):
            text = text.replace(f"nats-route://nats-{other}:6222", f"nats-route://127.0.0.1:{peer.route_port}")
        return text

    def start(self, timeout: float = 30.0) -> None:
        for n in range(1, len(self.nodes) + 1):
            self.start_node(n, wait=False)
        deadline = time.monotonic() + timeout
        while not all(self._ready(node) for node in self.nodes):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the cluster did not form within {timeout}s; see {self.directory}/nats-*/nats-server.log")
            time.sleep(0.1)

    def start_node(self, n: int, *, wait: bool = True, timeout: float = 30.0) -> None:
        node = self.nodes[n - 1]
        node.home.mkdir(parents=True, exist_ok=True)
        shutil.copytree(self.deploy / "auth", node.home / "auth", dirs_exist_ok=True)
        config = node.home / "nats-server.conf"
        config.write_text(self.config_of(n))
        node.log_offset = node.log_file.stat().st_size if node.log_file.exists() else 0
        env = os.environ | {"PATHWAYS_NATS_USER": self.credentials.user, "PATHWAYS_NATS_PASSWORD": self.credentials.password}
        with open(node.log_file, "ab") as log:
            node.process = subprocess.Popen([str(nats_server_binary()), "-c", str(config)], env=env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while wait and not self._ready(node):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{node.name} did not start within {timeout}s; see {node.log_file}")
            time.sleep(0.05)

    def _ready(self, node: ClusterNode) -> bool:
        if node.process is None or node.process.poll() is not None:
            return False
        return _jetstream_ready(node.log_file, node.log_offset)

    def kill(self, name: str) -> int:
        """kill -9 of the node named `name`; returns its number, to start it again."""
        for n, node in enumerate(self.nodes, start=1):
            if node.name == name and node.process is not None:
                node.process.send_signal(signal.SIGKILL)
                node.process.wait()
                return n
        raise KeyError(name)

    def stop(self) -> None:
        for node in self.nodes:
            if node.process is not None and node.process.poll() is None:
                node.process.terminate()
        for node in self.nodes:
            if node.process is not None:
                try:
                    node.process.wait(10)
                except subprocess.TimeoutExpired:
                    node.process.kill()
                    node.process.wait()
