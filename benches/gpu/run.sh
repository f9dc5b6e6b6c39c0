#!/usr/bin/env bash
# The GPU run in one call, from binaries built elsewhere: the GPU machine has the CUDA runtime
# but no Rust toolchain and no network (benches/gpu/build.sh builds them into carry/gpu/).
#
#   bash benches/gpu/run.sh OUT                               # on the GPU machine (--device cuda)
#   bash benches/gpu/run.sh --device cpu --bin target/release --tiny OUT   # CI: the same stages, tiny
#
# With --tiny, every stage runs at sizes that take seconds on a CPU, and rome_repro --quick is cut
# off after 8 s, so that its time limit and projection are exercised as on the GPU.
#
# Stages, each under its own time limit, each writing its file in OUT as it goes (so a stage
# that fails or runs out of time loses nothing written before it); eight files:
#   device.txt      nvidia-smi, the host, the commit and the binaries' sizes
#   smoke.txt       the device found, one tiny step and one tiny update per loop (seconds; a
#                   library or driver problem shows here, with its error, and stops the run)
#   stepping.csv    device environments stepped as tensor programs, 2^16-2^22 envs
#   ppo.csv         PPO end to end on CartPole and ToyCloud, host loop and device loop, samples/s;
#                   then populations of 8 runs trained together on the device loop, each run's
#                   update apart and all of them as one batched model
#   rome_repro.txt  a time-boxed part of the default rome_repro matrix on the device (host
#                   loop: the update on the GPU), with the projected time of the whole matrix
#   rome_repro_device.txt  the same on the device loop (environments and rollout on the GPU too)
#   emergence.txt   a time-boxed part of the emergence phase diagram at GPU size (`--config
#                   emergence_full`: pretrained starts, GRPO/RLOO/PPO-KL, the KL leash and golden
#                   trajectories, on the device loop), with the projected time of the whole preset
#   log.txt         every stage's command, exit status and time, and its standard error
# Not here: purejaxrl on the same GPU (jaxlib with its CUDA plugin is hundreds of MiB; a call
# carries at most 64 MiB).
#
# Exit status: 0 when every stage passed, 1 when the smoke stage failed (nothing else is run),
# 2 when a later stage failed or ran out of time (its file says how far it got).
set -uo pipefail

device=cuda
bin=carry/gpu
tiny=0
out=""
while [ $# -gt 0 ]; do
    case "$1" in
        --device) device="$2"; shift 2 ;;
        --bin) bin="$2"; shift 2 ;;
        --tiny) tiny=1; shift ;;
        -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
        -*) echo "run.sh: unknown option $1" >&2; exit 64 ;;
        *) out="$1"; shift ;;
    esac
done
if [ -z "$out" ]; then
    echo "run.sh: give the output folder (run.sh [--device cuda|cpu] [--bin DIR] [--tiny] OUT)" >&2
    exit 64
fi
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
# The binaries, as built here or gzipped by build.sh (then unpacked into the scratch folder).
for b in throughput rome_repro; do
    if [ ! -x "$bin/$b" ] && [ -f "$bin/$b.gz" ]; then
        mkdir -p "$scratch/bin"
        gzip -dc "$bin/$b.gz" > "$scratch/bin/$b" && chmod +x "$scratch/bin/$b" || exit 64
    fi
done
if [ -d "$scratch/bin" ]; then
    cp "$bin/COMMIT" "$scratch/bin/" 2>/dev/null
    bin="$scratch/bin"
fi
for b in throughput rome_repro; do
    if [ ! -x "$bin/$b" ]; then
        echo "run.sh: $bin/$b is missing or not executable (build with benches/gpu/build.sh, or pass --bin)" >&2
        exit 64
    fi
done
mkdir -p "$out" || exit 64
out="$(cd "$out" && pwd)"
log="$out/log.txt"
: > "$log"

