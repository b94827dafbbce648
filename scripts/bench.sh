#!/usr/bin/env bash
# Compares modelark with skopeo, oras-py (chunked) and plain curl on one local CNCF
# distribution registry, in one run: a 2 GiB single-file model, a 64 x 32 MiB model, a
# re-push of the unchanged 2 GiB model, pulls (the CLI's and the Python package's), and
# verify-dir against PyPI model_signing verify and sha256sum.
# Prints wall time, ratios and peak RSS.
#
#   scripts/bench.sh            # full size (needs ~12 GiB free under $BENCH_DIR or /tmp)
#   BENCH_SCALE=16 scripts/bench.sh   # 1/16 of the sizes, for a quick look
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --release --quiet
modelark=$PWD/target/release/modelark
# The Python package, as an optimised wheel in its own venv (it shares the release build).
WHEEL_PROFILE=release scripts/python-test.sh --install-only
python=$PWD/target/python/venv/bin/python

scale=${BENCH_SCALE:-1}
big_mib=$((2048 / scale))
small_count=64
small_mib=$((32 / scale))
work=$(mktemp -d "${BENCH_DIR:-/tmp}/modelark-bench.XXXXXX")
trap 'kill "$registry_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
export MODELARK_HOME=$work/home HOME=$work/userhome DOCKER_CONFIG=$work/docker
mkdir -p "$HOME"

source scripts/bench-lib.sh
port=$(free_port)
host=127.0.0.1:$port
start_registry "$work" "$host"

echo "generating models ($big_mib MiB single file; $small_count x $small_mib MiB)" >&2
mkdir -p "$work/big" "$work/many"
head -c "$((big_mib * 1024 * 1024))" /dev/urandom > "$work/big/model.safetensors"
echo '{"architecture": "bench"}' > "$work/big/config.json"
for i in $(seq -w 1 "$small_count"); do
  head -c "$((small_mib * 1024 * 1024))" /dev/urandom > "$work/many/shard-$i.safetensors"
done
for model in big many; do
  "$modelark" pack -q "$work/$model" -t "oci:$work/layout-$model:1" >/dev/null
done

declare -A seconds rss
# measure NAME COMMAND...: wall seconds and peak RSS (KiB) of one run.
measure() {
  local name=$1; shift
  /usr/bin/time -f '%e %M' -o "$work/time" "$@" >/dev/null 2>"$work/stderr" || {
    echo "FAILED: $name" >&2; cat "$work/stderr" >&2; exit 1; }
  local wall peak
  read -r wall peak < "$work/time"
  seconds[$name]=$wall
  rss[$name]=$peak
  printf '  %-28s %8.2f s %8d KiB\n' "$name" "${seconds[$name]}" "${rss[$name]}" >&2
}
forget_skopeo_cache() {
  # skopeo's blob-info cache would turn uploads into cross-repo mounts: start it empty.
  rm -f /var/lib/containers/cache/blob-info-cache-v1.* "$HOME"/.local/share/containers/cache/blob-info-cache-v1.* 2>/dev/null || true
}
curl_put() { # FILE REPO: the registry's own ingest ceiling for the same bytes
  local digest location
  digest=sha256:$(python3 -c 'import hashlib,sys; h=hashlib.sha256(); f=open(sys.argv[1],"rb"); [h.update(b) for b in iter(lambda: f.read(1<<20), b"")]; print(h.hexdigest())' "$1")
  echo "$digest" > "$work/curl-digest"
  location=$(curl -fsS -X POST -D - -o /dev/null "http://$host/v2/$2/blobs/uploads/" | tr -d '\r' | awk -F': ' 'tolower($1)=="location"{print $2}')
  measure "curl PUT $3" curl -fsS -X PUT -H "Content-Type: application/octet-stream" -T "$1" -o /dev/null "$location&digest=$digest"
}
cat > "$work/oras_py.py" <<'EOF'
import sys, oras.client
action, host, target, path = sys.argv[1:5]
client = oras.client.OrasClient(hostname=host, insecure=True)
if action == "push":
    import os
    os.chdir(path)
    files = sorted(os.listdir("."))
    response = client.push(target=target, files=files, do_chunked=True, chunk_size=16 << 20, quiet=True)
    assert response.status_code == 201, response.status_code
else:
    client.pull(target=target, outdir=path)
EOF
oras_py="python3 $work/oras_py.py"

