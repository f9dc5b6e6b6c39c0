"""Env-steps per second from Python at 4096 environments, random actions drawn in NumPy and
counted: rome_sim's native vector environments against Gymnasium's own CartPoleVectorEnv, and,
with --rollout PATH (the Rust `rollout` binary), the same stepping without Python.

    python sim-py/bench/step_throughput.py [--envs 4096] [--steps 2000] [--rollout target/release/rollout]

Each row is the best of --repeats timed runs after a warm-up; the rows run one after another in
this process, so their ratios are side by side.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import time

import gymnasium
import numpy as np
from gymnasium.envs.classic_control.cartpole import CartPoleVectorEnv

import rome_sim


def python_rate(make, envs: int, steps: int, repeats: int) -> float:
    env = make(envs)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    n = env.single_action_space.n
    best = 0.0
    for r in range(repeats + 1):
        start = time.perf_counter()
        for _ in range(steps):
            env.step(rng.integers(0, n, size=envs, dtype=np.int32))
        elapsed = time.perf_counter() - start
        if r > 0:  # the first run warms up
            best = max(best, envs * steps / elapsed)
    env.close()
    return best


def rollout_rate(binary: str, env: str, envs: int, steps: int, repeats: int) -> float:
    best = 0.0
    for _ in range(repeats):
        out = subprocess.run(
            [binary, "--env", env, "--policy", "random", "--envs", str(envs), "--steps", str(steps)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        best = max(best, float(re.search(r"env-steps/s: (\d+)", out).group(1)))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--envs", type=int, default=4096)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rollout", help="path of the Rust rollout binary, for the native figure")
    args = ap.parse_args()
    rows = [
        ("rome_sim ToyCloudVectorEnv (incident, next-step)", lambda n: rome_sim.ToyCloudVectorEnv(n)),
        ("rome_sim ToyCloudVectorEnv (incident, same-step)", lambda n: rome_sim.ToyCloudVectorEnv(n, autoreset_mode="same_step")),
        ("rome_sim CartPoleVectorEnv (next-step)", lambda n: rome_sim.CartPoleVectorEnv(n)),
        ("gymnasium CartPoleVectorEnv (NumPy)", lambda n: CartPoleVectorEnv(num_envs=n)),
    ]
    print(f"envs: {args.envs}  steps per run: {args.steps}  best of {args.repeats}  cpus: {os.cpu_count()}")
    print(f"{'environment':<52} {'env-steps/s':>14}")
    for name, make in rows:
        print(f"{name:<52} {python_rate(make, args.envs, args.steps, args.repeats):>14,.0f}", flush=True)
    if args.rollout:
        for env in ["toycloud", "cartpole"]:
            rate = rollout_rate(args.rollout, env, args.envs, args.steps * 5, args.repeats)
            print(f"{'Rust rollout binary, ' + env + ' (no Python)':<52} {rate:>14,.0f}", flush=True)


if __name__ == "__main__":
    main()
