#!/bin/sh
# Creates target/offensive-venv with the pinned offensive-language baselines
# that `cargo bench -p sluice --bench plugins` compares lexicon-detector with
# (alt-profanity-check, better-profanity). Prints the venv's python.
set -eu
root=$(cd "$(dirname "$0")/../../.." && pwd)
venv="$root/target/offensive-venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check \
    -r "$root/crates/cli/benches/offensive_requirements.txt"
echo "$venv/bin/python"
