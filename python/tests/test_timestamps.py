"""Client(timestamp_server=...) against a real RFC 3161 authority: `openssl ts -reply` behind a
small HTTP handler, as the Rust tests run it. A stamped signature counts under a policy that
requires a timestamp by that authority; an unstamped one does not."""

from __future__ import annotations

import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

import modelark
from conftest import Registry


def _openssl(cwd: Path, *args: str) -> None:
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


class Tsa:
    """A test CA, a TSA certificate with the critical timeStamping EKU, and `openssl ts
    -reply` answering POSTed queries on 127.0.0.1."""

    def __init__(self, root: Path) -> None:
        self.dir = root
        root.mkdir(parents=True)
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        _openssl(root, "req", "-x509", *ec, "-subj", "/CN=python test TSA root", "-days", "2",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                 "-keyout", "ca.key", "-out", "ca.pem")
        _openssl(root, "req", *ec, "-subj", "/CN=python test TSA", "-keyout", "tsa.key", "-out", "tsa.csr")
        (root / "tsa.ext").write_text(
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
            "extendedKeyUsage=critical,timeStamping\n"
        )
        _openssl(root, "x509", "-req", "-in", "tsa.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-days", "2", "-sha256", "-extfile", "tsa.ext", "-out", "tsa.pem")
        (root / "chain.pem").write_text((root / "tsa.pem").read_text() + (root / "ca.pem").read_text())
        (root / "serial").write_text("01\n")
        (root / "tsa.cnf").write_text(
            "[ tsa ]\ndefault_tsa = tsa_config\n[ tsa_config ]\nserial = ./serial\n"
            "signer_cert = ./tsa.pem\ncerts = ./ca.pem\nsigner_key = ./tsa.key\n"
            "signer_digest = sha256\ndefault_policy = 1.2.3.4.1\ndigests = sha256, sha384, sha512\n"
            "accuracy = secs:1\nordering = no\ntsa_name = no\ness_cert_id_chain = no\n"
            "ess_cert_id_alg = sha256\n"
        )
        self.queries = 0
        lock = threading.Lock()
        tsa = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                query = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with lock:
                    tsa.queries += 1
                    n = tsa.queries
                (root / f"q{n}.tsq").write_bytes(query)
                done = subprocess.run(
                    ["openssl", "ts", "-reply", "-config", "tsa.cnf", "-queryfile", f"q{n}.tsq", "-out", f"r{n}.tsr"],
                    cwd=root, capture_output=True,
                )
                if done.returncode != 0:
                    self.send_response(400)
                    self.end_headers()
                    return
                body = (root / f"r{n}.tsr").read_bytes()
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/tsr"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()


@pytest.fixture
def tsa(tmp_path: Path) -> Iterator[Tsa]:
    authority = Tsa(tmp_path / "tsa")
    yield authority
    authority.stop()


def test_a_stamped_signature_counts_where_a_timestamp_is_required(
    client: modelark.Client, model: Path, registry: Registry, keys: modelark.KeyPair, tsa: Tsa, tmp_path: Path
) -> None:
    stamped = modelark.Client(
        home=tmp_path / "stamped-home", plain_http=True, docker_config=tmp_path / "docker",
        timestamp_server=tsa.url,
    )
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        f"keys: {{release: {keys.public}}}\n"
        f"timestampAuthorities: {{test-tsa: {tsa.dir / 'chain.pem'}}}\n"
        "requireTimestamp: true\n"
        "rules:\n  - scope: \"**\"\n    signatures: {threshold: 1, signers: [release]}\n"
    )
    plain_ref = f"{registry.host}/py/unstamped:1.0.0"
    client.push(model, plain_ref)
    client.sign(plain_ref, key=keys.private, password="")
    with pytest.raises(modelark.errors.VerificationFailed) as refused:
        client.verify(plain_ref, policy=policy)
    assert "requires one by a trusted time-stamping authority" in str(refused.value)
    assert tsa.queries == 0

    ref = f"{registry.host}/py/stamped:1.0.0"
    stamped.push(model, ref)
    signed = stamped.sign(ref, key=keys.private, password="")
    assert tsa.queries == 1
    assert signed.to_dict()["timestamped"].endswith("Z")
    report = client.verify(ref, policy=policy)
    assert report.verified and report.signers == ["release"]
