"""Hugging Face: a model card's front matter fills the metadata (the mapping table), flags and
modelark.yaml take precedence, malformed front matter is a warning, and hf:ORG/NAME packs
from a Hub cache that huggingface_hub itself recognises.

The model is a real one shipped on PyPI: silero-vad 6.2.3 (MIT), whose wheel carries its
weights (safetensors, ONNX, TorchScript) in silero_vad/data. The model cards are written by
huggingface_hub's own ModelCard API, from its template."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
from huggingface_hub import EvalResult, ModelCard, ModelCardData, scan_cache_dir

import modelark

COMMIT = "3bc3f7d46d1f1c4e0f8b6bd8e6c6a5f7b2a1d0c9"


def silero_vad() -> Path:
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("silero-vad is not installed: the suite installs silero-vad==6.2.3 (scripts/python-test.sh)")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


@pytest.fixture
def vad(tmp_path: Path) -> Path:
    dest = tmp_path / "silero-vad"
    shutil.copytree(silero_vad(), dest, ignore=shutil.ignore_patterns("__init__.py", "__pycache__"))
    return dest


def card(**fields: Any) -> str:
    return str(ModelCard.from_template(ModelCardData(**fields)))


CASES: list[tuple[dict[str, Any], Callable[[modelark.Metadata], Any], Any]] = [
    ({"license": "mit"}, lambda m: m.licenses, ["MIT"]),
    ({"license": "apache-2.0"}, lambda m: m.licenses, ["Apache-2.0"]),
    ({"license": "cc-by-nc-4.0"}, lambda m: m.licenses, ["CC-BY-NC-4.0"]),
    ({"license": "other", "license_name": "silero-license"}, lambda m: m.licenses, ["LicenseRef-silero-license"]),
    ({"library_name": "onnx"}, lambda m: m.framework, "onnx"),
    ({"pipeline_tag": "voice-activity-detection"}, lambda m: m.task, "voice-activity-detection"),
    ({"tags": ["audio", "vad"]}, lambda m: m.tags, ["audio", "vad"]),
    ({"language": ["en", "de", "multilingual"]}, lambda m: m.to_dict()["capabilities"]["languages"], ["en", "de"]),
    ({"datasets": ["google/fleurs"]}, lambda m: [d.uri for d in m.lineage.datasets], ["hf://datasets/google/fleurs"]),
    (
        {"base_model": "snakers4/silero-vad", "base_model_relation": "quantized"},
        lambda m: [(b.uri, b.relation) for b in m.lineage.base_models],
        [("hf://snakers4/silero-vad", "quantized")],
    ),
    (
        {
            "model_name": "silero-vad",
            "eval_results": [
                EvalResult(task_type="voice-activity-detection", dataset_type="ava", dataset_name="AVA", metric_type="roc_auc", metric_value=0.91),
                EvalResult(task_type="voice-activity-detection", dataset_type="libriparty", dataset_name="LibriParty", metric_type="roc_auc", metric_value=0.95),
            ],
        },
        lambda m: m.metrics,
        {"roc_auc": 0.91, "roc_auc.libriparty": 0.95},
    ),
]


@pytest.mark.parametrize("fields,read,expected", CASES, ids=[",".join(c[0]) for c in CASES])
def test_model_card_fields_map_to_metadata(fields: dict[str, Any], read: Callable[[modelark.Metadata], Any], expected: Any, vad: Path, tmp_path: Path) -> None:
    (vad / "README.md").write_text(card(**fields))
    client = modelark.Client(home=tmp_path / "home")
    client.pack(vad, "vad:6.2.3")
    assert read(client.inspect("vad:6.2.3").metadata) == expected


def test_flags_over_modelark_yaml_over_the_card(vad: Path, tmp_path: Path) -> None:
    (vad / "README.md").write_text(card(license="mit", library_name="onnx", pipeline_tag="voice-activity-detection", tags=["audio"]))
    (vad / "modelark.yaml").write_text("framework: pytorch\ntags: [speech]\n")
    client = modelark.Client(home=tmp_path / "home")
    client.pack(vad, "vad:1.0.0", task="vad")
    m = client.inspect("vad:1.0.0").metadata
    assert (m.framework, m.task, m.tags, m.licenses) == ("pytorch", "vad", ["speech"], ["MIT"])
    env = dict(os.environ, MODELARK_HOME=client.home)
    shown = subprocess.run([str(Path(sys.executable).with_name("modelark")), "inspect", "vad:1.0.0"], capture_output=True, text=True, env=env)
    assert shown.returncode == 0 and "MIT" in shown.stdout, shown.stdout + shown.stderr


def test_malformed_front_matter_warns_naming_the_line(vad: Path, tmp_path: Path) -> None:
    (vad / "README.md").write_text("---\nlicense: mit\ntags: [audio, vad\npipeline_tag: x\n---\n# silero\n")
    client = modelark.Client(home=tmp_path / "home")
    with pytest.warns(modelark.MetadataWarning, match=r"README\.md line [345]: the front matter is not valid YAML"):
        packed = client.pack(vad, "vad:1.0.0")
    assert packed.warnings and client.inspect("vad:1.0.0").metadata.licenses == []
    # The CLI says the same on stderr and still packs.
    env = dict(os.environ, MODELARK_HOME=client.home)
    run = subprocess.run([str(Path(sys.executable).with_name("modelark")), "pack", str(vad), "-t", "vad:1.0.1"], capture_output=True, text=True, env=env)
    assert run.returncode == 0 and "README.md line" in run.stderr, run.stderr


def hub_cache(root: Path, files: Path) -> Path:
    """The Hub's cache layout for snakers4/silero-vad at COMMIT: blobs named by content
    hash, snapshot files as relative symlinks into blobs/, refs/main naming the commit."""
    repo = root / "models--snakers4--silero-vad"
    (repo / "blobs").mkdir(parents=True)
    (repo / "refs").mkdir()
    snapshot = repo / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    for path in sorted(files.rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        blob = hashlib.sha256(data).hexdigest()
        (repo / "blobs" / blob).write_bytes(data)
        link = snapshot / path.relative_to(files)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(repo / "blobs" / blob, link.parent))
    return repo


def test_hf_reference_packs_from_the_hub_cache(vad: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registry: Any) -> None:
    (vad / "README.md").write_text(card(license="mit", pipeline_tag="voice-activity-detection", library_name="onnx"))
    hub = tmp_path / "hub"
    hub_cache(hub, vad)
    scanned = scan_cache_dir(hub)
    assert [(r.repo_id, r.repo_type) for r in scanned.repos] == [("snakers4/silero-vad", "model")]
    assert [rev.commit_hash for rev in next(iter(scanned.repos)).revisions] == [COMMIT]
    assert not scanned.warnings

    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    client = modelark.Client(home=tmp_path / "home", plain_http=True)
    for spec in ("hf:snakers4/silero-vad", "hf:snakers4/silero-vad@main", f"hf:snakers4/silero-vad@{COMMIT}"):
        packed = client.pack(spec, "vad:6.2.3")
    info = client.inspect("vad:6.2.3")
    assert info.metadata.lineage.source.repo == "hf://snakers4/silero-vad"
    assert info.metadata.lineage.source.revision == COMMIT
    assert (info.metadata.task, info.metadata.licenses) == ("voice-activity-detection", ["MIT"])
    on_disk = {str(p.relative_to(vad)): p.stat().st_size for p in vad.rglob("*") if p.is_file()}
    assert {f.path: f.size for f in info.files} == on_disk
    # The same bytes as packing the directory itself, apart from the recorded source.
    assert client.pack(vad, "plain:6.2.3").files == packed.files

    pushed = client.push("hf:snakers4/silero-vad", f"{registry.host}/py/silero-vad:6.2.3")
    assert client.inspect(f"{registry.host}/py/silero-vad:6.2.3").metadata.lineage.source.repo == "hf://snakers4/silero-vad"
    # Pushed straight from the cache, it is the model pack makes under the same name.
    assert pushed.digest == client.pack("hf:snakers4/silero-vad", "silero-vad:6.2.3").digest

    with pytest.raises(modelark.NotFound) as missing:
        client.pack("hf:snakers4/other-model", "x:1.0.0")
    assert "not in the Hugging Face cache" in str(missing.value)
    with pytest.raises(modelark.NotFound):
        client.pack("hf:snakers4/silero-vad@v9", "x:1.0.0")


def test_hf_links_are_followed_only_inside_the_repository(vad: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hub = tmp_path / "hub"
    repo = hub_cache(hub, vad)
    secret = tmp_path / "secret.txt"
    secret.write_text("not part of the model")
    (repo / "snapshots" / COMMIT / "leak.txt").symlink_to(secret)
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    client = modelark.Client(home=tmp_path / "home")
    with pytest.raises(modelark.Error) as refused:
        client.pack("hf:snakers4/silero-vad", "vad:1.0.0")
    assert "leak.txt" in str(refused.value)
    assert not client.list()


def test_card_lineage_is_searchable_and_in_the_graph(vad: Path, tmp_path: Path) -> None:
    (vad / "README.md").write_text(card(language=["en"], base_model="snakers4/silero-vad", base_model_relation="finetune", datasets=["google/fleurs"]))
    client = modelark.Client(home=tmp_path / "home")
    layout = f"oci:{tmp_path / 'layout'}"
    client.pack(vad, f"{layout}:1.0.0")
    hits = client.search(layout, ["lineage.baseModels=hf://snakers4/silero-vad", "languages=en"])
    assert [h.tag for h in hits] == ["1.0.0"]
    assert not client.search(layout, "lineage.baseModels=hf://other/model")
    graph = client.lineage(f"{layout}:1.0.0")
    base = next(n for n in graph.nodes if n.kind == "base-model")
    assert (base.id, base.detail, base.state) == ("hf://snakers4/silero-vad", "finetune", "recorded")
    assert any(e.relation == "dataset" and e.to == "hf://datasets/google/fleurs" for e in graph.edges)


def test_fetched_models_load_with_their_own_libraries(vad: Path, tmp_path: Path, registry: Any) -> None:
    """What fetch returns is a plain, read-only model directory: transformers reads a config
    from it and safetensors the weights, as from_pretrained(path) would."""
    import json

    import numpy
    from safetensors.numpy import load_file
    from transformers import AutoConfig

    (vad / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 128}))
    client = modelark.Client(home=tmp_path / "home", plain_http=True)
    ref = f"{registry.host}/py/silero-fetch:6.2.3"
    client.push(vad, ref)
    path = client.fetch(ref)
    config = AutoConfig.from_pretrained(path)
    assert (config.model_type, config.hidden_size) == ("bert", 64)
    tensors = load_file(str(Path(path) / "silero_vad_16k.safetensors"))
    original = load_file(str(silero_vad() / "silero_vad_16k.safetensors"))
    assert tensors.keys() == original.keys() and tensors
    assert all(numpy.array_equal(tensors[k], original[k]) for k in tensors)