# The check a node runs before serving a model: the files on disk against their OpenSSF
# model signature (model.sig), by modelark verify-dir, PyPI model_signing verify, and plain
# sha256sum of the same files (no signature); page cache warm for all three.
model_signing=$PWD/.venv/bin/model_signing
openssl ecparam -name prime256v1 -genkey -noout -out "$work/ec.pem"
openssl ec -in "$work/ec.pem" -pubout -out "$work/ec.pub" 2>/dev/null
echo "verify a directory against model.sig:" >&2
for model in big many; do
  "$model_signing" sign key "$work/$model" --private_key "$work/ec.pem" --signature "$work/$model.sig" >/dev/null
  measure "modelark verify-dir $model" "$modelark" verify-dir "$work/$model" --signature "$work/$model.sig" --key "$work/ec.pub"
  measure "model_signing verify $model" "$model_signing" verify key "$work/$model" --signature "$work/$model.sig" --public_key "$work/ec.pub"
  measure "sha256sum $model" bash -c 'sha256sum "$1"/*' _ "$work/$model"
done

echo "push, $big_mib MiB single file:" >&2
curl_put "$work/big/model.safetensors" bench/curl big
measure "modelark push big" "$modelark" push -q --plain-http "$work/big" "$host/bench/modelark:big"
forget_skopeo_cache
measure "skopeo push big" skopeo copy --dest-tls-verify=false "oci:$work/layout-big:1" "docker://$host/bench/skopeo:big"
measure "oras-py push big" $oras_py push "$host" "$host/bench/oras:big" "$work/big"

echo "push, $small_count x $small_mib MiB:" >&2
measure "modelark push many" "$modelark" push -q --plain-http "$work/many" "$host/bench/modelark:many"
forget_skopeo_cache
measure "skopeo push many" skopeo copy --dest-tls-verify=false "oci:$work/layout-many:1" "docker://$host/bench/skopeo:many"
measure "oras-py push many" $oras_py push "$host" "$host/bench/oras:many" "$work/many"

echo "re-push of the unchanged $big_mib MiB model:" >&2
measure "modelark re-push big" "$modelark" push -q --plain-http "$work/big" "$host/bench/modelark:big"
measure "skopeo re-push big" skopeo copy --dest-tls-verify=false "oci:$work/layout-big:1" "docker://$host/bench/skopeo:big"

echo "pull, $big_mib MiB single file (verified except oras-py; -o also unpacks):" >&2
measure "curl GET big" curl -fsS -o /dev/null "http://$host/v2/bench/curl/blobs/$(cat "$work/curl-digest")"
# Like skopeo's copy to an oci: layout, `pull` writes the model once (into the local store).
measure "modelark pull big" "$modelark" pull -q --plain-http "$host/bench/modelark:big"
rm -rf "$MODELARK_HOME/store"
measure "modelark pull -o big" "$modelark" pull -q --plain-http "$host/bench/modelark:big" -o "$work/out-modelark"
forget_skopeo_cache
measure "skopeo pull big" skopeo copy --src-tls-verify=false "docker://$host/bench/skopeo:big" "oci:$work/out-skopeo:1"
measure "oras-py pull big" $oras_py pull "$host" "$host/bench/oras:big" "$work/out-oras"
rm -rf "$work/out-modelark" "$work/out-skopeo" "$work/out-oras" "$MODELARK_HOME/store"
# The same pulls from Python (modelark.Client, interpreter start and import included)
# against the CLI's, alternating for BENCH_ROUNDS rounds (this machine's run-to-run noise is
# larger than the difference); the ratio is of the medians.
rounds=${BENCH_ROUNDS:-3}
py_pull='import sys, modelark; modelark.Client(plain_http=True).pull(sys.argv[1], dest=(sys.argv[2:] or [None])[0])'
for round in $(seq "$rounds"); do
  measure "cli pull big #$round" "$modelark" pull -q --plain-http "$host/bench/modelark:big"
  rm -rf "$MODELARK_HOME/store"
  measure "python pull big #$round" "$python" -c "$py_pull" "$host/bench/modelark:big"
  rm -rf "$MODELARK_HOME/store"
  measure "cli pull -o big #$round" "$modelark" pull -q --plain-http "$host/bench/modelark:big" -o "$work/out-cli"
  rm -rf "$MODELARK_HOME/store" "$work/out-cli"
  measure "python pull -o big #$round" "$python" -c "$py_pull" "$host/bench/modelark:big" "$work/out-python"
  rm -rf "$MODELARK_HOME/store" "$work/out-python"
done
median() { # NAME: the median wall time of its rounds
  local name=$1 values=()
  for round in $(seq "$rounds"); do values+=("${seconds[$name #$round]}"); done
  printf '%s\n' "${values[@]}" | sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'
}
for name in "cli pull big" "python pull big" "cli pull -o big" "python pull -o big"; do
  seconds[$name]=$(median "$name")
done

echo "pull, $small_count x $small_mib MiB:" >&2
measure "modelark pull many" "$modelark" pull -q --plain-http "$host/bench/modelark:many"
forget_skopeo_cache
measure "skopeo pull many" skopeo copy --src-tls-verify=false "docker://$host/bench/skopeo:many" "oci:$work/out-skopeo:1"

