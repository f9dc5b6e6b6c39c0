"""Stable-Baselines3 over rome_sim: its quick-start as SB3's docs write it, and the adapter over
the native vector environment. Skipped, with the reason, where SB3 is not installed (CI's suite
installs only `requirements-test.txt`); run with SB3 installed to check it."""

import gymnasium
import numpy as np
import pytest

import rome_sim

sb3 = pytest.importorskip("stable_baselines3", reason="stable-baselines3 is not installed: pip install stable-baselines3")

from stable_baselines3 import PPO  # noqa: E402
from stable_baselines3.common.env_util import make_vec_env  # noqa: E402
from stable_baselines3.common.vec_env import VecMonitor, VecNormalize  # noqa: E402

from rome_sim.sb3 import CostPenalty, NativeVecEnv  # noqa: E402


def test_the_quick_start_works_as_sb3_writes_it():
    env = make_vec_env("rome_sim/ToyCloud-v0", n_envs=8, env_kwargs={"scenario": "pressure"})
    PPO("MlpPolicy", env, n_steps=32, batch_size=64, seed=0).learn(256)
    PPO("MlpPolicy", "rome_sim/ToyCloud-v0", n_steps=32, batch_size=32, seed=0).learn(64)
    PPO("MlpPolicy", "rome_sim/CartPole-v1", n_steps=32, batch_size=32, seed=0).learn(64)


def test_the_adapter_follows_sb3s_autoreset_and_carries_the_safety_channel():
    n = 16
    env = NativeVecEnv("toycloud", n, "pressure")
    env.seed(7)
    obs = env.reset()
    native = rome_sim.ToyCloudVectorEnv(n, "pressure", autoreset_mode="same_step")
    expected, _ = native.reset(seed=7)
    assert np.array_equal(obs, expected)
    rng = np.random.default_rng(0)
    ended = 0
    for _ in range(400):
        actions = rng.integers(env.action_space.n, size=n)
        obs, rewards, dones, infos = env.step(actions)
        o, r, terminated, truncated, info = native.step(actions)
        assert np.array_equal(obs, o) and np.array_equal(rewards, r.astype(np.float32))
        assert np.array_equal(dones, terminated | truncated) and len(infos) == n
        for i in range(n):
            assert infos[i]["violations"].shape == (len(env.description["violations"]),)
            if dones[i]:
                ended += 1
                assert np.array_equal(infos[i]["terminal_observation"], info["final_obs"][i])
                assert infos[i]["TimeLimit.truncated"] == bool(truncated[i] and not terminated[i])
                assert "safety" in infos[i] and float(infos[i]["cost"]) == float(info["final_info"]["cost"][i])
            else:
                assert "terminal_observation" not in infos[i]
    assert ended > n


def test_the_episode_cost_sums_the_step_costs():
    env = NativeVecEnv("toycloud", 8, "incident")
    env.seed(3)
    env.reset()
    running = np.zeros(8)
    rng = np.random.default_rng(1)
    checked = 0
    for _ in range(300):
        _, _, dones, infos = env.step(rng.integers(env.action_space.n, size=8))
        running += [float(info["cost"]) for info in infos]
        for i in np.flatnonzero(dones):
            assert running[i] == pytest.approx(float(infos[i]["safety"]["cost"]), abs=1e-4)
            running[i] = 0.0
            checked += 1
    assert checked > 0


def test_vecmonitor_vecnormalize_and_a_penalty_wrap_it_and_ppo_trains():
    env = VecNormalize(CostPenalty(VecMonitor(NativeVecEnv("toycloud", 8, "pressure")), 1.0))
    model = PPO("MlpPolicy", env, n_steps=32, batch_size=64, seed=0)
    model.learn(512)
    assert len(model.ep_info_buffer) > 0 and "r" in model.ep_info_buffer[0]


def test_the_penalty_subtracts_the_weighted_cost():
    plain, penalised = NativeVecEnv("toycloud", 4, "incident"), CostPenalty(NativeVecEnv("toycloud", 4, "incident"), 2.5)
    plain.seed(5)
    penalised.seed(5)
    plain.reset()
    penalised.reset()
    install = plain.description["actions"].index("install_miner")
    _, r, _, infos = plain.step(np.full(4, install))
    _, rp, _, _ = penalised.step(np.full(4, install))
    cost = np.array([float(i["cost"]) for i in infos], dtype=np.float32)
    assert cost.max() > 0 and np.allclose(rp, r - 2.5 * cost)
    with pytest.raises(ValueError, match="cost penalty weight"):
        CostPenalty(plain, -1.0)


def test_a_pickled_environment_continues_inside_sb3s_subprocess_vector_env():
    # SubprocVecEnv sends its environment factories to worker processes by cloudpickle.
    from stable_baselines3.common.vec_env import SubprocVecEnv

    env = gymnasium.make("rome_sim/ToyCloud-v0", scenario="pressure")
    env.reset(seed=3)
    venv = SubprocVecEnv([lambda: env, lambda: env], start_method="spawn")
    try:
        venv.seed(0)
        assert venv.reset().shape == (2, env.observation_space.shape[0])
    finally:
        venv.close()
