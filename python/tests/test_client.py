"""Every method of modelark.Client against a real registry, every exception class raised by
a real failure, and the results' to_dict() against the CLI's --json."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import modelark
from conftest import Registry


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The venv's `modelark` command (the wheel's entry point)."""
    command = Path(sys.executable).with_name("modelark")
    return subprocess.run([str(command), *args], capture_output=True, text=True, env=env)


def test_pack_inspect_list_tag_rm_locally(client: modelark.Client, model: Path) -> None:
    packed = client.pack(model, "tiny:1.0.0")
    assert packed.digest.startswith("sha256:")
    assert packed.reference == f"tiny:1.0.0@{packed.digest}"
    assert packed.files == 6 and packed.replaced is None
    # Reproducible: the same directory packs to the same digest.
    assert client.pack(model, "tiny:1.0.0").digest == packed.digest

    info = client.inspect("tiny:1.0.0")
    assert info.digest == packed.digest
    m = info.metadata
    assert (m.name, m.version, m.framework, m.task) == ("tiny-sentiment", "1.0.0", "numpy", "text-classification")
    assert m.licenses == ["Apache-2.0"] and "sentiment" in m.tags
    assert m.metrics["accuracy"] == pytest.approx(0.875)
    assert m.lineage.training_run == "mlflow://experiments/7/runs/42"
    assert m.lineage.datasets[0].uri == "https://example.com/datasets/tiny-reviews.csv"
    assert m.lineage.source.repo == "https://example.com/modelark/tiny-sentiment"
    assert m.lineage.parent is None
    assert {f.path for f in info.files} >= {"README.md", "weights.npz"}
    weights = next(f for f in info.files if f.path == "weights.npz")
    assert (weights.kind, weights.size) == ("weight", (model / "weights.npz").stat().st_size)
    assert "Inspected(" in repr(info) and packed.digest in repr(info)

    tagged = client.tag("tiny:1.0.0", "tiny:stable")
    assert tagged.digest == packed.digest
    rows = client.list()
    assert {(r.name, r.tag) for r in rows} == {("tiny", "1.0.0"), ("tiny", "stable")}
    assert client.rm("tiny:stable").removed == ["tiny:stable"]
    assert [r.tag for r in client.list("tiny")] == ["1.0.0"]


