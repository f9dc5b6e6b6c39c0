"""The same trajectories as the Rust `rollout` binary: the vector environment in same-step mode
(the runner's own autoreset), stepped with the binary's random policy, gives the checksums of
`experiments/tests/data/rollout_checksums.csv`, which the Rust test suite also asserts."""

import csv

import numpy as np
import pytest

import rome_sim

with open(__import__("conftest").REPO / "experiments/tests/data/rollout_checksums.csv") as f:
    ROWS = list(csv.DictReader(f))


def bits(flags):
    return (flags.astype(np.uint32) << np.arange(flags.shape[1], dtype=np.uint32)).sum(axis=1, dtype=np.uint32)


@pytest.mark.parametrize("row", ROWS, ids=[f"{r['env']}-{r['scenario']}" for r in ROWS])
def test_rollout_checksum(row):
    n, seed = int(row["envs"]), int(row["seed"])
    if row["env"] == "toycloud":
        env = rome_sim.ToyCloudVectorEnv(n, scenario=row["scenario"], autoreset_mode="same_step")
    else:
        env = rome_sim.CartPoleVectorEnv(n, autoreset_mode="same_step")
    env.reset(seed=seed)
    num_actions = env.single_action_space.n
    total = rome_sim.RolloutChecksum()
    for t in range(int(row["steps"])):
        obs, reward, terminated, truncated, info = env.step(rome_sim.rollout_random_actions(seed, t, n, num_actions))
        cost, violations, alerts = info["cost"], info["violations"], info["alerts"]
        if "final_info" in info:
            ended, final = info["_final_info"], info["final_info"]
            cost = np.where(ended, final["cost"], cost)
            violations = np.where(ended[:, None], final["violations"], violations)
            alerts = np.where(ended[:, None], final["alerts"], alerts)
        total.add_f32(obs.ravel())
        total.add_f32(reward.astype(np.float32))
        total.add_flags(terminated)
        total.add_flags(truncated)
        words = np.stack([bits(violations), cost.view(np.uint32), bits(alerts)], axis=1)
        total.add_words(words.ravel())
    assert total.hex() == row["checksum"]
