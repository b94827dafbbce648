#!/usr/bin/env bash
# Installs what the tests use: the CNCF distribution registry, skopeo, htpasswd, openssl,
# chromium and chromedriver from Debian, the PyPI jsonschema validator, oras client and securesystemslib (DSSE), MLflow
# and model-signing (in .venv), and npm @sigstore/verify (bundles). Idempotent; needs root for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v docker-registry >/dev/null || need_apt+=(docker-registry)
command -v skopeo >/dev/null || need_apt+=(skopeo)
command -v htpasswd >/dev/null || need_apt+=(apache2-utils)
command -v openssl >/dev/null || need_apt+=(openssl)
command -v npm >/dev/null || need_apt+=(npm)
# The web pages are tested in a real headless browser through WebDriver.
command -v chromium >/dev/null || need_apt+=(chromium)
command -v chromedriver >/dev/null || need_apt+=(chromium-driver)
if ((${#need_apt[@]})); then
  echo "installing ${need_apt[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

need_pip=()
python3 -c 'import jsonschema' 2>/dev/null || need_pip+=('jsonschema>=4.18' 'rfc3339-validator')
python3 -c 'import oras.client' 2>/dev/null || need_pip+=('oras>=0.2,<0.3')
python3 -c 'import securesystemslib.dsse, cryptography' 2>/dev/null || need_pip+=('securesystemslib[crypto]>=1.0')
if ((${#need_pip[@]})); then
  echo "installing ${need_pip[*]} (PyPI)" >&2
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "${need_pip[@]}"
fi

# MLflow in its own venv (.venv): the MLflow client tests and `make bench-mlflow` (which runs
# MLflow's own server) use it; it pins versions the system's packages must not fight over.
if ! .venv/bin/python -c 'import mlflow, flask' 2>/dev/null; then
  echo "installing mlflow into .venv (PyPI)" >&2
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check 'mlflow>=3,<4'
fi

# PyPI model-signing (OpenSSF model signing; pyopenssl for its certificate mode) in the same
# venv: the model.sig interop tests and `make bench` run its `model_signing` command.
if ! .venv/bin/python -c 'import model_signing, OpenSSL' 2>/dev/null; then
  echo "installing model-signing into .venv (PyPI)" >&2
  .venv/bin/pip install --quiet --disable-pip-version-check 'model-signing>=1.1,<2' pyopenssl
fi

# npm @sigstore/verify for the Sigstore bundle interop test, pinned by the lockfile.
if [[ ! -d tests/interop/node_modules/@sigstore/verify ]]; then
  echo "installing npm @sigstore/verify (tests/interop)" >&2
  npm ci --silent --no-audit --no-fund --prefix tests/interop
fi