def test_results_are_the_clis_json(client: modelark.Client, model: Path, tmp_path: Path) -> None:
    client.pack(model, "tiny:1.0.0")
    env = dict(os.environ, MODELARK_HOME=client.home, DOCKER_CONFIG=str(tmp_path / "docker"))
    shown = cli("inspect", "tiny:1.0.0", "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == client.inspect("tiny:1.0.0").to_dict()
    listed = cli("list", "--json", env=env)
    assert json.loads(listed.stdout) == [r.to_dict() for r in client.list()]
    # to_dict is a copy: changing it changes nothing.
    info = client.inspect("tiny:1.0.0")
    info.to_dict()["digest"] = "x"
    assert info.digest != "x"
    with pytest.raises(AttributeError):
        info.digest = "x"  # type: ignore[misc]


def test_the_wheel_installs_the_cli(tmp_path: Path) -> None:
    version = cli("--version")
    assert version.returncode == 0 and "modelark" in version.stdout
    missing = cli("inspect", "nothere:1", env=dict(os.environ, MODELARK_HOME=str(tmp_path / "h")))
    assert missing.returncode == 1
    assert "error: failed to read nothere:1" in missing.stderr


def test_push_pull_copy_and_sign_verify(client: modelark.Client, model: Path, registry: Registry, keys: modelark.KeyPair, tmp_path: Path) -> None:
    ref = f"{registry.host}/py/push:1.0.0"
    pushed = client.push(model, ref)
    assert pushed.reference == f"{ref}@{pushed.digest}" and pushed.size > 0

    signed = client.sign(ref, key=keys.private, password="")
    assert signed.digest == pushed.digest and signed.stored.startswith("sha256:")
    report = client.verify(ref, keys=[keys.public])
    assert report.verified and report.signers == [keys.public]

    out = tmp_path / "out"
    pulled = client.pull(ref, dest=out, keys=keys.public)
    assert pulled.digest == pushed.digest and pulled.files == 6 and not pulled.unchanged
    assert (out / "weights.npz").read_bytes() == (model / "weights.npz").read_bytes()
    only = client.pull(ref, dest=tmp_path / "only", include=["*.json"])
    assert only.files is not None and all(p.suffix == ".json" for p in (tmp_path / "only").rglob("*") if p.is_file())

    copied = client.copy(ref, f"{registry.host}/py/copied:1.0.0", keys=keys.public)
    assert copied.digest == pushed.digest
    # The signature travelled with it.
    assert client.verify(f"{registry.host}/py/copied:1.0.0", keys=keys.public).verified

    # Push of a stored model, by reference.
    client.pack(model, "tiny:1.0.0")
    again = client.push("tiny:1.0.0", f"{registry.host}/py/from-store:1.0.0")
    assert again.digest == client.inspect("tiny:1.0.0").digest


def test_model_signing_signature_and_verify_dir(client: modelark.Client, model: Path, registry: Registry, keys: modelark.KeyPair, tmp_path: Path) -> None:
    ref = f"{registry.host}/py/model-sig:1.0.0"
    client.push(model, ref)
    client.sign(ref, key=keys.private, password="", format="model-signing")
    out = tmp_path / "out"
    client.pull(ref, dest=out, keys=keys.public, model_sig=True)
    assert (out / "model.sig").is_file()
    report = client.verify_dir(out, keys=keys.public)
    assert report.verified and report.files == 6 and report.signers == [keys.public]
    assert report.changed == [] and report.to_dict()["modelName"] == "model-sig"

    (out / "weights.npz").write_bytes(b"tampered")
    (out / "extra.txt").write_text("x")
    with pytest.raises(modelark.VerificationFailed) as failed:
        client.verify_dir(out, keys=keys.public)
    assert failed.value.report.changed == ["weights.npz"] and failed.value.report.extra == ["extra.txt"]
    assert any("changed: weights.npz" in u for u in failed.value.unmet)
    with pytest.raises(modelark.UsageError):
        client.pull(ref, model_sig=True)


def test_attest_approve_reject_versions_promote_rollback_history(client: modelark.Client, model: Path, registry: Registry, keys: modelark.KeyPair, tmp_path: Path) -> None:
    repo = f"{registry.host}/py/governed"
    first = client.push(model, f"{repo}:1.0.0")
    (model / "extra.txt").write_text("v2")
    second = client.push(model, f"{repo}:1.1.0", version="1.1.0")
    for ref in (f"{repo}:1.0.0", f"{repo}:1.1.0"):
        client.sign(ref, key=keys.private, password="")
    attested = client.attest(f"{repo}:1.0.0", key=keys.private, type="https://modelark.dev/evaluation/v1", predicate={"accuracy": 0.9}, password="")
    assert attested.digest == first.digest
    statements = client.verify_attestation(f"{repo}:1.0.0", keys=keys.public, type="https://modelark.dev/evaluation/v1")
    assert statements[0].statement["predicate"] == {"accuracy": 0.9}

    policy = tmp_path / "deploy.yaml"
    policy.write_text(
        f"keys: {{release: {keys.public}}}\n"
        "rules:\n"
        "  - scope: \"**\"\n"
        "    signatures: {signers: [release]}\n"
        "    aliases:\n"
        "      production:\n"
        "        attestations:\n"
        "          - {type: approval, signers: [release], where: {environment: production, decision: approved}}\n"
    )
    # No approval yet: governance refuses to move the alias.
    with pytest.raises(modelark.RefusedByGovernance) as refused:
        client.promote(f"{repo}:1.0.0", "production", key=keys.private, password="", policy=policy)
    assert "production" in str(refused.value)

    client.approve(f"{repo}:1.0.0", environment="production", key=keys.private, password="", reason="eval ok", approver="alice")
    client.approve(f"{repo}:1.1.0", environment="production", key=keys.private, password="", approver="alice")
    moved = client.promote(f"{repo}:1.0.0", "production", key=keys.private, password="", policy=policy, reason="first", by="alice")
    assert (moved.alias, moved.version, moved.to, moved.previous) == ("production", "1.0.0", first.digest, None)
    moved = client.promote(f"{repo}:1.1.0", "production", key=keys.private, password="", policy=policy, by="alice")
    assert moved.previous == first.digest and moved["from"] == first.digest

    versions = client.versions(repo, keys=keys.public)
    assert [v.tag for v in versions.versions] == ["1.0.0", "1.1.0"]
    assert versions.aliases["production"] == second.digest
    assert versions.versions[1].aliases == ["production"]

    back = client.rollback(repo, "production", key=keys.private, password="", policy=policy, by="alice")
    assert back.to == first.digest

    rejected = client.reject(f"{repo}:1.1.0", environment="production", key=keys.private, password="", reason="regression")
    assert rejected.digest == second.digest
    strict = _strict(tmp_path, keys)
    assert client.verify(f"{repo}:1.0.0", policy=strict).verified
    with pytest.raises(modelark.VerificationFailed) as failed:
        client.verify(f"{repo}:1.1.0", policy=strict)
    assert failed.value.unmet and "approval" in failed.value.unmet[0]
    assert failed.value.report is not None and not failed.value.report.verified
    assert failed.value.digest == second.digest
    # An alias reference (REPO@ALIAS) pulls what the alias names, under the policy.
    pulled = client.pull(f"{repo}@production", dest=tmp_path / "prod", policy=policy)
    assert pulled.digest == first.digest

    events = client.history(repo, keys=keys.public)
    kinds = {e.kind for e in events}
    assert {"promote", "rollback"} <= kinds, kinds
    assert all(isinstance(e.verified, bool) for e in events)
    assert client.history(repo, keys=keys.public, alias="production")


def _strict(tmp_path: Path, keys: modelark.KeyPair) -> Path:
    """A policy that needs a production approval for every version (1.1.0 was rejected)."""
    path = tmp_path / "strict.yaml"
    path.write_text(
        f"keys: {{release: {keys.public}}}\n"
        "rules:\n"
        "  - scope: \"**\"\n"
        "    attestations:\n"
        "      - {type: approval, signers: [release], where: {environment: production, decision: approved}}\n"
    )
    return path


def test_lineage_search_diff_export_import(client: modelark.Client, model: Path, registry: Registry, tmp_path: Path) -> None:
    parent = client.push(model, f"{registry.host}/py/base:1.0.0")
    (model / "extra.txt").write_text("fine-tuned")
    child = client.push(model, f"{registry.host}/py/tuned:1.0.0", name="tuned", parent=f"{registry.host}/py/base:1.0.0@{parent.digest}", metrics={"accuracy": 0.95})
    graph = client.lineage(f"{registry.host}/py/tuned:1.0.0")
    assert any(e.relation == "parent" for e in graph.edges)
    assert any(n.digest == parent.digest for n in graph.nodes if n.kind == "model")

    hits = client.search(f"{registry.host}/py", ["metrics.accuracy>=0.9", "framework=numpy"])
    assert [(h.repository, h.tag) for h in hits] == [(f"{registry.host}/py/tuned", "1.0.0")]
    assert client.search(f"{registry.host}/py", "name=tuned", text="tuned")[0].digest == child.digest

    diff = client.diff(f"{registry.host}/py/base:1.0.0", f"{registry.host}/py/tuned:1.0.0")
    assert diff.unchanged >= 5 and any(f["path"] == "extra.txt" for f in diff.to_dict()["files"])

    client.pack(model, "tuned:1.0.0")
    exported = client.export("tuned:1.0.0", tmp_path / "tuned.tar")
    assert (tmp_path / "tuned.tar").stat().st_size > 0 and exported.to_dict()
    other = modelark.Client(home=tmp_path / "other-home")
    imported = other.import_archive(tmp_path / "tuned.tar")
    assert [i.reference for i in imported] == ["tuned:1.0.0"]
    assert other.inspect("tuned:1.0.0").digest == client.inspect("tuned:1.0.0").digest


def test_every_exception_class_from_a_real_failure(client: modelark.Client, model: Path, registry: Registry, auth_registry: Registry, keys: modelark.KeyPair, tmp_path: Path) -> None:
    with pytest.raises(modelark.NotFound) as missing:
        client.inspect(f"{registry.host}/py/nothing:1.0.0")
    assert str(missing.value).startswith(f"failed to read {registry.host}/py/nothing:1.0.0")
    assert "caused by:" in str(missing.value)

    with pytest.raises(modelark.UsageError) as usage:
        client.inspect("Not-A-Reference:1")
    assert "lowercase" in str(usage.value)
    assert isinstance(usage.value, ValueError)
    with pytest.raises(modelark.UsageError):
        client.pack(model, "x:1", colour="blue")
    with pytest.raises(modelark.UsageError):
        client.pull(f"{registry.host}/py/x:1", policy="a.yaml", keys=keys.public)
    with pytest.raises(modelark.UsageError) as keyword:
        client.approve(f"{registry.host}/py/x:1", environment="prod", key=keys.private, colour="blue")  # type: ignore[call-arg]
    assert "colour" in str(keyword.value)

    # A model signed by no trusted key: nothing is written.
    ref = f"{registry.host}/py/unsigned:1.0.0"
    client.push(model, ref)
    out = tmp_path / "refused"
    with pytest.raises(modelark.VerificationFailed) as failed:
        client.pull(ref, dest=out, keys=keys.public)
    assert len(failed.value.unmet) == 1 and "the model has no signatures" in failed.value.unmet[0]
    assert "failed verification" in str(failed.value)
    assert not out.exists()
    assert not list((Path(client.home) / "store").rglob("*.npz"))

    # Versions are immutable: other content under a released version is refused.
    (model / "extra.txt").write_text("different")
    with pytest.raises(modelark.RefusedByGovernance):
        client.push(model, ref)

    # Credentials: none for the auth registry.
    with pytest.raises(modelark.AuthenticationError) as auth:
        client.push(model, f"{auth_registry.host}/py/x:1.0.0")
    assert isinstance(auth.value, modelark.RegistryError) and auth.value.status == 401

    # A corrupt blob in the registry: the digest check fails the pull.
    # (Its own blob: the registry shares blobs between repositories.)
    corrupt = f"{registry.host}/py/corrupt:1.0.0"
    (model / "unique.bin").write_bytes(os.urandom(4096))
    client.push(model, corrupt)
    weights = next(f for f in client.inspect(corrupt).files if f.path == "unique.bin")
    data = registry.blob_data(weights.digest)
    data.write_bytes(b"\0" * data.stat().st_size)
    with pytest.raises(modelark.VerificationFailed) as corrupted:
        modelark.Client(home=tmp_path / "fresh", plain_http=True).pull(corrupt, dest=tmp_path / "c")
    assert weights.digest in str(corrupted.value) or "verification" in str(corrupted.value)
    assert not (tmp_path / "c").exists()

    # The registry refuses deletes: a RegistryError with the registry's answer.
    no_delete = Registry(tmp_path / "no-delete", delete=False)
    try:
        client.push(model, f"{no_delete.host}/py/keep:1.0.0")
        with pytest.raises(modelark.RegistryError) as refused:
            client.rm(f"{no_delete.host}/py/keep:1.0.0")
        assert "delete" in str(refused.value)
    finally:
        no_delete.stop()

    assert issubclass(modelark.NotFound, modelark.Error)
    for cls in (modelark.VerificationFailed, modelark.RefusedByGovernance, modelark.RegistryError, modelark.AuthenticationError, modelark.UsageError):
        assert issubclass(cls, modelark.Error)


def test_credentials_come_from_the_docker_config(model: Path, auth_registry: Registry, tmp_path: Path) -> None:
    import base64

    docker = tmp_path / "docker-auth"
    docker.mkdir()
    token = base64.b64encode(b"alice:s3cret").decode()
    (docker / "config.json").write_text(json.dumps({"auths": {auth_registry.host: {"auth": token}}}))
    client = modelark.Client(home=tmp_path / "h", plain_http=True, docker_config=docker)
    pushed = client.push(model, f"{auth_registry.host}/py/authed:1.0.0")
    assert client.inspect(f"{auth_registry.host}/py/authed:1.0.0").digest == pushed.digest


def test_offline_reads_the_local_copy(client: modelark.Client, model: Path, registry: Registry, tmp_path: Path) -> None:
    ref = f"{registry.host}/py/offline:1.0.0"
    pushed = client.push(model, ref)
    client.pull(ref)
    offline = modelark.Client(home=client.home, offline=True)
    assert offline.offline
    assert offline.inspect(ref).digest == pushed.digest
    with pytest.raises(modelark.UsageError) as usage:
        offline.push(model, ref)
    assert "offline" in str(usage.value)


def test_progress_reaches_a_callback_and_tqdm(client: modelark.Client, registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    big = tmp_path / "big"
    big.mkdir()
    (big / "weights.bin").write_bytes(os.urandom(8 << 20))
    seen: list[modelark.Progress] = []
    pushed = client.push(big, f"{registry.host}/py/big:1.0.0", progress=seen.append)
    assert seen and seen[-1].finished and seen[-1].done >= 8 << 20
    assert all(a.done <= b.done for a, b in zip(seen, seen[1:]))
    pulled = modelark.Client(home=tmp_path / "h2", plain_http=True, progress=True).pull(pushed.reference, dest=tmp_path / "o")
    assert pulled.digest == pushed.digest
    bars = capsys.readouterr().err
    assert "100%" in bars and "8.00M" in bars, bars


def test_transfers_release_the_gil(client: modelark.Client, registry: Registry, tmp_path: Path) -> None:
    big = tmp_path / "gil"
    big.mkdir()
    (big / "weights.bin").write_bytes(os.urandom(64 << 20))
    ref = client.push(big, f"{registry.host}/py/gil:1.0.0").reference
    other = modelark.Client(home=tmp_path / "h3", plain_http=True)
    thread = threading.Thread(target=other.pull, args=(ref,), kwargs={"dest": tmp_path / "g"})
    counted = 0
    thread.start()
    while thread.is_alive():
        counted += 1
    thread.join()
    assert (tmp_path / "g" / "weights.bin").stat().st_size == 64 << 20
    # Holding the GIL for the pull would have stopped this loop until it ended.
    assert counted > 1000, counted


def test_fetch_caches_by_digest_read_only(model: Path, tmp_path: Path, keys: modelark.KeyPair) -> None:
    registry = Registry(tmp_path / "fetch-registry")
    client = modelark.Client(home=tmp_path / "home", plain_http=True)
    try:
        ref = f"{registry.host}/py/fetch:1.0.0"
        pushed = client.push(model, ref)
        client.sign(ref, key=keys.private, password="")
        path = client.fetch(ref, keys=keys.public)
        assert Path(path).name == pushed.digest.split(":")[1]
        assert (Path(path) / "weights.npz").read_bytes() == (model / "weights.npz").read_bytes()
        assert not (Path(path) / "weights.npz").stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
        assert not Path(path).stat().st_mode & stat.S_IWUSR
        again = client.fetch_info(ref, keys=keys.public)
        assert again.cached and again.path == path
        # Pinned by digest, a cached model needs no registry at all.
        registry.stop()
        pinned = f"{registry.host}/py/fetch@{pushed.digest}"
        assert client.fetch(pinned, keys=keys.public) == path
        # ... and is still verified: an untrusted key refuses it.
        stranger = client.generate_key_pair(str(tmp_path / "stranger"), "")
        with pytest.raises(modelark.VerificationFailed):
            client.fetch(pinned, keys=stranger.public)
        # The module-level shortcut uses $MODELARK_HOME.
        os.environ["MODELARK_HOME"] = client.home
        assert modelark.fetch(pinned, keys=keys.public) == path
    finally:
        registry.stop()
        shutil.rmtree(tmp_path / "home" / "fetched", onerror=lambda f, p, e: (os.chmod(os.path.dirname(p), 0o755), f(p)))


def test_module_shortcuts_and_key_files(model: Path, registry: Registry, tmp_path: Path) -> None:
    packed = modelark.pack(model, "short:1.0.0")
    assert modelark.inspect("short:1.0.0").digest == packed.digest
    pair = modelark.Client().generate_key_pair(str(tmp_path / "enc"), "pw")
    with pytest.raises(modelark.Error) as wrong:
        modelark.sign("short:1.0.0", key=pair.private, password="nope")
    assert "password" in str(wrong.value)
    os.environ["COSIGN_PASSWORD"] = "pw"
    try:
        assert modelark.sign("short:1.0.0", key=pair.private).digest == packed.digest
    finally:
        del os.environ["COSIGN_PASSWORD"]
    assert modelark.verify("short:1.0.0", keys=pair.public).verified
    with pytest.raises(modelark.UsageError):
        modelark.Client().generate_key_pair(str(tmp_path / "enc"), "pw")


def test_list_a_registry_catalog_and_a_repository(client: modelark.Client, model: Path, registry: Registry) -> None:
    client.push(model, f"{registry.host}/catalog/a:1.0.0")
    client.push(model, f"{registry.host}/catalog/b:1.0.0")
    repositories = client.list(f"{registry.host}/catalog/")
    assert [r.repository for r in repositories] == ["catalog/a", "catalog/b"]  # type: ignore[union-attr]
    tags = client.list(f"{registry.host}/catalog/a")
    assert [(t.tag, t.version) for t in tags] == [("1.0.0", "1.0.0")]  # type: ignore[union-attr]
