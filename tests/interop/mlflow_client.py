"""The real MLflow client (PyPI mlflow-skinny) against `modelark serve`, unchanged MLflow
code as a user writes it. Run by tests/it/mlflow.rs, which starts the registry and the
service, pushes the models and passes what it made in the environment:

  MODELARK_URL     the service, e.g. http://127.0.0.1:PORT
  SAMPLE_DIR       the model directory that was pushed (files to compare downloads with)
  CORRUPT_BLOB     a blob file in registry storage this script corrupts at the end
  EXPECT_DIGEST    the manifest digest of tiny:1.0.0

Every check raises on failure; the last line printed is "ok".
"""

import hashlib
import os
import pathlib
import sys
import tempfile
import warnings

import mlflow
import requests
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

# Stages are deprecated in MLflow; existing code still calls get_latest_versions.
warnings.simplefilter("ignore", FutureWarning)

URL = os.environ["MODELARK_URL"]
SAMPLE = pathlib.Path(os.environ["SAMPLE_DIR"])


def as_user(token):
    """MLflow reads MLFLOW_TRACKING_TOKEN on every request."""
    if token is None:
        os.environ.pop("MLFLOW_TRACKING_TOKEN", None)
    else:
        os.environ["MLFLOW_TRACKING_TOKEN"] = token


def refused(call, code, contains=""):
    """`call` raises MlflowException with `code` (and `contains` in its message)."""
    try:
        call()
    except MlflowException as e:
        assert e.error_code == code, f"expected {code}, got {e.error_code}: {e.message}"
        assert contains in e.message, f"{contains!r} not in {e.message!r}"
        return e
    raise AssertionError(f"expected {code}, the call passed")