versions=$((2000 / scale)); repos=10
echo "governance: $versions versions in $repos repositories (distinct small models):" >&2
mkdir -p "$work/small"
echo '{"architecture": "tiny"}' > "$work/small/config.json"
head -c 4096 /dev/urandom > "$work/small/model.safetensors"
start=$(date +%s.%N)
for r in $(seq 1 "$repos"); do
  for v in $(seq 1 $((versions / repos))); do
    "$modelark" push -q --plain-http "$work/small" "$host/zoo/m$r:1.0.$v" --name "m$r" --version "1.0.$v" \
      --framework pytorch --license Apache-2.0 --metric "accuracy=0.$((v % 100))" >/dev/null
  done
done
printf '  %-28s %8.2f s\n' "push $versions versions" "$(python3 -c "import time,sys; print(time.time()-float(sys.argv[1]))" "$start")" >&2
measure "modelark search first" "$modelark" search --plain-http "$host/zoo" --where framework=pytorch --where 'metrics.accuracy>=0.9'
measure "modelark search repeat" "$modelark" search --plain-http "$host/zoo" --where framework=pytorch --where 'metrics.accuracy>=0.9'
measure "modelark versions (1 repo)" "$modelark" versions --plain-http "$host/zoo/m1"
COSIGN_PASSWORD= "$modelark" generate-key-pair --output-key-prefix "$work/bench" >/dev/null
COSIGN_PASSWORD= "$modelark" sign --plain-http "$host/bench/modelark:big" --key "$work/bench.key" >/dev/null
rm -rf "$MODELARK_HOME/store"
measure "modelark pull --key big" "$modelark" pull -q --plain-http "$host/bench/modelark:big" --key "$work/bench.pub"

ratio() { python3 -c "import sys; a,b=map(float,sys.argv[1:]); print(f'{a/b:.2f}x' if b>0 else 'n/a')" "$1" "$2"; }
echo
echo "modelark vs the others (lower is better for time ratios):"
printf '%-44s %s\n' \
  "push big / curl PUT (target <= 1.1x)" "$(ratio "${seconds[modelark push big]}" "${seconds[curl PUT big]}")" \
  "push big / skopeo push" "$(ratio "${seconds[modelark push big]}" "${seconds[skopeo push big]}")" \
  "push big / oras-py chunked push" "$(ratio "${seconds[modelark push big]}" "${seconds[oras-py push big]}")" \
  "push many / skopeo push" "$(ratio "${seconds[modelark push many]}" "${seconds[skopeo push many]}")" \
  "re-push big (target < 0.2 s)" "${seconds[modelark re-push big]} s (skopeo ${seconds[skopeo re-push big]} s)" \
  "skopeo pull big / modelark pull (target >= 3x)" "$(ratio "${seconds[skopeo pull big]}" "${seconds[modelark pull big]}")" \
  "pull big / curl GET" "$(ratio "${seconds[modelark pull big]}" "${seconds[curl GET big]}")" \
  "skopeo pull big / modelark pull -o (2 writes)" "$(ratio "${seconds[skopeo pull big]}" "${seconds[modelark pull -o big]}")" \
  "skopeo pull many / modelark pull" "$(ratio "${seconds[skopeo pull many]}" "${seconds[modelark pull many]}")" \
  "verify-dir big / model_signing verify" "$(ratio "${seconds[modelark verify-dir big]}" "${seconds[model_signing verify big]}") (${seconds[modelark verify-dir big]} s / ${seconds[model_signing verify big]} s; sha256sum ${seconds[sha256sum big]} s)" \
  "verify-dir many / model_signing verify" "$(ratio "${seconds[modelark verify-dir many]}" "${seconds[model_signing verify many]}") (${seconds[modelark verify-dir many]} s / ${seconds[model_signing verify many]} s; sha256sum ${seconds[sha256sum many]} s)" \
  "verified pull --key / pull (signature check)" "$(ratio "${seconds[modelark pull --key big]}" "${seconds[modelark pull big]}")" \
  "Python pull big / CLI pull, median of $rounds (target <= 1.05x)" "$(ratio "${seconds[python pull big]}" "${seconds[cli pull big]}") (${seconds[python pull big]} s / ${seconds[cli pull big]} s)" \
  "Python pull -o big / CLI pull -o, median of $rounds" "$(ratio "${seconds[python pull -o big]}" "${seconds[cli pull -o big]}") (${seconds[python pull -o big]} s / ${seconds[cli pull -o big]} s)" \
  "search, first / repeat ($versions versions)" "${seconds[modelark search first]} s / ${seconds[modelark search repeat]} s (target repeat < 1 s)"
max_rss=0
for k in "${!rss[@]}"; do [[ $k == modelark* ]] && ((rss[$k] > max_rss)) && max_rss=${rss[$k]}; done
py_rss=${rss["python pull -o big #1"]}
echo "modelark peak RSS over all runs: $((max_rss / 1024)) MiB (target < 64 MiB); Python pull -o: $((py_rss / 1024)) MiB (interpreter included)"
