#!/usr/bin/env bash
# make bench-mlflow: MLflow's own server (`mlflow server`, SQLite backend, its default 4
# uvicorn workers) and `modelark serve` (over a local CNCF distribution registry) holding the
# same 1,000 model versions (100 models x 10, a production alias on each), asked the same
# MLflow registry workload in one run: the HTTP requests MLflow's client sends for
# search_registered_models, get_model_version_by_alias and get_model_version_download_uri,
# under 64 connections (requests/s, p50/p90/p99), then MLflow's Python client itself in a
# loop against each (p50/p99 per call), and each server's peak RSS (MLflow: all its
# processes). Target: modelark >= 10x MLflow's throughput with a lower p99.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --release --quiet --bin modelark --example serve_bench
modelark=$PWD/target/release/modelark
bench=$PWD/target/release/examples/serve_bench
python=$PWD/.venv/bin/python

repos=100; versions=10
seconds=${BENCH_SECONDS:-10}; connections=64; iterations=${BENCH_ITERATIONS:-300}
work=$(mktemp -d "${BENCH_DIR:-/tmp}/modelark-bench-mlflow.XXXXXX")
registry_pid= service_pid= mlflow_pid=
trap 'kill $registry_pid $service_pid 2>/dev/null || true; [[ -n $mlflow_pid ]] && kill -- -"$mlflow_pid" 2>/dev/null; rm -rf "$work"' EXIT
export MODELARK_HOME=$work/home HOME=$work/userhome DOCKER_CONFIG=$work/docker
mkdir -p "$HOME"
source scripts/bench-lib.sh
port=$(free_port); service_port=$(free_port); mlflow_port=$(free_port)
host=127.0.0.1:$port
start_registry "$work" "$host"

echo "populating $((repos * versions)) versions in $repos repositories (registry, then MLflow)" >&2
"$bench" populate "$host" "$repos" "$versions" >&2
for r in $(seq 0 $((repos - 1))); do
  "$modelark" tag -q --plain-http "$host/zoo/m$r:1.0.5" "$host/zoo/m$r:production" >/dev/null
done
setsid "$python" -m mlflow server --backend-store-uri "sqlite:///$work/mlflow.db" \
  --default-artifact-root "$work/mlflow-artifacts" --host 127.0.0.1 --port "$mlflow_port" \
  >"$work/mlflow.log" 2>&1 &
mlflow_pid=$!
mlflow_base=http://127.0.0.1:$mlflow_port
until curl -fs "$mlflow_base/health" >/dev/null 2>&1; do sleep 0.2; done
"$python" scripts/bench_mlflow.py populate "$mlflow_base" "$repos" "$versions" "$host" >&2

cat > "$work/serve.yaml" <<YAML
listen: 127.0.0.1:$service_port
registries: [{url: "$host/zoo", plainHttp: true}]
dataDir: $work/data
refresh: 10m
YAML
base=http://127.0.0.1:$service_port
"$modelark" serve --config "$work/serve.yaml" 2>"$work/serve.log" &
service_pid=$!
until curl -fs "$base/readyz" >/dev/null 2>&1; do sleep 0.05; done

# The requests MLflow's client sends (its search adds the prompt filter); version 1.0.5 is
# 1000005 on modelark (its stable numbering) and 6 on MLflow (registration order).
paths() { # VERSION -> three lists in files
  python3 - "$repos" "$1" "$work" <<'PY'
import sys, urllib.parse
repos, version, work = int(sys.argv[1]), sys.argv[2], sys.argv[3]
api = "/api/2.0/mlflow"
with open(f"{work}/search", "w") as s, open(f"{work}/alias", "w") as a, open(f"{work}/uri", "w") as u:
    for r in range(repos):
        f = f"name LIKE 'm{r}%' AND tag.`mlflow.prompt.is_prompt` != 'true'"
        print(f"{api}/registered-models/search?" + urllib.parse.urlencode({"filter": f, "max_results": 100}), file=s)
        print(f"{api}/registered-models/alias?name=m{r}&alias=production", file=a)
        print(f"{api}/model-versions/get-download-uri?name=m{r}&version={version}", file=u)
PY
}
load() { # BASE NAME FILE
  printf '  %-32s ' "$2"
  mapfile -t list < "$3"
  "$bench" load "$1" "$seconds" "$connections" "${list[@]}"
}
tree_rss() { # PID: peak RSS of the process and its descendants, MiB
  python3 - "$1" <<'PY'
import os, sys
root, children = int(sys.argv[1]), {}
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        ppid = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
    except OSError:
        continue
    children.setdefault(ppid, []).append(int(pid))
todo, total = [root], 0
while todo:
    pid = todo.pop()
    todo += children.get(pid, [])
    try:
        total += next(int(l.split()[1]) for l in open(f"/proc/{pid}/status") if l.startswith("VmHWM"))
    except (OSError, StopIteration):
        pass
print(f"{total / 1024:.0f}")
PY
}
declare -A rps
for side in mlflow modelark; do
  if [[ $side == mlflow ]]; then url=$mlflow_base; version=6; pid=$mlflow_pid; else url=$base; version=1000005; pid=$service_pid; fi
  paths "$version"
  echo "$side, $connections connections, ${seconds}s per call:"
  for call in search alias uri; do
    line=$(load "$url" "$call" "$work/$call")
    echo "$line"
    rps[$side-$call]=$(awk '{print $2}' <<<"$line")
  done
  echo "$side, MLflow's Python client, $iterations rounds:"
  "$python" scripts/bench_mlflow.py client "$url" "$repos" "$iterations" "$version"
  printf '  %-32s %s MiB\n' "peak RSS" "$(tree_rss "$pid")"
done
echo "throughput, modelark / MLflow server:"
for call in search alias uri; do
  python3 -c "import sys; print(f'  {sys.argv[1]:<32} {float(sys.argv[3]) / float(sys.argv[2]):6.1f}x')" \
    "$call" "${rps[mlflow-$call]}" "${rps[modelark-$call]}"
done
