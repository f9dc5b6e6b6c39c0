#!/usr/bin/env bash
# Samples per second of every algorithm on one shape and the same cores: ToyCloud `pressure`,
# 64 environments x 28 steps (its horizon), 4 epochs of 4 minibatches, 100 updates, with PPO's
# settings from experiments/configs/toycloud_ppo.ron otherwise; two rounds, interleaved, so the
# ratios are measured side by side. Writes CSV to stdout.
#
#   bash benches/algorithms_sps.sh > sps.csv
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p experiments --bin train --quiet
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "round,algorithm,kernel,sps,wall_seconds"
for round in 1 2; do
    for spec in "Ppo|Auto" "Ppo|Burn" "PpoKl(beta: 0.01)|Auto" "Reinforce|Auto" \
        "Grpo(group_size: 8, beta: 0.0)|Auto" "Grpo(group_size: 8, beta: 0.05)|Auto" \
        "Rloo(group_size: 8, beta: 0.0)|Auto"; do
        algorithm=${spec%|*}
        kernel=${spec#*|}
        sed -e 's/ToyCloudScenario("incident")/ToyCloudScenario("pressure")/' \
            -e 's/num_steps: 64,/num_steps: 28,/' \
            -e "s/total_timesteps: 491520,/total_timesteps: 179200, algorithm: $algorithm, kernel: $kernel,/" \
            experiments/configs/toycloud_ppo.ron > "$tmp/config.ron"
        rm -rf "$tmp/run"
        out=$(target/release/train --config "$tmp/config.ron" --seed 1 --out "$tmp/run")
        sps=$(echo "$out" | awk '/^sps:/ {print $2}')
        wall=$(echo "$out" | awk '/^wall_seconds:/ {print $2}')
        echo "$round,\"$algorithm\",$kernel,$sps,$wall"
    done
done
