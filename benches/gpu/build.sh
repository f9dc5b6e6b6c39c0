#!/usr/bin/env bash
# Builds the binaries of the GPU run (benches/gpu/run.sh) here, with burn's CUDA backend, into
# carry/gpu/ (git-ignored): the GPU machine has the CUDA runtime but no Rust toolchain and no
# network. They are stripped and gzipped (about 30 MiB each stripped, 8 MiB gzipped; with the
# tree they must fit the 64 MiB a call to it carries); run.sh unpacks them there.
#
#   bash benches/gpu/build.sh        # then, on the GPU machine: bash benches/gpu/run.sh OUT
#
# The build has a target folder of its own (target/gpu), so it leaves the CPU binaries alone.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --target-dir target/gpu -p experiments -p benches \
    --features "experiments/cuda benches/cuda" --bin rome_repro --bin throughput
mkdir -p carry/gpu
rm -f carry/gpu/*
for b in rome_repro throughput; do
    strip -o carry/gpu/$b target/gpu/release/$b
    gzip -9 carry/gpu/$b
done
git rev-parse HEAD > carry/gpu/COMMIT
du -b carry/gpu/* | awk '{ total += $1; print } END { printf "total: %.1f MiB (a call carries at most 64 MiB with the tree)\n", total / 1048576 }'
