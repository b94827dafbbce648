#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ (cargo-fuzz, libFuzzer) for FUZZ_SECONDS each (default 20:
# a smoke run), JOBS at a time, growing fuzz/corpus/<target> (with fuzz/dicts/<target>.dict, the
# target's field names and syntax, where there is one); TARGETS="a b" runs only those. Prints executions, final
# coverage and the time of the last new coverage per target. A crash stops with its input in
# fuzz/artifacts/<target>/: fix it, then move the input to fuzz/regressions/<target>/ so
# `cargo test` replays it. Installs cargo-fuzz when missing. Uses no sanitizer, so it builds
# on the stable toolchain.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${FUZZ_SECONDS:-20}
jobs=${JOBS:-2}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
cargo fuzz build -s none --release >/dev/null
bin=target/$(rustc -vV | sed -n 's/^host: //p')/release
logs=$(mktemp -d)
targets=${TARGETS:-$(cargo fuzz list)}
# The binaries built above run directly: editing the sources meanwhile changes nothing.
run() {
  local target=$1
  mkdir -p "corpus/$target" "artifacts/$target"
  # -rss_limit_mb: the key target decrypts cosign keys with scrypt (64 MiB per attempt).
  local dict=()
  [[ -f "dicts/$target.dict" ]] && dict=(-dict="dicts/$target.dict")
  "$bin/$target" "corpus/$target" -artifact_prefix="artifacts/$target/" "${dict[@]}" \
    -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=4096 \
    >"$logs/$target.log" 2>&1
}
export -f run
export seconds logs bin
status=0
printf '%s\n' $targets | xargs -P "$jobs" -I{} bash -c 'run {}' || status=$?
printf '%-10s %12s %8s %8s %s\n' TARGET EXECUTIONS COV FT LAST-NEW
for target in $targets; do
  log="$logs/$target.log"
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo '?')
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo '?')
  last=$(grep -E '^#[0-9]+.*NEW ' "$log" | tail -1 | grep -o '^#[0-9]*' || echo '-')
  printf '%-10s %12s %8s %8s %s\n' "$target" "$execs" "$cov" "$ft" "${last/#\#/exec }"
  if grep -q 'ERROR: libFuzzer\|panicked at' "$log"; then
    echo "  $target FOUND A CRASH:" && grep -A5 'panicked at\|ERROR: libFuzzer' "$log" | head -12
    status=1
  fi
done
rm -rf "$logs"
exit "$status"
