#!/usr/bin/env bash
# Creates the virtualenv the SDK conformance tests (tests/it/sdk_conformance.rs) run Microsoft's
# Python SDKs from: target/sdk-venv, with tests/conformance/requirements.txt installed from PyPI.
# Idempotent: when the venv already holds exactly this requirements file, it does nothing.
# Usage (from anywhere): bash tests/conformance/setup-venv.sh [VENV_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
venv="${1:-target/sdk-venv}"
requirements=tests/conformance/requirements.txt
# The copy of the requirements the venv was built from: the Rust test compares it too.
stamp="$venv/requirements.txt"

if [ -x "$venv/bin/python" ] && cmp -s "$requirements" "$stamp"; then
  exit 0
fi
echo "creating the SDK conformance venv in $venv"
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$requirements"
"$venv/bin/python" -m pip check
cp "$requirements" "$stamp"
