#!/usr/bin/env bash
# Installs the Python baselines the benchmarks run side by side with sluice
# (pinned in crates/cli/benches/requirements.txt) into .bench-venv at the
# repository root. Then: PATH="$PWD/.bench-venv/bin:$PATH" cargo bench ...
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .bench-venv
.bench-venv/bin/pip install --quiet -r crates/cli/benches/requirements.txt
