"""The Python suite's real parts: CNCF distribution (Debian's ``docker-registry``) on
127.0.0.1 with a free port, plain and with basic auth, started per test session."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Iterator, Optional

import pytest

import modelark

TESTDATA = Path(__file__).resolve().parents[2] / "testdata"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Registry:
    """A running ``docker-registry serve``; ``host`` is ``127.0.0.1:PORT``."""

    def __init__(self, root: Path, *, user: Optional[str] = None, password: Optional[str] = None, delete: bool = True):
        binary = shutil.which("docker-registry")
        if binary is None:
            pytest.fail("docker-registry is not installed: run `make deps` (apt-get install docker-registry)")
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.user, self.password = user, password
        self.delete = delete
        self.binary = binary
        self.process: Optional[subprocess.Popen[bytes]] = None
        self.port = 0
        self.start()

    def start(self) -> None:
        for _ in range(5):
            self.port = _free_port()
            config = (
                "version: 0.1\nlog: {level: warn}\nstorage:\n"
                f"  filesystem: {{rootdirectory: {self.root / 'data'}}}\n"
                f"  delete: {{enabled: {'true' if self.delete else 'false'}}}\n"
                f"http:\n  addr: 127.0.0.1:{self.port}\n"
            )
            if self.user:
                entry = subprocess.run(
                    ["htpasswd", "-Bbn", self.user, self.password or ""], check=True, capture_output=True
                ).stdout
                (self.root / "htpasswd").write_bytes(entry)
                config += f"auth:\n  htpasswd: {{realm: test-realm, path: {self.root / 'htpasswd'}}}\n"
            (self.root / "config.yml").write_text(config)
            log = open(self.root / "registry.log", "ab")
            self.process = subprocess.Popen([self.binary, "serve", str(self.root / "config.yml")], stdout=subprocess.DEVNULL, stderr=log)
            if self._ready():
                return
            self.stop()
        pytest.fail("docker-registry did not become ready on 127.0.0.1")

    def _ready(self) -> bool:
        for _ in range(100):
            if self.process is not None and self.process.poll() is not None:
                return False
            try:
                urllib.request.urlopen(f"http://{self.host}/v2/", timeout=1)
                return True
            except urllib.error.HTTPError:
                return True  # 401 from an auth registry: it is up
            except OSError:
                time.sleep(0.05)
        return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def blob_data(self, digest: str) -> Path:
        hex_ = digest.split(":", 1)[1]
        return self.root / "data/docker/registry/v2/blobs/sha256" / hex_[:2] / hex_ / "data"


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    r = Registry(tmp_path_factory.mktemp("registry"))
    yield r
    r.stop()


@pytest.fixture(scope="session")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    r = Registry(tmp_path_factory.mktemp("auth-registry"), user="alice", password="s3cret")
    yield r
    r.stop()


@pytest.fixture
def client(tmp_path: Path) -> modelark.Client:
    """A client with its own home and an empty docker config (no credentials)."""
    (tmp_path / "docker").mkdir()
    return modelark.Client(home=tmp_path / "home", plain_http=True, docker_config=tmp_path / "docker")


@pytest.fixture
def model(tmp_path: Path) -> Path:
    """A copy of testdata/tiny-sentiment (the repository's small model)."""
    dest = tmp_path / "tiny-sentiment"
    shutil.copytree(TESTDATA / "tiny-sentiment", dest)
    return dest


@pytest.fixture
def keys(tmp_path: Path, client: modelark.Client) -> modelark.KeyPair:
    return client.generate_key_pair(str(tmp_path / "release"), "")


@pytest.fixture(autouse=True)
def _no_ambient_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The module-level shortcuts and the CLI read the environment as a user's would.
    monkeypatch.setenv("MODELARK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    monkeypatch.delenv("COSIGN_PASSWORD", raising=False)
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    os.environ.pop("MODELARK_OFFLINE", None)
