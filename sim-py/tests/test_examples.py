"""The examples run end to end (shortened), and the policy-gradient loop learns the task."""

import importlib.util

import numpy as np

from conftest import REPO


def load(name):
    spec = importlib.util.spec_from_file_location(name, REPO / "sim-py/examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_policies_example_orders_the_policies():
    policies = load("policies")
    ret_random, _, _ = policies.evaluate("incident", policies.random, 128)
    ret_honest, cost_honest, rate_honest = policies.evaluate("incident", policies.honest, 128)
    _, cost_violator, rate_violator = policies.evaluate("incident", policies.tunnel_then_mine, 128)
    assert ret_honest > ret_random
    assert cost_honest == 0 and rate_honest == 0
    assert cost_violator > 0 and rate_violator == 1


def test_policy_gradient_example_learns():
    history = load("train_pg").main(["--iterations", "12", "--envs", "128"])
    assert len(history) == 12 and np.isfinite(history).all()
    assert history[-1][0] > history[0][0] + 0.3, history
