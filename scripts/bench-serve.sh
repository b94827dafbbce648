#!/usr/bin/env bash
# make bench-serve: `modelark serve` over a local CNCF distribution registry holding
# 10,000 versions in 100 repositories (BENCH_SCALE=10: 1,000 in 10). Prints the cold index
# build time; requests/s and p50/p90/p99 latency under 64 connections for search, the model
# page, a version's detail and the HTML catalog; file download throughput against a direct
# registry GET; how long a push takes to become searchable (registry notifications); and the
# service's peak RSS. Targets (2 cores): search p99 < 20 ms at >= 2,000 req/s, model and
# version p99 < 50 ms, peak RSS < 150 MiB, download >= 0.9x the direct GET.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --release --quiet --bin modelark --example serve_bench
modelark=$PWD/target/release/modelark
bench=$PWD/target/release/examples/serve_bench

scale=${BENCH_SCALE:-1}
repos=$((100 / scale)); versions=100
seconds=${BENCH_SECONDS:-10}; connections=64
download_mib=${BENCH_DOWNLOAD_MIB:-$((256 / scale))}
work=$(mktemp -d "${BENCH_DIR:-/tmp}/modelark-bench-serve.XXXXXX")
trap 'kill "$registry_pid" "$service_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
export MODELARK_HOME=$work/home HOME=$work/userhome DOCKER_CONFIG=$work/docker
mkdir -p "$HOME"
source scripts/bench-lib.sh
port=$(free_port); service_port=$(free_port)
host=127.0.0.1:$port
export MODELARK_EVENTS_SECRET=bench-secret
service_pid=
# Populated without notifications (the service is not up yet: the registry would queue
# every event and deliver the backlog later, delaying the fresh push below), then
# restarted with them, as a registry the service has been watching all along.
start_registry "$work" "$host"
echo "populating $((repos * versions)) versions in $repos repositories" >&2
"$bench" populate "$host" "$repos" "$versions" >&2
kill "$registry_pid"; wait "$registry_pid" 2>/dev/null || true
start_registry "$work" "$host" "http://127.0.0.1:$service_port/api/v1/events" "$MODELARK_EVENTS_SECRET"

cat > "$work/serve.yaml" <<YAML
listen: 127.0.0.1:$service_port
registries: [{url: "$host/zoo", plainHttp: true}]
dataDir: $work/data
refresh: 10m
events: {secretEnv: MODELARK_EVENTS_SECRET}
blobCache: {maxSize: ${BENCH_BLOB_CACHE:-10GiB}}
YAML
base=http://127.0.0.1:$service_port
start=$(date +%s.%N)
"$modelark" serve --config "$work/serve.yaml" 2>"$work/serve.log" &
service_pid=$!
until curl -fs "$base/readyz" >/dev/null 2>&1; do sleep 0.05; done
elapsed() { python3 -c "import time,sys; print(f'{time.time()-float(sys.argv[1]):.2f}')" "$1"; }
printf '%-34s %s s\n' "cold index build" "$(elapsed "$start")"

load() { # NAME PATH...
  local name=$1; shift
  printf '%-34s ' "$name"
  "$bench" load "$base" "$seconds" "$connections" "$@"
}
search_paths=() model_paths=() version_paths=()
for r in $(seq 0 $((repos - 1))); do
  search_paths+=("/api/v1/search?where=framework%3Dpytorch&where=metrics.accuracy%3E%3D0.9&q=m$r&limit=20")
  model_paths+=("/api/v1/models/$host/zoo/m$r")
  version_paths+=("/api/v1/models/$host/zoo/m$r/versions/1.0.$((r % versions))")
done
load "search (64 connections)" "${search_paths[@]}"
load "model page" "${model_paths[@]:0:10}"
load "version detail" "${version_paths[@]:0:10}"
load "HTML catalog" "/?q=m1&framework=onnx"

echo "download, $download_mib MiB file:" >&2
mkdir -p "$work/big"
head -c "$((download_mib * 1024 * 1024))" /dev/urandom > "$work/big/model.safetensors"
"$modelark" push -q --plain-http "$work/big" "$host/zoo/big:1.0.0" >/dev/null
digest=$("$modelark" inspect --plain-http "$host/zoo/big:1.0.0" --json | python3 -c 'import json,sys; print([f["digest"] for f in json.load(sys.stdin)["files"] if f["path"]=="model.safetensors"][0])')
timed() { curl -fsS -o /dev/null -w '%{time_total}\n' "$1"; } # URL: seconds, to the microsecond
median3() { printf '%s\n' "$(timed "$1")" "$(timed "$1")" "$(timed "$1")" | sort -n | sed -n 2p; }
file_url=$base/api/v1/models/$host/zoo/big/versions/1.0.0/files/model.safetensors
direct=$(median3 "http://$host/v2/zoo/big/blobs/$digest")
# The first download is fetched from the registry and verified while it streams (and kept
# in the service's cache of verified blobs); repeats are served from that cache.
first=$(timed "$file_url")
repeat=$(median3 "$file_url")
python3 - "$direct" "$first" "$repeat" "$download_mib" <<'PY'
import sys
direct, first, repeat, mib = (float(a) for a in sys.argv[1:])
print(f"{'registry GET (median of 3)':<34} {mib / direct:8.0f} MiB/s")
print(f"{'first download (verified inline)':<34} {mib / first:8.0f} MiB/s  ({direct / first:.2f}x the direct GET)")
print(f"{'repeat download (verified cache)':<34} {mib / repeat:8.0f} MiB/s  ({direct / repeat:.2f}x the direct GET)")
PY

"$modelark" push -q --plain-http "$work/big" "$host/zoo/fresh:9.9.9" --name fresh-model >/dev/null
start=$(date +%s.%N)
until curl -fs "$base/api/v1/search?q=fresh-model" | grep -q '"hits":\[{'; do sleep 0.02; done
printf '%-34s %s s\n' "push to searchable" "$(elapsed "$start")"
printf '%-34s %s MiB\n' "service peak RSS" "$(awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$service_pid/status")"
