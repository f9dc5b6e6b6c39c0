"""Stable-Baselines3's ``VecEnv`` over the native vector environments (needs
``stable-baselines3``; ``import rome_sim`` does not import this module).

SB3's algorithms take a ``VecEnv``, not a Gymnasium vector environment, so the fast native
environments need this adapter::

    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecMonitor
    from rome_sim.sb3 import NativeVecEnv

    env = VecMonitor(NativeVecEnv("toycloud", num_envs=64, scenario="pressure"))
    PPO("MlpPolicy", env).learn(200_000)

The native environment runs in same-step autoreset mode, which is SB3's convention: a
``done`` step returns the next episode's first observation, with the last one in
``infos[i]["terminal_observation"]`` and ``infos[i]["TimeLimit.truncated"]`` set where the
episode was cut by the step limit. Each ``infos[i]`` carries the safety channel as a single
environment's ``info`` does: ``cost``, ``violations``, ``alerts``, and at an episode's end
``safety``, its report.

Seeding: ``seed(s)`` (SB3 gives environment ``i`` the seed ``s + i``) keys the whole batch by
``s``: slot ``i`` draws what slot ``i`` of ``ToyCloudVectorEnv`` reset with ``seed=s`` draws,
so a run is reproducible, but its slots do not draw what ``DummyVecEnv`` over single
environments seeded ``s + i`` would.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvWrapper

from rome_sim.vector import CartPoleVectorEnv, ToyCloudVectorEnv

_ENVIRONMENTS = {"toycloud": ToyCloudVectorEnv, "cartpole": CartPoleVectorEnv}


class NativeVecEnv(VecEnv):
    """``num_envs`` native environments (``"toycloud"`` or ``"cartpole"``) as an SB3 ``VecEnv``.

    ``scenario``, ``draw`` and ``num_threads`` are those of :class:`rome_sim.ToyCloudVectorEnv`.
    """

    def __init__(self, env: str = "toycloud", num_envs: int = 8, scenario=None, *, draw=None, num_threads=None):
        if env not in _ENVIRONMENTS:
            raise ValueError(f"unknown environment {env!r}: use one of {sorted(_ENVIRONMENTS)}")
        self.venv = _ENVIRONMENTS[env](
            num_envs, scenario, draw=draw, autoreset_mode="same_step", num_threads=num_threads
        )
        self.render_mode = None
        super().__init__(num_envs, self.venv.single_observation_space, self.venv.single_action_space)
        self._actions = None

    @property
    def description(self) -> dict:
        """The native description: spaces, action, violation and monitor names, parameters."""
        return self.venv.description

    def reset(self):
        seed = self._seeds[0]
        obs, _ = self.venv.reset(seed=seed)
        self._reset_seeds()
        self.reset_infos = [{} for _ in range(self.num_envs)]
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self):
        obs, rewards, terminated, truncated, info = self.venv.step(self._actions)
        dones = terminated | truncated
        infos = [_info_of(info, i) for i in range(self.num_envs)]
        if dones.any():
            final, final_obs = info["final_info"], info["final_obs"]
            for i in np.flatnonzero(dones):
                infos[i] = _info_of(final, i)
                infos[i]["terminal_observation"] = final_obs[i]
                infos[i]["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
        return obs, rewards.astype(np.float32), dones, infos

    def close(self) -> None:
        self.venv.close()

    # The batch is one native object: attributes and methods are those of the whole batch,
    # given once per environment as SB3 expects.
    def get_attr(self, attr_name: str, indices=None) -> list[Any]:
        value = getattr(self, attr_name) if attr_name == "render_mode" else getattr(self.venv, attr_name)
        return [value for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices=None) -> None:
        raise AttributeError(f"NativeVecEnv's environments share one native batch: {attr_name!r} cannot be set per environment")

    def env_method(self, method_name: str, *method_args, indices=None, **method_kwargs) -> list[Any]:
        raise AttributeError(f"NativeVecEnv's environments share one native batch: no per-environment {method_name!r}")

    def env_is_wrapped(self, wrapper_class, indices=None) -> list[bool]:
        return [False for _ in self._get_indices(indices)]


def _info_of(info: dict, i: int) -> dict:
    """Environment ``i``'s share of a vector ``info`` (Gymnasium's masked-array layout)."""
    out = {"cost": info["cost"][i], "violations": info["violations"][i], "alerts": info["alerts"][i]}
    if "safety" in info and info["_safety"][i]:
        out["safety"] = {key: value[i] for key, value in info["safety"].items() if not key.startswith("_")}
    return out


class CostPenalty(VecEnvWrapper):
    """Trains on ``reward - weight * info["cost"]`` (the ground-truth cost of each step, from the
    safety channel); the infos keep the task reward's safety channel unchanged, so
    ``VecMonitor`` placed *inside* this wrapper reports the task return."""

    def __init__(self, venv: VecEnv, weight: float):
        if not np.isfinite(weight) or weight < 0:
            raise ValueError(f"cost penalty weight {weight!r}: use a finite number >= 0")
        super().__init__(venv)
        self.weight = float(weight)

    def reset(self):
        return self.venv.reset()

    def step_wait(self):
        obs, rewards, dones, infos = self.venv.step_wait()
        cost = np.array([float(info["cost"]) for info in infos], dtype=np.float32)
        return obs, rewards - self.weight * cost, dones, infos