def sha(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def same_files(directory):
    got = {p.relative_to(directory).as_posix(): sha(p) for p in pathlib.Path(directory).rglob("*") if p.is_file()}
    want = {p.relative_to(SAMPLE).as_posix(): sha(p) for p in SAMPLE.rglob("*") if p.is_file()}
    assert got == want, f"downloaded {sorted(got)} differ from {sorted(want)}"


mlflow.set_tracking_uri(URL)
mlflow.set_registry_uri(URL)
client = MlflowClient(tracking_uri=URL, registry_uri=URL)
as_user(None)

# Registered models: search, filters, order, pages.
names = [m.name for m in client.search_registered_models()]
assert names == ["other-a", "other-b", "tiny"], names
first = client.search_registered_models(max_results=2)
assert [m.name for m in first] == ["other-a", "other-b"] and first.token, first
second = client.search_registered_models(max_results=2, page_token=first.token)
assert [m.name for m in second] == ["tiny"] and not second.token, second
for expression, expected in [
    ("name = 'tiny'", ["tiny"]),
    ("name != 'tiny'", ["other-a", "other-b"]),
    ("name LIKE 'other%'", ["other-a", "other-b"]),
    ("name LIKE 'OTHER%'", []),
    ("name ILIKE 'OTHER-_'", ["other-a", "other-b"]),
    ("tags.framework = 'numpy' AND name LIKE '%i%'", ["tiny"]),
    ("tags.`modelark.repository` LIKE '%/ml/other-b'", ["other-b"]),
]:
    got = [m.name for m in client.search_registered_models(filter_string=expression)]
    assert got == expected, (expression, got)
ordered = [m.name for m in client.search_registered_models(order_by=["name DESC"])]
assert ordered == ["tiny", "other-b", "other-a"], ordered
refused(lambda: client.search_registered_models(filter_string="name = tiny"), "INVALID_PARAMETER_VALUE", "quoted")

model = client.get_registered_model("tiny")
assert model.description.startswith("A deliberately tiny"), model.description
assert [v.version for v in model.latest_versions] == ["1001000"], model.latest_versions
assert model.tags["framework"] == "numpy" and model.tags["task"] == "text-classification", model.tags
assert model.aliases == {}, model.aliases
assert [v.version for v in client.get_latest_versions("tiny")] == ["1001000"]
assert client.get_latest_versions("tiny", stages=["Production"]) == []

# Model versions.
versions = client.search_model_versions("name = 'tiny'")
assert sorted(v.version for v in versions) == ["1000000", "1001000"], versions
for expression, expected in [
    ("name = 'tiny' AND version_number = 1000000", ["1000000"]),
    ("name = 'tiny' AND version_number > 1000000", ["1001000"]),
    ("run_id = '42' AND name = 'tiny'", ["1001000", "1000000"]),
    ("tags.`modelark.tag` = '1.1.0'", ["1001000"]),
    ("source_path LIKE '%/ml/tiny@sha256:%' AND tags.`modelark.tag` = '1.0.0'", ["1000000"]),
]:
    got = [v.version for v in client.search_model_versions(expression)]
    assert got == expected, (expression, got)
paged = client.search_model_versions("name = 'tiny'", max_results=1)
assert len(paged) == 1 and paged.token, paged
rest = client.search_model_versions("name = 'tiny'", max_results=1, page_token=paged.token)
assert len(rest) == 1 and rest[0].version != paged[0].version

version = client.get_model_version("tiny", "1000000")
assert version.source.endswith("/ml/tiny@" + os.environ["EXPECT_DIGEST"]), version.source
assert version.run_id == "42", version.run_id
assert version.current_stage == "None" and version.status == "READY"
assert version.tags["modelark.tag"] == "1.0.0" and version.tags["metrics.accuracy"] == "0.875", version.tags
uri = client.get_model_version_download_uri("tiny", "1000000")
assert uri == f"{URL}/api/2.0/mlflow-artifacts/artifacts/models/tiny/{os.environ['EXPECT_DIGEST']}", uri

# The ajax twin the MLflow web UI calls.
twin = requests.get(f"{URL}/ajax-api/2.0/mlflow/registered-models/get", params={"name": "tiny"}, timeout=30)
assert twin.status_code == 200 and twin.json()["registered_model"]["name"] == "tiny", twin.text

# Not found, not allowed, not honoured.
refused(lambda: client.get_registered_model("nope"), "RESOURCE_DOES_NOT_EXIST", "nope")
refused(lambda: client.get_model_version("tiny", "9"), "RESOURCE_DOES_NOT_EXIST")
refused(lambda: client.get_model_version_by_alias("tiny", "production"), "RESOURCE_DOES_NOT_EXIST", "production")
refused(lambda: client.set_registered_model_alias("tiny", "production", "1000000"), "UNAUTHENTICATED")
as_user("ci-token")
refused(lambda: client.set_registered_model_alias("tiny", "production", "1000000"), "PERMISSION_DENIED", "promote")
as_user("wrong-token")
refused(lambda: client.search_registered_models(), "UNAUTHENTICATED")
as_user("alice-token")
for call, contains in [
    (lambda: client.create_registered_model("new"), "modelark push"),
    (lambda: client.create_model_version("tiny", "s3://bucket/model"), "modelark push"),
    (lambda: client.rename_registered_model("tiny", "renamed"), "cannot be renamed"),
    (lambda: client.update_model_version("tiny", "1000000", description="x"), "immutable"),
    (lambda: client.delete_model_version("tiny", "1000000"), "immutable"),
    (lambda: client.delete_registered_model("tiny"), "immutable"),
    (lambda: client.transition_model_version_stage("tiny", "1000000", "Production"), "alias"),
    (lambda: client.set_model_version_tag("tiny", "1000000", "k", "v"), "read-only"),
    (lambda: client.set_registered_model_tag("tiny", "k", "v"), "read-only"),
]:
    refused(call, "INVALID_STATE", contains)

# Promotion: the policy asks for a production approval first.
unmet = refused(lambda: client.set_registered_model_alias("tiny", "production", "1000000"), "INVALID_STATE")
assert "approval" in unmet.message, unmet.message
approvals = f"{URL}/api/v1/models/{version.source.split('@')[0]}/versions/1.0.0/approvals"
answer = requests.post(
    approvals,
    json={"environment": "production", "decision": "approve", "reason": "eval-7"},
    headers={"Authorization": "Bearer alice-token"},
    timeout=60,
)
assert answer.status_code == 201, answer.text
client.set_registered_model_alias("tiny", "production", "1000000")
by_alias = client.get_model_version_by_alias("tiny", "production")
assert by_alias.version == "1000000" and by_alias.aliases == ["production"], by_alias
assert client.get_registered_model("tiny").aliases == {"production": "1000000"}
history = requests.get(f"{URL}/api/v1/models/{version.source.split('@')[0]}/history", timeout=60).json()
assert any(
    e["kind"] == "promote" and e.get("alias") == "production" and "by alice" in e["detail"] and e["verified"]
    for e in history
), history
refused(lambda: client.delete_registered_model_alias("tiny", "production"), "INVALID_STATE", "signed record")
# MLflow's client refuses such an alias itself; the server does too, for other clients.
raw = requests.post(
    f"{URL}/api/2.0/mlflow/registered-models/alias",
    json={"name": "tiny", "alias": "1.0.0", "version": "1000000"},
    headers={"Authorization": "Bearer alice-token"},
    timeout=60,
)
assert raw.status_code == 400 and raw.json()["error_code"] == "INVALID_PARAMETER_VALUE", raw.text
assert "version tags never move" in raw.json()["message"], raw.text

# Downloads: models:/NAME@ALIAS and models:/NAME/N, verified while streamed.
as_user(None)
with tempfile.TemporaryDirectory() as out:
    same_files(mlflow.artifacts.download_artifacts("models:/tiny@production", dst_path=out))
with tempfile.TemporaryDirectory() as out:
    same_files(mlflow.artifacts.download_artifacts("models:/tiny/1001000", dst_path=out))
with tempfile.TemporaryDirectory() as out:
    one = mlflow.artifacts.download_artifacts("models:/tiny/latest/config.json", dst_path=out)
    assert sha(one) == sha(SAMPLE / "config.json")

# A blob corrupted in registry storage: the download fails, never hands over the bytes.
blob = pathlib.Path(os.environ["CORRUPT_BLOB"])
data = bytearray(blob.read_bytes())
data[0] ^= 0xFF
blob.write_bytes(bytes(data))
with tempfile.TemporaryDirectory() as out:
    try:
        path = mlflow.artifacts.download_artifacts("models:/tiny/1000000", dst_path=out)
    except MlflowException as e:  # MLflow wraps what requests raised mid-body
        assert "downloading" in e.message, e.message
        print(f"corrupt blob refused: {e.message}", file=sys.stderr)
    else:
        raise AssertionError(f"a corrupt blob was downloaded to {path}")
    # What reached the disk is never the whole (wrong) file: the last bytes were held back.
    for partial in pathlib.Path(out).rglob("weights.npz"):
        assert partial.stat().st_size < len(data), "the corrupt file arrived whole"
print("ok")
