#!/usr/bin/env bash
# A real one-node Slurm for CI: installs Debian's slurm-wlm and munge, starts munged, slurmctld
# and slurmd without systemd, then
#   1. submits the `--quick` matrix as an array job through the generated submit.sh, waits for
#      the aggregation job, and checks that its summary.csv and aggregate.csv equal those of the
#      single-process run given as $1, byte for byte;
#   2. requeues a task of a second, longer matrix while it trains (what a preemption does),
#      waits for the requeued task and the aggregation, and checks that its runs equal those of
#      the same task run outside Slurm, byte for byte, and that it continued from a checkpoint.
# Every daemon it started is stopped on exit. Usage: .ci/slurm.sh <quick run directory>
set -euo pipefail
cd "$(dirname "$0")/.."
reference=$(realpath "$1")
[[ -f $reference/summary.csv ]] || { echo "slurm.sh: $reference holds no summary.csv" >&2; exit 1; }

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi

work=$(mktemp -d /tmp/rome-slurm.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
    local status=$?
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [[ $status -ne 0 ]]; then
        echo "slurm.sh failed; the daemons' logs:" >&2
        tail -n 40 "$work"/*.log "$work"/*.out "$work"/scripts*/logs/* >&2 2>/dev/null || true
        scontrol show job >&2 2>/dev/null || true
    fi
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT

# munge: its key (the package makes one; make it if missing) and its daemon, as user munge.
install -d -o munge -g munge -m 0700 /etc/munge /var/log/munge /var/lib/munge
install -d -o munge -g munge -m 0755 /run/munge
[[ -s /etc/munge/munge.key ]] || { dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none; }
chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
runuser -u munge -- munged --foreground --socket=/run/munge/munge.socket.2 >"$work/munged.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do munge -n >/dev/null 2>&1 && break; sleep 0.1; done
munge -n | unmunge >/dev/null

# One node on 127.0.0.1, its real CPU count and memory; no cgroups, no accounting.
node=$(hostname -s)
cpus=$(nproc)
memory=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
mkdir -p "$work/state" "$work/spool"
export SLURM_CONF="$work/slurm.conf"
cat > "$SLURM_CONF" <<EOF
ClusterName=rome-ci
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
KillWait=30
MinJobAge=600
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=ci Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
slurmctld -D -f "$SLURM_CONF" >"$work/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" >"$work/slurmd.out" 2>&1 &
pids+=($!)
for _ in $(seq 300); do
    sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)' && break
    sleep 0.2
done
sinfo -h -o %T | grep -qE '^(idle|mixed|allocated)' || { echo "slurmd did not come up" >&2; exit 1; }

cargo build --release --quiet -p experiments --bin rome_repro
rome_repro=$(realpath target/release/rome_repro)

# Waits until job $1 (and every task of it) has left the queue; fails if it took over $2 s.
wait_gone() {
    local job=$1 limit=$2 start=$SECONDS
    while [[ -n $(squeue -h -j "$job" -o %i 2>/dev/null) ]]; do
        (( SECONDS - start < limit )) || { echo "job $job still queued after $limit s" >&2; squeue >&2; return 1; }
        sleep 1
    done
}
# The state Slurm recorded for job $1 (needs MinJobAge above the wait).
state_of() { scontrol show job "$1" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' | sort -u | tr '\n' ' '; }

# 1. The --quick matrix as an array job, against the single-process run.
phase=$SECONDS
"$rome_repro" --quick --out "$work/array" --runs-per-task 6 --slurm "$work/scripts" \
    --sbatch cpus-per-task=1 --sbatch time=0:20:00 >/dev/null 2>&1
submitted=$("$work/scripts/submit.sh")
echo "$submitted"
aggregate_job=$(sed -n 's/.*aggregate_job=\([0-9]*\).*/\1/p' <<<"$submitted")
array_job=$(sed -n 's/.*array_job=\([0-9]*\).*/\1/p' <<<"$submitted")
wait_gone "$aggregate_job" 600
[[ $(state_of "$aggregate_job") == "COMPLETED " ]] || { echo "aggregation: $(state_of "$aggregate_job")" >&2; exit 1; }
[[ $(state_of "$array_job") == "COMPLETED " ]] || { echo "array: $(state_of "$array_job")" >&2; exit 1; }
for file in summary.csv aggregate.csv; do
    cmp "$reference/$file" "$work/array/$file"
done
tasks=$(sed -n 's/^#SBATCH --array=0-\([0-9]*\)$/\1/p' "$work/scripts/array.sbatch")
echo "slurm: the --quick matrix as $((tasks + 1)) array tasks equals the single-process run (summary.csv, aggregate.csv), $((SECONDS - phase)) s"
phase=$SECONDS

# 2. A task requeued while it trains continues from its checkpoint to the same bytes.
matrix=$(realpath .ci/slurm_requeue.ron)
"$rome_repro" --config "$matrix" --out "$work/requeue" --slurm "$work/scripts2" \
    --sbatch cpus-per-task=1 --sbatch time=0:20:00 >/dev/null 2>&1
submitted=$("$work/scripts2/submit.sh")
array_job=$(sed -n 's/.*array_job=\([0-9]*\).*/\1/p' <<<"$submitted")
aggregate_job=$(sed -n 's/.*aggregate_job=\([0-9]*\).*/\1/p' <<<"$submitted")
# Task 0 under way: its run directory made, some updates done.
start=$SECONDS
until [[ -d $work/requeue/runs ]] && [[ -n $(ls -A "$work/requeue/runs" 2>/dev/null) ]]; do
    (( SECONDS - start < 120 )) || { echo "task 0 did not start" >&2; exit 1; }
    sleep 0.2
done
sleep 2
task0_job=$(scontrol show job "${array_job}_0" | sed -n 's/^JobId=\([0-9]*\) .*/\1/p')
scontrol requeue "${array_job}_0"
# Slurm holds a requeued job back for a while (its begin time moves on); let it start sooner,
# once its first instance is gone and a second has passed: slurmd refuses to launch a job whose
# begin time is not later than the second it revoked the job's credential in ("Job N already
# killed, do not launch batch job", and the task fails).
start=$SECONDS
until [[ $(state_of "${array_job}_0") == "PENDING " ]] && ! pgrep -f "slurmstepd: \[${task0_job}\." >/dev/null; do
    (( SECONDS - start < 120 )) || { echo "the requeued task did not go back to pending" >&2; exit 1; }
    sleep 0.2
done
sleep 2
scontrol update JobId="${array_job}_0" StartTime=now
echo "slurm: requeued task ${array_job}_0 while it trained, $((SECONDS - phase)) s"
start=$SECONDS
until ls "$work"/requeue/runs/*/checkpoint.bin >/dev/null 2>&1; do
    (( SECONDS - start < 60 )) || { echo "the requeued task left no checkpoint (had it finished before the requeue? then lengthen .ci/slurm_requeue.ron)" >&2; exit 1; }
    sleep 0.1
done
wait_gone "$aggregate_job" 600
[[ $(state_of "$aggregate_job") == "COMPLETED " ]] || { echo "aggregation: $(state_of "$aggregate_job")" >&2; exit 1; }
echo "slurm: the requeued task and the aggregation done, $((SECONDS - phase)) s"
restarts=$(scontrol show job "${array_job}_0" | sed -n 's/.*Restarts=\([0-9]*\).*/\1/p')
[[ ${restarts:-0} -ge 1 ]] || { echo "task 0 was not restarted (Restarts=$restarts)" >&2; exit 1; }
"$rome_repro" --config "$matrix" --out "$work/outside" --task 0 --quiet >/dev/null 2>&1
"$rome_repro" --config "$matrix" --out "$work/outside" --task 1 --quiet >/dev/null 2>&1
for run in "$work"/outside/runs/*; do
    name=$(basename "$run")
    cmp "$run/result.ron" "$work/requeue/runs/$name/result.ron"
    cmp "$run/metrics.csv" "$work/requeue/runs/$name/metrics.csv"
    [[ ! -e $work/requeue/runs/$name/checkpoint.bin ]] || { echo "$name kept its spent checkpoint" >&2; exit 1; }
done
[[ -f $work/requeue/summary.csv ]]
echo "slurm: the same task outside Slurm compared, $((SECONDS - phase)) s"
echo "slurm: checked on Slurm $(sinfo -V | cut -d' ' -f2): the --quick array equals one process byte for byte, and a task requeued mid-training (restarts: $restarts) resumed from its checkpoint to the same runs"
