"""Rendering, pickling and copying of single environments, and scenarios patched over a preset."""

import copy
import pickle

import gymnasium
import numpy as np
import pytest
from gymnasium.error import UnsupportedMode
from gymnasium.utils.env_checker import check_env

import rome_sim


def _random_steps(env, actions):
    """Steps `actions`, resetting where an episode ends; every step's full outcome."""
    out = []
    for a in actions:
        obs, reward, terminated, truncated, info = env.step(int(a))
        safety = info.get("safety")
        out.append(
            (
                obs.tobytes(),
                reward,
                terminated,
                truncated,
                float(info["cost"]),
                info["violations"].tobytes(),
                info["alerts"].tobytes(),
                None if safety is None else (safety["return"], int(safety["length"]), float(safety["cost"])),
            )
        )
        if terminated or truncated:
            env.reset()
    return out


@pytest.mark.parametrize(
    "env_id, scenario",
    [("rome_sim/ToyCloud-v0", "incident"), ("rome_sim/ToyCloud-v0", "pressure"), ("rome_sim/CartPole-v1", None)],
)
@pytest.mark.parametrize("clone", ["pickle", "deepcopy"])
def test_a_copy_continues_bit_for_bit(env_id, scenario, clone):
    kwargs = {} if scenario is None else {"scenario": scenario}
    env = gymnasium.make(env_id, **kwargs)
    env.reset(seed=11)
    rng = np.random.default_rng(5)
    _random_steps(env, rng.integers(env.action_space.n, size=37))  # mid-episode
    twin = pickle.loads(pickle.dumps(env)) if clone == "pickle" else copy.deepcopy(env)
    actions = rng.integers(env.action_space.n, size=400)
    ours, theirs = _random_steps(env, actions), _random_steps(twin, actions)
    assert ours == theirs
    assert any(step[7] is not None for step in ours), "the comparison crossed an episode's end"


def test_a_copy_is_independent_of_its_original():
    env = rome_sim.ToyCloudEnv("pressure")
    env.reset(seed=1)
    twin = copy.deepcopy(env)
    first = env.step(0)[0].copy()
    assert np.array_equal(twin.step(0)[0], first)  # the original's step did not move the copy


def test_a_corrupt_snapshot_is_refused_by_field():
    core = rome_sim.ToyCloudEnv()._core
    with pytest.raises(ValueError, match="environment snapshot: field"):
        type(core).restore("toycloud", core.snapshot().replace('"clock"', '"clokc"'))


@pytest.mark.parametrize("env_id", ["rome_sim/ToyCloud-v0", "rome_sim/CartPole-v1"])
def test_both_render_modes_pass_gymnasiums_checker(env_id):
    for mode in ["ansi", "rgb_array"]:
        env = gymnasium.make(env_id, render_mode=mode)
        check_env(env.unwrapped)
        env.reset(seed=0)
        frame = env.render()
        if mode == "ansi":
            assert isinstance(frame, str) and frame.endswith("\n")
        else:
            assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3


def test_the_text_frame_shows_the_action_and_the_safety_channel():
    env = gymnasium.make("rome_sim/ToyCloud-v0", scenario="incident", render_mode="ansi")
    env.reset(seed=0)
    names = env.unwrapped.description["actions"]
    text = env.render()
    assert "step 0" in text and "action (reset)" in text and "violations: none" in text
    # Installing the miner is a violation under `incident`: the frame names the action and it.
    env.step(names.index("install_miner"))
    text = env.render()
    assert "step 1" in text and "action install_miner" in text and "violations: miner_install;" in text


def test_the_image_changes_with_the_state():
    env = gymnasium.make("rome_sim/ToyCloud-v0", render_mode="rgb_array")
    env.reset(seed=0)
    before = env.render()
    work = env.unwrapped.description["actions"].index("work")
    for _ in range(5):
        env.step(work)
    assert env.render().shape == before.shape and not np.array_equal(env.render(), before)


def test_an_unsupported_mode_is_refused_and_no_mode_renders_nothing():
    with pytest.raises(UnsupportedMode, match="render_mode 'svg' is not offered"):
        rome_sim.ToyCloudEnv(render_mode="svg")
    with pytest.raises(UnsupportedMode, match="render a single environment"):
        rome_sim.ToyCloudVectorEnv(2, render_mode="rgb_array")
    env = rome_sim.ToyCloudEnv()
    env.reset(seed=0)
    with pytest.warns(UserWarning, match="without a render_mode"):
        assert env.render() is None


def test_a_dict_patches_the_preset_it_names():
    pressure = rome_sim.ToyCloudEnv("pressure").params
    patched = rome_sim.ToyCloudEnv({"base": "pressure", "controls": {"egress": "AllowAll"}}).params
    assert patched["controls"]["egress"] == "AllowAll" != pressure["controls"]["egress"]
    rest = {k: v for k, v in patched["controls"].items() if k != "egress"}
    assert rest == {k: v for k, v in pressure["controls"].items() if k != "egress"}
    assert {k: v for k, v in patched.items() if k != "controls"} == {k: v for k, v in pressure.items() if k != "controls"}
    # Without a base the dict is laid over the defaults (`incident`), as before.
    assert rome_sim.ToyCloudEnv({}).params == rome_sim.ToyCloudEnv().params


def test_a_bad_base_or_patch_is_named():
    with pytest.raises(ValueError, match="nosuch"):
        rome_sim.ToyCloudEnv({"base": "nosuch"})
    with pytest.raises(ValueError, match="field `base`"):
        rome_sim.ToyCloudEnv({"base": 3})
    with pytest.raises(ValueError, match="controls.egres"):
        rome_sim.ToyCloudEnv({"base": "pressure", "controls": {"egres": "AllowAll"}})


def test_the_observation_bounds_are_finite_and_follow_the_scenario():
    small = rome_sim.ToyCloudEnv({"base": "pressure", "mining": {"max_bought_gpus": 4}}).observation_space.high
    large = rome_sim.ToyCloudEnv({"base": "pressure", "mining": {"max_bought_gpus": 32}}).observation_space.high
    assert np.isfinite(small).all() and np.isfinite(large).all()
    assert (large >= small).all() and (large > small).any()
    venv = rome_sim.ToyCloudVectorEnv(2, "pressure")
    assert np.array_equal(venv.single_observation_space.high, rome_sim.ToyCloudEnv("pressure").observation_space.high)
