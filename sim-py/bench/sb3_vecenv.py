"""Stable-Baselines3 over ToyCloud: its ``DummyVecEnv`` of single environments against
``rome_sim.sb3.NativeVecEnv``, side by side in one process.

    python sim-py/bench/sb3_vecenv.py [--envs 64] [--steps 2000] [--ppo-steps 65536] [--repeats 3]

Two rows per vector environment: stepping alone (random actions from NumPy, SB3's ``step``
with its per-environment info dicts, env-steps/s) and SB3 PPO end to end (``learn``, the
recipe's settings, env-steps/s). Each is the best of ``--repeats`` runs after a warm-up; the rows
alternate, so their ratios are measured side by side.
"""

from __future__ import annotations

import argparse
import time

import gymnasium
import numpy as np
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import DummyVecEnv

import rome_sim  # noqa: F401  (registers the environments)
from rome_sim.sb3 import NativeVecEnv


def make(kind: str, n: int):
    if kind == "DummyVecEnv":
        return DummyVecEnv([lambda: gymnasium.make("rome_sim/ToyCloud-v0", scenario="pressure") for _ in range(n)])
    return NativeVecEnv("toycloud", n, "pressure", num_threads=1)


def stepping(kind: str, n: int, steps: int) -> float:
    env = make(kind, n)
    env.seed(0)
    env.reset()
    actions = np.random.default_rng(0).integers(env.action_space.n, size=(steps, n))
    start = time.perf_counter()
    for a in actions:
        env.step(a)
    return n * steps / (time.perf_counter() - start)


def ppo(kind: str, n: int, total: int) -> float:
    env = make(kind, n)
    model = PPO("MlpPolicy", env, n_steps=64, batch_size=n * 64 // 4, n_epochs=4, seed=0, device="cpu")
    start = time.perf_counter()
    model.learn(total_timesteps=total)
    return total / (time.perf_counter() - start)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--envs", type=int, default=64)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--ppo-steps", type=int, default=65536)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    kinds = ["DummyVecEnv", "NativeVecEnv"]
    for kind in kinds:  # warm-up
        stepping(kind, args.envs, 50)
    best = {(k, what): 0.0 for k in kinds for what in ("stepping", "ppo")}
    for _ in range(args.repeats):
        for kind in kinds:
            best[(kind, "stepping")] = max(best[(kind, "stepping")], stepping(kind, args.envs, args.steps))
            best[(kind, "ppo")] = max(best[(kind, "ppo")], ppo(kind, args.envs, args.ppo_steps))
    print(f"ToyCloud pressure, {args.envs} environments, 1 thread for torch and the native environment")
    print("what,vec_env,env_steps_per_s")
    for (kind, what), rate in best.items():
        print(f"{what},{kind},{rate:.0f}")
    for what in ("stepping", "ppo"):
        ratio = best[("NativeVecEnv", what)] / best[("DummyVecEnv", what)]
        print(f"{what}: NativeVecEnv / DummyVecEnv = {ratio:.2f}x")


if __name__ == "__main__":
    main()
