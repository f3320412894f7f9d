#!/usr/bin/env bash
# Runs every benchmark with its baselines and keeps the results: for each
# bench, the printed table in target/bench-results/<bench>.txt and the
# same figures as JSON in target/bench-results/<bench>.json.
#
# Each Python baseline gets its own virtual environment under
# target/bench-venv/, installed from its pinned requirements file:
#   pandas   crates/cli/benches/requirements-pandas.txt  (pipeline: streaming)
#   sklearn  crates/cli/benches/requirements.txt         (train)
# A baseline that cannot be installed is reported "not run" by its bench;
# the script goes on.
#
# Usage: scripts/bench.sh [BENCH...]   (default: runtime boundary plugins pipeline train)
# Release profile (`cargo bench`); expect 15+ minutes of build on 2 cores.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$root/target/bench-results
venvs=$root/target/bench-venv
mkdir -p "$out" "$venvs"

# venv NAME REQUIREMENTS: prints the venv's python, or nothing if it failed
venv() {
    local dir=$venvs/$1
    if [ ! -x "$dir/bin/python" ] || ! cmp -s "$2" "$dir/requirements.txt"; then
        rm -rf "$dir"
        if ! python3 -m venv "$dir" >&2 || ! "$dir/bin/pip" install --quiet -r "$2" >&2; then
            echo "baseline $1: not installed (see above); its bench reports it not run" >&2
            return
        fi
        cp "$2" "$dir/requirements.txt"
    fi
    echo "$dir/bin/python"
}

pandas=$(venv pandas crates/cli/benches/requirements-pandas.txt)
sklearn=$(venv sklearn crates/cli/benches/requirements.txt)

benches=("$@")
[ ${#benches[@]} -eq 0 ] && benches=(runtime boundary plugins pipeline train)
status=0
for bench in "${benches[@]}"; do
    echo "== $bench"
    rm -f "$out/$bench.json"
    env_for=(SLUICE_BENCH_OUT="$out")
    case $bench in
        pipeline) [ -n "$pandas" ] && env_for+=(SLUICE_BENCH_PYTHON="$pandas") ;;
        # the train bench runs `python3`: the sklearn venv first on PATH
        train) [ -n "$sklearn" ] && env_for+=(PATH="$(dirname "$sklearn"):$PATH") ;;
    esac
    if ! env "${env_for[@]}" cargo bench -p sluice --bench "$bench" 2>"$out/$bench.stderr" | tee "$out/$bench.txt"; then
        echo "bench $bench failed: see $out/$bench.stderr" >&2
        status=1
    fi
    # benches without their own JSON output: the printed lines, as JSON
    if [ ! -s "$out/$bench.json" ]; then
        python3 -c 'import json, sys; print(json.dumps({"bench": sys.argv[1], "lines": open(sys.argv[2]).read().splitlines()}, indent=2))' \
            "$bench" "$out/$bench.txt" >"$out/$bench.json"
    fi
done
echo "results in $out"
exit $status
