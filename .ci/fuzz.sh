#!/usr/bin/env bash
# The fuzz targets (fuzz/): built with libFuzzer's coverage instrumentation on the stable
# toolchain (what `cargo fuzz build --sanitizer none` passes, without installing cargo-fuzz),
# each run for FUZZ_SECONDS (default 30) from a seed corpus of committed files: the scenario
# and scenario-space files, the training configurations and matrices, and fuzz/seeds/. A crash
# fails CI and leaves its input in the log.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-30}
target=$(rustc -vV | sed -n 's/^host: //p')
export CARGO_TARGET_DIR="$PWD/target/fuzz"
RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions" \
    cargo build --release --quiet --manifest-path fuzz/Cargo.toml --target "$target"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
targets=(scenario_ron runner_toycloud config_ron checkpoint)
for name in "${targets[@]}"; do mkdir -p "$work/$name"; done
for f in sim-envs/scenarios/*.ron; do cp "$f" "$work/scenario_ron/scenario_$(basename "$f")"; done
for f in sim-envs/scenarios/spaces/*.ron; do cp "$f" "$work/scenario_ron/space_$(basename "$f")"; done
for f in experiments/configs/*.ron .ci/*.ron; do cp "$f" "$work/config_ron/$(basename "$f")"; done
cp fuzz/seeds/runner_toycloud/* "$work/runner_toycloud/"
cp fuzz/seeds/checkpoint/* "$work/checkpoint/"

summary=()
for name in "${targets[@]}"; do
    log="$work/$name.log"
    if ! "$CARGO_TARGET_DIR/$target/release/$name" -max_total_time="$seconds" -rss_limit_mb=2048 \
        -artifact_prefix="$work/$name-" -print_final_stats=1 "$work/$name" >"$log" 2>&1; then
        tail -n 60 "$log" >&2
        for crash in "$work/$name"-*; do [[ -f $crash ]] && { echo "input: $crash" >&2; xxd "$crash" | head -20 >&2; }; done
        echo "fuzz: $name crashed" >&2
        exit 1
    fi
    runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log")
    summary+=("$name $runs executions")
done
echo "fuzz: no crash in ${seconds} s per target: ${summary[*]}"
