"""Stable-Baselines3 PPO on ToyCloud with settings that work, with and without a cost penalty,
against the exact optima.

    pip install stable-baselines3          # and sbx-rl for --algo sbx
    python sim-py/examples/sb3_ppo.py [--scenario pressure] [--seeds 1 2 3] [--penalties 0 1]
                                      [--timesteps 491520] [--algo ppo|sbx]

SB3's defaults do not find honest work on ToyCloud: a random policy almost never finishes a job,
so with a cost penalty PPO collapses to waiting. The settings here are the project's own PPO
settings (`experiments/configs/rome_repro.ron`) translated to SB3: 64 environments × 64 steps,
4 epochs of 4 minibatches, learning rate 5e-4 annealed linearly to 0, γ 0.99, GAE λ 0.95, clip
0.2, entropy 0.003, value coefficient 0.5, gradient norm 0.5, two tanh layers of 64 for actor
and critic, and the honest prior: the policy's `work` logit starts at 1 (its other logits at 0),
so the untrained greedy policy works on its task. SB3 clips the value differently from the
project's trainer (CleanRL's form), so value clipping is off.

Each run trains on the native vector environment through `rome_sim.sb3.NativeVecEnv` (penalised
runs on `reward - weight * cost`), then plays its greedy policy for `--eval-episodes` episodes on
fresh seeds (the first episodes of every environment, an unbiased sample) and reports the task
return, the ground-truth cost and the share of episodes with a violation, beside the exact
honest and unrestricted optima of the scenario (`rome_sim.toycloud_optima`).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import rome_sim
from rome_sim.sb3 import CostPenalty, NativeVecEnv


def settings(algo: str, seed: int, num_envs: int, steps: int) -> dict:
    """The project's PPO settings as SB3's keyword arguments."""
    kwargs = dict(
        n_steps=steps,
        batch_size=num_envs * steps // 4,
        n_epochs=4,
        learning_rate=lambda progress: 5e-4 * progress,
        gamma=0.99,
        gae_lambda=0.95,
        clip_range=0.2,
        ent_coef=0.003,
        vf_coef=0.5,
        max_grad_norm=0.5,
        normalize_advantage=True,
        seed=seed,
        verbose=0,
    )
    if algo == "ppo":
        import torch

        kwargs["policy_kwargs"] = dict(net_arch=dict(pi=[64, 64], vf=[64, 64]), activation_fn=torch.nn.Tanh)
    else:
        import flax.linen as nn

        kwargs["policy_kwargs"] = dict(net_arch=dict(pi=[64, 64], vf=[64, 64]), activation_fn=nn.tanh)
    return kwargs


def honest_prior(model, work: int, algo: str) -> None:
    """Starts the policy's `work` logit at 1: the bias of the action head."""
    if algo == "ppo":
        import torch

        with torch.no_grad():
            model.policy.action_net.bias.zero_()
            model.policy.action_net.bias[work] = 1.0
    else:
        # sbx keeps its parameters in a flax train state; the action head is the actor's last
        # dense layer.
        import jax.numpy as jnp

        params = model.policy.actor_state.params
        last = sorted(k for k in params["params"] if k.startswith("Dense"))[-1]
        bias = jnp.zeros_like(params["params"][last]["bias"]).at[work].set(1.0)
        params["params"][last]["bias"] = bias
        model.policy.actor_state = model.policy.actor_state.replace(params=params)


def evaluate(model, scenario, episodes: int, num_envs: int, seed: int) -> tuple[float, float, float, float]:
    """The greedy policy's mean task return (and its standard error), cost and violating share
    over the first ``ceil(episodes / num_envs)`` episodes of every environment. A per-environment
    quota keeps the sample unbiased: the first episodes to end anywhere are the short ones (small
    jobs), which would overstate the return (as the project's own evaluator,
    ``sim_agents::evaluate``)."""
    quota = -(-episodes // num_envs)
    env = NativeVecEnv("toycloud", num_envs, scenario)
    env.seed(seed)
    obs = env.reset()
    taken = np.zeros(num_envs, dtype=int)
    returns, costs, violating = [], [], []
    while (taken < quota).any():
        actions, _ = model.predict(obs, deterministic=True)
        obs, _, dones, infos = env.step(actions)
        for i in np.flatnonzero(dones):
            if taken[i] < quota:
                report = infos[i]["safety"]
                returns.append(float(report["return"]))
                costs.append(float(report["cost"]))
                violating.append(float(report["violation_steps"] > 0))
                taken[i] += 1
    standard_error = float(np.std(returns) / np.sqrt(len(returns)))
    return float(np.mean(returns)), standard_error, float(np.mean(costs)), float(np.mean(violating))


def train(algo: str, scenario, seed: int, penalty: float, timesteps: int, num_envs: int, steps: int):
    if algo == "ppo":
        from stable_baselines3 import PPO
    else:
        from sbx import PPO
    from stable_baselines3.common.vec_env import VecMonitor

    env = NativeVecEnv("toycloud", num_envs, scenario)
    env.seed(seed)
    env = VecMonitor(env)
    if penalty > 0:
        env = CostPenalty(env, penalty)
    model = PPO("MlpPolicy", env, **settings(algo, seed, num_envs, steps))
    honest_prior(model, env.get_attr("description")[0]["actions"].index("work"), algo)
    start = time.perf_counter()
    model.learn(total_timesteps=timesteps)
    return model, time.perf_counter() - start


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", default="pressure")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--penalties", type=float, nargs="+", default=[0.0, 1.0])
    ap.add_argument("--timesteps", type=int, default=491_520)
    ap.add_argument("--envs", type=int, default=64)
    ap.add_argument("--steps", type=int, default=64)
    ap.add_argument("--eval-episodes", type=int, default=8192)
    ap.add_argument("--algo", choices=["ppo", "sbx"], default="ppo")
    ap.add_argument("--no-optima", action="store_true", help="skip the exact solve (seconds to minutes)")
    args = ap.parse_args(argv)

    if not args.no_optima:
        optima = rome_sim.toycloud_optima(args.scenario)
        for name in ("honest", "unrestricted"):
            o = optima[name]
            print(
                f"exact {name} optimum on {args.scenario}: return {o['task_return']:.4f}, cost {o['cost']:.3f}, "
                f"violating share {o['violating_share']:.3f}"
            )
    rows = []
    print("algo  penalty  seed  return  (s.e.)   cost    violating  train_s")
    for penalty in args.penalties:
        for seed in args.seeds:
            model, seconds = train(args.algo, args.scenario, seed, penalty, args.timesteps, args.envs, args.steps)
            ret, se, cost, share = evaluate(model, args.scenario, args.eval_episodes, 256, 10_000 + seed)
            rows.append(dict(algo=args.algo, penalty=penalty, seed=seed, ret=ret, cost=cost, violating=share, seconds=seconds))
            print(
                f"{args.algo:5} {penalty:7.2f}  {seed:4}  {ret:6.3f}  ({se:.3f})  {cost:6.3f}  {share:9.3f}  {seconds:7.1f}",
                flush=True,
            )
    return rows


if __name__ == "__main__":
    main()
