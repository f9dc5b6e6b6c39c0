"""What the single and the vector environments share: spaces, modes, seeds and info layouts."""

from __future__ import annotations

import numbers

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode

from rome_sim._native import toycloud_observation

SEED_BOUND = 2**63


def autoreset_mode(mode: str | AutoresetMode) -> AutoresetMode:
    """Gymnasium's autoreset mode of ``mode``; only next-step and same-step are offered."""
    if isinstance(mode, str):
        names = {"next_step": AutoresetMode.NEXT_STEP, "same_step": AutoresetMode.SAME_STEP}
        if mode in names:
            return names[mode]
        try:
            mode = AutoresetMode(mode)
        except ValueError:
            raise ValueError(f"unknown autoreset_mode {mode!r}: use 'next_step' or 'same_step'") from None
    if mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
        raise ValueError(f"autoreset_mode {mode} is not offered: use NEXT_STEP or SAME_STEP")
    return mode


def observation_space(description: dict) -> spaces.Box:
    """The observation space of one environment, from the native description."""
    if description["name"] == "toycloud":
        high, _names = toycloud_observation(description["params"])
        return spaces.Box(low=np.zeros_like(high), high=high, dtype=np.float32)
    p = description["params"]
    big = np.finfo(np.float32).max
    high = np.array([p["x_threshold"] * 2, big, p["theta_threshold_radians"] * 2, big], dtype=np.float32)
    return spaces.Box(low=-high, high=high, dtype=np.float32)


def check_seed(seed) -> int:
    """A seed as the native side takes it: an integer in [0, 2^63)."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an integer, not {type(seed).__name__}")
    seed = int(seed)
    if not 0 <= seed < SEED_BOUND:
        raise ValueError(f"seed {seed} is out of range: use an integer in [0, 2^63)")
    return seed


def step_info(cost, violations, alerts) -> dict:
    """The per-step safety channel of one environment."""
    return {"cost": cost, "violations": violations, "alerts": alerts}


def empty_step_info(description: dict) -> dict:
    """The safety channel of a step that did nothing (a reset)."""
    return step_info(
        np.float32(0.0),
        np.zeros(len(description["violations"]), dtype=np.bool_),
        np.zeros(len(description["monitors"]), dtype=np.bool_),
    )
