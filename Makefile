# modelark: `make demo` runs the main job on the embedded store, `make test` runs every test.
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: build test test-python deps lint doc demo bench bench-serve bench-mlflow ci clean fuzz

build:
	$(CARGO) build --release

## Installs the registry, skopeo and validators the tests talk to (needs root for apt-get).
deps:
	scripts/install-deps.sh

## Every test: unit, CLI, hostile inputs, schema validation, real-registry interop; then lint.
test: deps
	$(CARGO) test --all-targets
	$(CARGO) test --doc
	$(MAKE) test-python
	$(MAKE) lint

## The Python package: builds the wheel, installs it in a fresh venv, runs pytest and mypy --strict.
test-python:
	scripts/python-test.sh

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) clippy -p modelark-python -- -D warnings

doc:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps

## Packs testdata/tiny-sentiment into a throwaway store, inspects, unpacks and compares it.
demo: build
	scripts/demo.sh

ci: test

clean:
	$(CARGO) clean

## Compares modelark with skopeo, oras-py and curl on one local registry (2 GiB model; BENCH_SCALE=16 for a quick run).
bench:
	scripts/bench.sh

## modelark serve under load: index build, latency percentiles, download, freshness, RSS.
bench-serve:
	scripts/bench-serve.sh

## The same 1,000 versions in MLflow's own server and in modelark serve, under MLflow's client workload.
bench-mlflow:
	scripts/bench-mlflow.sh

## Runs every fuzz target briefly (FUZZ_SECONDS each, default 20); crashes land in fuzz/artifacts/.
fuzz:
	scripts/fuzz.sh
