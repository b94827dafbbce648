#!/usr/bin/env bash
# The Python package's suite (`make test` runs it): builds the wheel with maturin, installs it
# into a fresh venv with the suite's tools, runs pytest (python/tests) against real registries,
# and mypy --strict over the documented examples. WHEEL_PROFILE=release builds an optimised
# wheel (the benchmark does); the default debug wheel reuses `cargo test`'s build.
set -euo pipefail
cd "$(dirname "$0")/.."

build=target/python/build
venv=target/python/venv
wheels=target/python/wheels

if ! "$build/bin/maturin" --version >/dev/null 2>&1; then
  echo "installing maturin into $build (PyPI)" >&2
  python3 -m venv "$build"
  "$build/bin/pip" install --quiet --disable-pip-version-check 'maturin>=1.9,<2'
fi

rm -rf "$wheels"
profile=()
[[ "${WHEEL_PROFILE:-debug}" == release ]] && profile=(--release)
"$build/bin/maturin" build --quiet --strip "${profile[@]}" -o "$wheels"
wheel=$(ls "$wheels"/modelark-*.whl)

python3 -m venv --clear "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "$wheel" \
  'pytest>=8' 'mypy>=1.10' 'huggingface_hub>=1,<3' 'jinja2>=3' 'tqdm>=4' \
  'transformers>=4.40' 'safetensors>=0.4' 'numpy>=1.24'
# The real small model the Hugging Face tests pack: its wheel ships the weights; its torch
# dependency is not needed to read them.
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps 'silero-vad==6.2.3'

if [[ "${1:-}" == --install-only ]]; then
  exit 0
fi
"$venv/bin/python" -m pytest -q -p no:cacheprovider python/tests "$@"
"$venv/bin/mypy" --strict --no-incremental python/examples/quickstart.py
