"""The MLflow halves of `make bench-mlflow` (run with the .venv python):

  bench_mlflow.py populate URL REPOS VERSIONS HOST   registers REPOS models x VERSIONS
      versions in an MLflow server (source: the OCI reference modelark holds), aliasing
      version 6 of each as production, as the modelark side is populated.
  bench_mlflow.py client URL REPOS ITERATIONS VERSION   the MLflow client workload, one
      client in a loop: search_registered_models, get_model_version_by_alias,
      get_model_version_download_uri; prints p50/p99 per call and calls/s.
"""

import sys
import time
import warnings

warnings.simplefilter("ignore")
import logging  # noqa: E402

from mlflow import MlflowClient  # noqa: E402

logging.getLogger("mlflow").setLevel(logging.WARNING)


def populate(url, repos, versions, host):
    client = MlflowClient(tracking_uri=url, registry_uri=url)
    started = time.time()
    for r in range(repos):
        name = f"m{r}"
        client.create_registered_model(name, tags={"framework": "pytorch" if r % 2 == 0 else "onnx"})
        for v in range(versions):
            client.create_model_version(
                name,
                source=f"oci://{host}/zoo/{name}:1.0.{v}",
                tags={"task": "text-classification", "modelark.tag": f"1.0.{v}"},
            )
        client.set_registered_model_alias(name, "production", "6")
    print(f"registered {repos * versions} versions in {repos} models in {time.time() - started:.1f} s")


def client_workload(url, repos, iterations, version):
    client = MlflowClient(tracking_uri=url, registry_uri=url)
    timings = {"search_registered_models": [], "get_model_version_by_alias": [], "get_model_version_download_uri": []}
    started = time.time()
    for i in range(iterations):
        name = f"m{i % repos}"
        t = time.perf_counter()
        found = client.search_registered_models(filter_string=f"name LIKE '{name}%'", max_results=100)
        timings["search_registered_models"].append(time.perf_counter() - t)
        assert found, name
        t = time.perf_counter()
        client.get_model_version_by_alias(name, "production")
        timings["get_model_version_by_alias"].append(time.perf_counter() - t)
        t = time.perf_counter()
        client.get_model_version_download_uri(name, version)
        timings["get_model_version_download_uri"].append(time.perf_counter() - t)
    elapsed = time.time() - started
    for call, values in timings.items():
        values.sort()
        p = lambda q: values[min(len(values) - 1, int(len(values) * q))] * 1000  # noqa: E731
        print(f"  {call:<32} p50 {p(0.5):7.2f} ms  p99 {p(0.99):7.2f} ms")
    print(f"  {'client workload':<32} {3 * iterations / elapsed:7.0f} calls/s (one client)")


if __name__ == "__main__":
    command, url = sys.argv[1], sys.argv[2]
    if command == "populate":
        populate(url, int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    else:
        client_workload(url, int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
