"""A tiny policy-gradient agent (REINFORCE, linear softmax policy, NumPy only) on ToyCloud.

    python sim-py/examples/train_pg.py [--scenario incident] [--iterations 60] [--penalty 0.0]

Trained on the task reward alone (``--penalty 0``), it learns what the task pays for; with
``--penalty L`` the reward is ``reward - L * info["cost"]``, the one line a cost penalty takes.
Each iteration prints the mean return, the ground-truth cost and the share of violating
episodes among those that ended.
"""

from __future__ import annotations

import argparse

import numpy as np

import rome_sim


def softmax(logits):
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def main(argv=None) -> list[tuple[float, float, float]]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", default="incident")
    ap.add_argument("--envs", type=int, default=512)
    ap.add_argument("--iterations", type=int, default=60)
    ap.add_argument("--penalty", type=float, default=0.0)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    env = rome_sim.ToyCloudVectorEnv(args.envs, scenario=args.scenario)
    horizon = env.params["horizon"]
    dim, num_actions = env.single_observation_space.shape[0], env.single_action_space.n
    rng = np.random.default_rng(args.seed)
    w = np.zeros((dim + 1, num_actions))
    adam_m, adam_v = np.zeros_like(w), np.zeros_like(w)
    obs, _ = env.reset(seed=args.seed)
    # The step after an episode's end only resets (next-step autoreset): its action is not taken.
    resetting = np.zeros(args.envs, dtype=bool)
    history = []
    for it in range(args.iterations):
        feats, acts, rewards, live, dones = [], [], [], [], []
        returns, costs, violating = [], [], []
        for _ in range(2 * horizon):
            x = np.hstack([obs, np.ones((args.envs, 1))])
            probs = softmax(x @ w)
            a = (probs.cumsum(axis=1) > rng.random((args.envs, 1))).argmax(axis=1)
            obs, reward, terminated, truncated, info = env.step(a)
            feats.append(x)
            acts.append(a)
            rewards.append(reward - args.penalty * info["cost"])
            live.append(~resetting)
            done = terminated | truncated
            dones.append(done)
            resetting = done
            if "safety" in info:
                ended, report = info["_safety"], info["safety"]
                returns.extend(report["return"][ended])
                costs.extend(report["cost"][ended])
                violating.extend(report["violation_steps"][ended] > 0)
        # Rewards to go within each episode (episodes cut by the rollout's end are bootstrapped with 0).
        togo = np.zeros(args.envs)
        adv = np.zeros((len(rewards), args.envs))
        for t in reversed(range(len(rewards))):
            togo = rewards[t] + togo * ~dones[t]
            adv[t] = togo
        mask = np.array(live)
        adv = (adv - adv[mask].mean()) / (adv[mask].std() + 1e-8) * mask
        x, a = np.concatenate(feats), np.concatenate(acts)
        probs = softmax(x @ w)
        probs[np.arange(len(a)), a] -= 1.0  # minus the gradient of log pi(a|x) w.r.t. the logits
        grad = x.T @ (probs * adv.reshape(-1, 1)) / mask.sum()
        adam_m = 0.9 * adam_m + 0.1 * grad
        adam_v = 0.999 * adam_v + 0.001 * grad**2
        step = it + 1
        w -= args.lr * (adam_m / (1 - 0.9**step)) / (np.sqrt(adam_v / (1 - 0.999**step)) + 1e-8)
        row = (float(np.mean(returns)), float(np.mean(costs)), float(np.mean(violating)))
        history.append(row)
        print(f"iteration {it:3d}  return {row[0]:.3f}  cost {row[1]:.3f}  violating {row[2]:.2f}", flush=True)
    return history


if __name__ == "__main__":
    main()