if [ "$tiny" = 1 ]; then
    limit_smoke=120 limit_stepping=120 limit_ppo_host=300 limit_ppo_device=300 limit_ppo_population=300
    # `--quick` solves its small base (`smoke`, about 1 s) for the no-pay twin before it trains,
    # then trains 40 short runs in about 10 s on 2 cores: cut off part way, as on the GPU.
    limit_rome=8 limit_rome_device=8
    # Two pretrained RLOO cells on `smoke` (benches/gpu/emergence_tiny.ron), a few seconds each.
    limit_emergence=30
    emergence_args=(--config "$(cd "$(dirname "$0")" && pwd)/emergence_tiny.ron")
    sizes=256,1024
    seconds=0.2
    ppo_cartpole=16x8x2x512,32x8x4x1024
    ppo_toycloud=16x8x2x512
    population=2 ppo_population=16x8x2x512
    rome_args=(--quick)
else
    # At most 80 + 2 x (40 + 45) + 4 x 35 + 60 + 40 + 50 = 540 s past the smoke stage's few
    # seconds (each stage's SIGTERM grace of up to 15 s aside).
    limit_smoke=60 limit_stepping=80 limit_ppo_host=40 limit_ppo_device=45 limit_ppo_population=35
    limit_rome=60 limit_rome_device=40 limit_emergence=50
    emergence_args=(--config emergence_full)
    sizes=65536,262144,1048576,4194304
    seconds=2
    ppo_cartpole=64x64x4x491520,256x128x8x2097152
    ppo_toycloud=64x64x4x491520
    population=8 ppo_population=64x64x4x245760
    rome_args=()
fi

# Runs a stage: `stage NAME LIMIT OUTFILE CMD...`, CMD's standard output appended to OUTFILE,
# its standard error to the log. Returns CMD's status (124 past the limit). A `throughput`
# appending to a CSV that has its header already leaves the header out.
stage() {
    local name="$1" limit="$2" file="$3"
    shift 3
    if [ "$(basename "$1")" = throughput ] && [ -s "$file" ]; then
        set -- "$1" --no-header "${@:2}"
    fi
    echo "== $name: $* (limit ${limit}s) at $(date -u +%FT%TZ)" >> "$log"
    local start=$SECONDS
    timeout --signal=TERM --kill-after=15 "$limit" "$@" >> "$file" 2>> "$log"
    local rc=$?
    echo "== $name: exit $rc after $((SECONDS - start)) s" >> "$log"
    return $rc
}

# device.txt
{
    echo "date: $(date -u +%FT%TZ)"
    echo "host: $(uname -srm), $(nproc) cpus, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
    echo "device: $device"
    echo "commit: $(cat "$bin/COMMIT" 2>/dev/null || git rev-parse HEAD 2>/dev/null || echo unknown)"
    echo "binaries: $(du -sh "$bin" | cut -f1) in $bin"
    if command -v nvidia-smi > /dev/null; then
        nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
        nvidia-smi
    else
        echo "nvidia-smi: not found"
    fi
} > "$out/device.txt" 2>&1

# The smoke stage: a failure here stops the run.
smoke=0
stage smoke "$limit_smoke" "$out/smoke.txt" "$bin/throughput" --device "$device" stepping --sizes 64 --seconds 0 || smoke=1
for l in device host; do
    stage smoke "$limit_smoke" "$out/smoke.txt" "$bin/throughput" --device "$device" ppo --loop "$l" --runs 8x8x2x64 || smoke=1
done
if [ "$smoke" = 1 ]; then
    echo "run.sh: the smoke stage failed; its error is in $log" >&2
    tail -n 20 "$log" >&2
    exit 1
fi

status=0
stage stepping "$limit_stepping" "$out/stepping.csv" \
    "$bin/throughput" --device "$device" stepping --sizes "$sizes" --seconds "$seconds" || status=2
