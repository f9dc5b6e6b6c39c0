"""Single Gymnasium environments: one slot of the batched runner, stepped alone.

``slot=i`` makes the environment draw exactly what slot ``i`` of a Rust ``BatchRunner`` (or
of :class:`rome_sim.ToyCloudVectorEnv`) with the same seed draws: the library derives each
slot's key from ``(seed, slot)``, not from ``seed + i`` as Gymnasium's vector environments
seed their members. So ``SyncVectorEnv`` over slots ``0..n``, reset with ``seed=[s] * n``,
equals the native vector environment reset with ``seed=s``, in the same ``autoreset_mode``.
"""

from __future__ import annotations

import numbers

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from rome_sim import _spaces
from rome_sim._native import SlotCore


class _SlotEnv(gym.Env):
    _env = ""
    metadata = {"render_modes": []}

    def __init__(self, scenario=None, *, slot: int = 0, draw: int | None = None, autoreset_mode="next_step", render_mode=None):
        if render_mode is not None:
            raise ValueError(f"render_mode {render_mode!r} is not offered: {type(self).__name__} does not render")
        if isinstance(slot, bool) or not isinstance(slot, numbers.Integral) or slot < 0:
            raise ValueError(f"slot must be a non-negative integer, not {slot!r}")
        mode = _spaces.autoreset_mode(autoreset_mode)
        self._core = SlotCore(self._env, scenario, int(slot), 0, mode.value, draw)
        self.description = self._core.describe()
        self.slot = int(slot)
        self.action_space = spaces.Discrete(self.description["num_actions"])
        self.observation_space = _spaces.observation_space(self.description)
        self._seeded = False

    @property
    def params(self) -> dict:
        """The environment's parameters (validated), as a dict."""
        return self.description["params"]

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if options:
            raise ValueError(f"{type(self).__name__}.reset takes no options, got {sorted(options)}")
        if seed is not None:
            core_seed = _spaces.check_seed(seed)
        elif not self._seeded:
            core_seed = int(self.np_random.integers(_spaces.SEED_BOUND))
        else:
            core_seed = None
        self._seeded = True
        obs = self._core.reset(core_seed)
        return obs, _spaces.empty_step_info(self.description)

    def step(self, action):
        if not self._seeded:
            raise RuntimeError("call reset() before step()")
        if isinstance(action, np.ndarray) and action.shape == ():
            action = action.item()
        if isinstance(action, bool) or not isinstance(action, numbers.Integral):
            raise TypeError(f"action must be an integer in 0..{self.action_space.n}, not {action!r}")
        obs, reward, terminated, truncated, cost, violations, alerts, report = self._core.step(int(action))
        info = _spaces.step_info(np.float32(cost), violations, alerts)
        if report is not None:
            info["safety"] = _report(report)
        return obs, reward, terminated, truncated, info


def _report(r) -> dict:
    ret, length, cost, violation_steps, first_violation, first_alert, violations, alerts, detections = r
    return {
        "return": float(ret),
        "length": np.int32(length),
        "cost": np.float32(cost),
        "violation_steps": np.int32(violation_steps),
        "first_violation": np.int32(first_violation),
        "first_alert": np.int32(first_alert),
        "violations": violations,
        "alerts": alerts,
        "detections": detections,
    }


class ToyCloudEnv(_SlotEnv):
    """ToyCloud as a single Gymnasium environment.

    ``scenario``: a preset name (default ``"incident"``; see :func:`rome_sim.toycloud_presets`),
    a RON file path, a scenario-space file with ``draw=``, or a dict of the scenario's fields.
    ``info["cost"]`` is the ground-truth cost of the step; ``info["violations"]`` and
    ``info["alerts"]`` flag each violation kind and monitor (names in ``description``); at an
    episode's end ``info["safety"]`` is its safety report (counts per kind and monitor, first
    violation and alert steps, -1 where none).
    """

    _env = "toycloud"


class CartPoleEnv(_SlotEnv):
    """CartPole-v1 (the project's Rust implementation, checked against Gymnasium's)."""

    _env = "cartpole"
