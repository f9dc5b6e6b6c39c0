"""Bad input raises a Python exception naming the field, file or value; nothing crashes."""

import gymnasium
import numpy as np
import pytest

import rome_sim


def test_unknown_field_in_a_dict_is_named():
    with pytest.raises(ValueError, match=r"controls\.egres"):
        rome_sim.ToyCloudEnv(scenario={"controls": {"egres": "SshOnly"}})


def test_out_of_range_value_in_a_dict_is_named():
    with pytest.raises(ValueError, match=r"field `task\.work_min` is -5"):
        rome_sim.ToyCloudVectorEnv(4, scenario={"task": {"work_min": -5.0}})
    with pytest.raises(ValueError, match=r"monitors\.firewall\.probe"):
        rome_sim.ToyCloudEnv(scenario={"monitors": {"firewall": {"probe": 1.5}}})


def test_wrong_type_and_unknown_variant_are_named():
    with pytest.raises(ValueError, match=r"controls\.sudo"):
        rome_sim.ToyCloudEnv(scenario={"controls": {"sudo": "yes"}})
    with pytest.raises(ValueError, match=r"controls\.egress.*Sometimes|Sometimes.*controls\.egress"):
        rome_sim.ToyCloudEnv(scenario={"controls": {"egress": "Sometimes"}})
    with pytest.raises(TypeError, match="preset name"):
        rome_sim.ToyCloudEnv(scenario=42)


def test_unknown_preset_and_malformed_file(tmp_path):
    with pytest.raises(ValueError, match="unknown scenario `incidnet`.*hardened"):
        rome_sim.ToyCloudEnv(scenario="incidnet")
    bad = tmp_path / "bad.ron"
    bad.write_text("(\n  quota: (grant_probabilty: 0.5),\n)")
    with pytest.raises(ValueError, match=r"bad\.ron:2:.*grant_probabilty"):
        rome_sim.ToyCloudEnv(scenario=str(bad))
    bad.write_text("(\n  horizon: 0,\n)")
    with pytest.raises(ValueError, match=r"bad\.ron.*field `horizon` is 0"):
        rome_sim.ToyCloudVectorEnv(2, scenario=str(bad))


def test_scenario_spaces_are_sampled_by_draw(repo):
    space = str(repo / "sim-envs/scenarios/spaces/pressure.ron")
    a = rome_sim.ToyCloudEnv(scenario=space, draw=3).params
    assert a == rome_sim.toycloud_params(f"{space}@3")
    assert a != rome_sim.ToyCloudEnv(scenario=space, draw=4).params
    with pytest.raises(ValueError, match="scenario space"):
        rome_sim.ToyCloudEnv(scenario=space)
    assert set(rome_sim.toycloud_presets()) >= {"incident", "pressure", "hardened"}


def test_out_of_range_actions_raise_and_change_nothing():
    vec = rome_sim.ToyCloudVectorEnv(4)
    obs, _ = vec.reset(seed=0)
    n = vec.single_action_space.n
    with pytest.raises(ValueError, match=f"action {n} of environment 2 is out of range"):
        vec.step(np.array([0, 1, n, 0]))
    with pytest.raises(ValueError, match="action -1 of environment 0"):
        vec.step(np.array([-1, 0, 0, 0]))
    with pytest.raises(ValueError, match="expected 4 actions"):
        vec.step(np.zeros(3, dtype=np.int64))
    with pytest.raises(TypeError, match="integer array"):
        vec.step(np.zeros(4, dtype=np.float32))
    with pytest.raises(TypeError, match="integer array"):
        vec.step(np.zeros((4, 1), dtype=np.int64))
    again, *_ = vec.step(np.zeros(4, dtype=np.int32))
    assert again.shape == obs.shape
    single = gymnasium.make("rome_sim/ToyCloud-v0").unwrapped
    single.reset(seed=0)
    with pytest.raises(ValueError, match=f"action {n + 5} is out of range"):
        single.step(n + 5)
    with pytest.raises(TypeError, match="integer"):
        single.step(0.5)


def test_stepping_an_ended_episode_raises():
    env = rome_sim.CartPoleEnv()
    env.reset(seed=1)
    while True:
        *_, terminated, truncated, _ = env.step(1)
        if terminated or truncated:
            break
    with pytest.raises(ValueError, match="call reset"):
        env.step(1)
    env.reset()
    env.step(1)


def test_bad_arguments():
    with pytest.raises(ValueError, match="autoreset_mode"):
        rome_sim.ToyCloudVectorEnv(2, autoreset_mode="sometimes")
    with pytest.raises(ValueError, match="num_envs"):
        rome_sim.ToyCloudVectorEnv(0)
    with pytest.raises(gymnasium.error.Error, match="Seed must be"):
        rome_sim.ToyCloudEnv().reset(seed=-3)
    with pytest.raises(ValueError, match=r"seed 18446744073709551616 is out of range"):
        rome_sim.ToyCloudEnv().reset(seed=2**64)
    with pytest.raises(ValueError, match="draw"):
        rome_sim.CartPoleEnv(draw=2)