# Each run's line is written when it finishes: a run cut off by the limit is missing, not wrong.
for l in host device; do
    limit="limit_ppo_$l"
    stage "ppo cartpole $l" "${!limit}" "$out/ppo.csv" \
        "$bin/throughput" --device "$device" ppo --env cartpole --loop "$l" --runs "$ppo_cartpole" || status=2
    stage "ppo toycloud $l" "${!limit}" "$out/ppo.csv" \
        "$bin/throughput" --device "$device" ppo --env toycloud --loop "$l" --runs "$ppo_toycloud" || status=2
done
# Populations: runs trained together on the device loop (samples of all runs per second; the
# first run's checksum is the run alone's), each run's update on its own (kernel auto) and all
# runs' updates as one batched model (kernel batched).
for k in auto batched; do
    for e in cartpole toycloud; do
        stage "ppo $e population $k" "$limit_ppo_population" "$out/ppo.csv" "$bin/throughput" --device "$device" \
            ppo --env "$e" --loop device --population "$population" --kernel "$k" --runs "$ppo_population" || status=2
    done
done

# rome_repro, time-boxed: on SIGTERM at the limit the runs in progress checkpoint and stop; the
# finished runs give the projected time of the whole matrix. `rome NAME LIMIT FILE ARGS...`
# writes FILE; returns 2 when it failed otherwise than by its limit, or no run finished.
rome() {
    local name="$1" limit="$2" file="$3"
    shift 3
    local dir="$scratch/$name"
    local start=$SECONDS start_epoch
    start_epoch=$(date +%s)
    stage "$name" "$limit" "$scratch/$name.out" \
        "$bin/rome_repro" "$@" --device "$device" --quiet --out "$dir"
    local rc=$?
    local elapsed=$((SECONDS - start))
    # The resolved matrix rome_repro wrote: one `family:` per condition, one line per seed.
    local conditions seeds runs done_runs last
    conditions=$(grep -c 'family:' "$dir/config.ron" 2>/dev/null)
    seeds=$(awk '/^        seeds: \[/ { f = 1; next } f && /\]/ { exit } f { n++ } END { print n + 0 }' \
        "$dir/config.ron" 2>/dev/null)
    runs=$((${conditions:-0} * ${seeds:-0}))
    done_runs=$(find "$dir/runs" -name result.ron 2>/dev/null | wc -l)
    # When the last run ended (the aggregation after it is not training time).
    last=$(find "$dir/runs" -name result.ron -exec stat -c %Y {} + 2>/dev/null | sort -n | tail -n 1)
    {
        echo "command: rome_repro $* --device $device (limit ${limit}s)"
        echo "exit: $rc"
        echo "elapsed_s: $elapsed"
        echo "runs_finished: $done_runs of $runs"
        if [ "$done_runs" -gt 0 ] && [ "$done_runs" = "$runs" ]; then
            echo "projected_matrix_s: $((last - start_epoch)) (every run finished: the time to the last one; the aggregation excluded)"
        elif [ "$done_runs" -gt 0 ]; then
            echo "projected_matrix_s: $((elapsed * runs / done_runs)) (elapsed x runs / runs finished; the runs cut off count as nothing, so it overestimates; the aggregation excluded)"
        else
            echo "projected_matrix_s: none (no run finished within the limit)"
        fi
        tail -n 3 "$scratch/$name.out" 2>/dev/null
    } > "$file"
    # Past the limit (124, or 137 when the aggregation after the last run outlasted the grace
    # period) is the plan; another failure, or no run finished, is not.
    case "$rc" in 0|124|137) ;; *) return 2 ;; esac
    if [ "$done_runs" = 0 ]; then return 2; fi
    return 0
}
rome rome_repro "$limit_rome" "$out/rome_repro.txt" "${rome_args[@]}" || status=2
rome rome_repro_device "$limit_rome_device" "$out/rome_repro_device.txt" "${rome_args[@]}" --loop device || status=2
rome emergence "$limit_emergence" "$out/emergence.txt" "${emergence_args[@]}" || status=2

echo "run.sh: done (status $status); results in $out" | tee -a "$log"
exit $status
