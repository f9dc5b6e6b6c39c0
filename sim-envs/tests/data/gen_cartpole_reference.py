"""Records CartPole-v1 reference trajectories from Gymnasium for `tests/cartpole_reference.rs`.

Generated with gymnasium 1.3.0 and numpy 2.4.6 (Python 3.11):

    python3 -m venv /tmp/peers && /tmp/peers/bin/pip install gymnasium==1.3.0 numpy==2.4.6
    /tmp/peers/bin/python sim-envs/tests/data/gen_cartpole_reference.py > sim-envs/tests/data/cartpole_reference.csv

Each row is one step: the float64 state before it (Gymnasium keeps the state in float64), the
action, the float64 state after it, the float32 observation returned, the reward and the two
end flags. Episodes 0-5 take uniformly random actions (seeded numpy generators); episodes 6
and 7 are balanced by a proportional-derivative controller so that they reach the 500-step
time limit. States are printed with 17 significant digits, which round-trips float64 exactly.
"""
import sys

import gymnasium as gym
import numpy as np


def pd_action(obs):
    x, x_dot, theta, theta_dot = obs
    return int(theta + 0.5 * theta_dot + 0.01 * x + 0.05 * x_dot > 0)


def main():
    out = sys.stdout
    cols = ["episode", "t", "x", "x_dot", "theta", "theta_dot", "action",
            "next_x", "next_x_dot", "next_theta", "next_theta_dot",
            "obs_x", "obs_x_dot", "obs_theta", "obs_theta_dot", "reward", "terminated", "truncated"]
    out.write(",".join(cols) + "\n")
    for episode in range(8):
        env = gym.make("CartPole-v1")
        obs, _ = env.reset(seed=1000 + episode)
        rng = np.random.default_rng(episode)
        t = 0
        while True:
            before = np.array(env.unwrapped.state, dtype=np.float64)
            action = int(rng.integers(0, 2)) if episode < 6 else pd_action(obs)
            obs, reward, terminated, truncated, _ = env.step(action)
            after = np.array(env.unwrapped.state, dtype=np.float64)
            row = [str(episode), str(t)] + [repr(float(v)) for v in before] + [str(action)]
            row += [repr(float(v)) for v in after] + [repr(float(v)) for v in obs.astype(np.float32)]
            row += [repr(float(reward)), str(int(terminated)), str(int(truncated))]
            out.write(",".join(row) + "\n")
            t += 1
            if terminated or truncated:
                break


if __name__ == "__main__":
    main()
