"""rome_sim against Gymnasium's own code: its environment checker, and SyncVectorEnv over
single slot environments against the native vector environment."""

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode, SyncVectorEnv

import rome_sim

SCENARIOS = ["incident", "pressure", {"horizon": 12, "controls": {"egress": "AllowAll", "response": "Halt"}}]


@pytest.mark.parametrize("scenario", SCENARIOS[:2])
def test_check_env_toycloud(scenario):
    check_env(gymnasium.make("rome_sim/ToyCloud-v0", scenario=scenario).unwrapped, skip_render_check=True)


def test_check_env_cartpole():
    check_env(gymnasium.make("rome_sim/CartPole-v1").unwrapped, skip_render_check=True)


def test_make_gives_the_documented_spaces_and_modes():
    env = gymnasium.make("rome_sim/ToyCloud-v0", scenario="incident")
    assert isinstance(env.action_space, gymnasium.spaces.Discrete)
    assert isinstance(env.observation_space, gymnasium.spaces.Box)
    obs, info = env.reset(seed=0)
    assert obs.dtype == np.float32 and obs in env.observation_space
    assert info["cost"] == 0 and not info["violations"].any()
    vec = gymnasium.make_vec("rome_sim/ToyCloud-v0", num_envs=8, vectorization_mode="vector_entry_point")
    assert isinstance(vec, rome_sim.ToyCloudVectorEnv)
    assert vec.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    same = rome_sim.ToyCloudVectorEnv(8, autoreset_mode="same_step")
    assert same.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP


def assert_same(a, b, where):
    """Equal values, dtypes and shapes, recursively through info dicts; a key missing on one
    side must be all-masked on the other."""
    if isinstance(a, dict) or isinstance(b, dict):
        assert isinstance(a, dict) and isinstance(b, dict), where
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                present = a if key in a else b
                mask = present.get(f"_{key}") if not key.startswith("_") else present[key]
                assert mask is not None and not np.any(mask), f"{where}.{key} only on one side"
                continue
            assert_same(a[key], b[key], f"{where}.{key}")
        return
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype == object:
        assert b.dtype == object and a.shape == b.shape, where
        for i, (x, y) in enumerate(zip(a, b)):
            assert (x is None) == (y is None), f"{where}[{i}]"
            if x is not None:
                assert_same(x, y, f"{where}[{i}]")
        return
    assert a.dtype == b.dtype, f"{where}: {a.dtype} vs {b.dtype}"
    assert a.shape == b.shape, f"{where}: {a.shape} vs {b.shape}"
    assert np.array_equal(a, b), f"{where}: {a} vs {b}"


def compare(env_id, scenario, mode, n=16, steps=2000, seed=5):
    kwargs = {} if scenario is None else {"scenario": scenario}
    native = gymnasium.make_vec(
        env_id, num_envs=n, vectorization_mode="vector_entry_point", autoreset_mode=mode, **kwargs
    )
    sync = SyncVectorEnv(
        [lambda i=i: gymnasium.make(env_id, slot=i, autoreset_mode=mode, **kwargs) for i in range(n)],
        autoreset_mode=AutoresetMode(mode),
    )
    for name, a, b in zip(["obs", "info"], native.reset(seed=seed), sync.reset(seed=[seed] * n)):
        assert_same(a, b, f"reset: {name}")
    rng = np.random.default_rng(seed)
    ends = 0
    for t in range(steps):
        actions = rng.integers(0, native.single_action_space.n, size=n)
        out_native, out_sync = native.step(actions), sync.step(actions)
        for name, a, b in zip(["obs", "reward", "terminated", "truncated", "info"], out_native, out_sync):
            assert_same(a, b, f"step {t}: {name}")
        ends += int(np.sum(out_native[2] | out_native[3]))
    return ends


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
@pytest.mark.parametrize("scenario", range(len(SCENARIOS)))
def test_native_vector_equals_sync_vector_over_slots_toycloud(mode, scenario):
    ends = compare("rome_sim/ToyCloud-v0", SCENARIOS[scenario], mode.value)
    assert ends >= 16 * 40, f"only {ends} episode ends: autoresets are not exercised"


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_native_vector_equals_sync_vector_over_slots_cartpole(mode):
    ends = compare("rome_sim/CartPole-v1", None, mode.value, steps=1500)
    assert ends >= 16 * 20, f"only {ends} episode ends"


def test_seeding_is_by_seed_and_slot():
    vec = rome_sim.ToyCloudVectorEnv(6)
    obs, _ = vec.reset(seed=11)
    for slot in range(6):
        single = rome_sim.ToyCloudEnv(slot=slot)
        assert np.array_equal(single.reset(seed=11)[0], obs[slot])
    again, _ = vec.reset(seed=11)
    assert np.array_equal(again, obs)
    other, _ = vec.reset(seed=12)
    assert not np.array_equal(other, obs)
    with pytest.raises(ValueError, match="same for all"):
        vec.reset(seed=list(range(6)))


def test_the_safety_channel_makes_a_penalty_one_line():
    vec = rome_sim.ToyCloudVectorEnv(256, scenario="incident")
    vec.reset(seed=1)
    rng = np.random.default_rng(1)
    total_cost, reports, episode_cost = 0.0, 0, 0.0
    for _ in range(200):
        _, reward, _, _, info = vec.step(rng.integers(0, vec.single_action_space.n, size=256))
        penalised = reward - 0.5 * info["cost"]
        assert penalised.shape == (256,)
        total_cost += float(info["cost"].sum())
        if "safety" in info:
            ended = info["_safety"]
            reports += int(ended.sum())
            episode_cost += float(info["safety"]["cost"][ended].sum())
            assert (info["safety"]["violations"][ended].sum(axis=1) > 0).any()
    assert reports > 256 and total_cost > 0
    # Every report's cost is the sum of its steps' costs; episodes still running hold the rest.
    assert episode_cost <= total_cost + 1e-3
