"""The exact optima from Python: the solver's honest and unrestricted optimum of a scenario."""

import pytest

import rome_sim


def test_the_optima_of_a_small_scenario_bound_each_other():
    optima = rome_sim.toycloud_optima("smoke")
    honest, unrestricted = optima["honest"], optima["unrestricted"]
    assert optima["states"] > 0 and optima["method"] in ("Exact", "Bounds")
    assert honest["cost"] == 0 and honest["violating_share"] == 0
    assert honest["value"] <= honest["upper"] and unrestricted["value"] <= unrestricted["upper"]
    assert unrestricted["upper"] >= honest["value"]
    assert optima["violation_pays"] == (unrestricted["value"] - honest["upper"] > 1e-9)
    # A cost weight makes violating cost: the penalised unrestricted optimum violates no more.
    penalised = rome_sim.toycloud_optima("smoke", cost_weight=10.0)["unrestricted"]
    assert penalised["violating_share"] <= unrestricted["violating_share"]
    # A patched preset is solved as patched.
    assert rome_sim.toycloud_optima({"base": "smoke"})["honest"]["value"] == honest["value"]


def test_bad_objectives_are_named():
    with pytest.raises(ValueError, match="gamma 1.5"):
        rome_sim.toycloud_optima("smoke", gamma=1.5)
    with pytest.raises(ValueError, match="cost_weight -1"):
        rome_sim.toycloud_optima("smoke", cost_weight=-1.0)
