"""The scenario as data: its mix must sum to 1, its delays are drawn as written, and a seeded
scenario draws the same paths and delays every time."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pytest

from mutualaid.errors import InputError
from simulation.scenario import DEFAULT, ClaimPath, Delay, Mix, load_scenario, scenario_from


def test_a_mix_whose_shares_do_not_sum_to_one_is_refused_in_one_line() -> None:
    with pytest.raises(InputError) as refused:
        Mix(approved=0.5, denied=0.2)
    assert str(refused.value) == "mix=0.7: shares must sum to 1"


def test_a_negative_share_is_refused_naming_the_path() -> None:
    with pytest.raises(InputError, match=r"^mix\.denied=-0\.1: "):
        Mix(approved=0.5, denied=-0.1, withdrawn=0.6)


def test_the_named_scenarios_are_valid_mixes() -> None:
    assert math.isclose(sum(getattr(DEFAULT.mix, p.value) for p in ClaimPath), 1.0)
    assert load_scenario("demo").mix.approved == 0.85


def test_a_seeded_scenario_draws_the_same_paths_and_delays_again() -> None:
    def draws() -> list[tuple[ClaimPath, float]]:
        out = []
        for n in range(200):
            rng = DEFAULT.rng(f"claim/{n}")
            out.append((DEFAULT.mix.draw(rng), DEFAULT.delays.investigation.draw(rng)))
        return out

    first = draws()
    assert first == draws()
    assert len({p for p, _ in first}) >= 5  # the side roads are taken


def test_paths_are_drawn_in_their_shares() -> None:
    rng = DEFAULT.rng("shares")
    drawn = [DEFAULT.mix.draw(rng) for _ in range(20_000)]
    approved = drawn.count(ClaimPath.APPROVED) / len(drawn)
    assert abs(approved - DEFAULT.mix.approved) < 0.02


def test_each_kind_of_delay_draws_within_its_bounds() -> None:
    rng = DEFAULT.rng("delays")
    assert Delay(kind="fixed", days=3).draw(rng) == 3
    uniform = [Delay(kind="uniform", low=1, high=2).draw(rng) for _ in range(1000)]
    assert min(uniform) >= 1 and max(uniform) <= 2
    lognormal = Delay(kind="lognormal", median=10, sigma=0.5, high=30)
    values = [lognormal.draw(rng) for _ in range(5000)]
    assert max(values) <= 30
    assert 9 < statistics.median(values) < 11


def test_a_bad_delay_is_refused_naming_the_step() -> None:
    with pytest.raises(InputError, match=r"^delays\.review\.kind='gamma': "):
        scenario_from({"mix": {"approved": 1}, "delays": {"review": {"kind": "gamma"}}}, name="x")
    with pytest.raises(InputError, match=r"^delays\.review\.high=1\.0: "):
        scenario_from(
            {
                "mix": {"approved": 1},
                "delays": {"review": {"kind": "uniform", "low": 2, "high": 1}},
            },
            name="x",
        )


def test_an_unknown_key_is_refused_not_ignored() -> None:
    with pytest.raises(InputError, match=r"^mix\.aproved=1: is not known"):
        scenario_from({"mix": {"aproved": 1}}, name="x")


def test_a_scenario_loads_from_toml_and_json(tmp_path: Path) -> None:
    toml = tmp_path / "quick.toml"
    toml.write_text(
        "seed = 5\n[mix]\napproved = 0.9\nwithdrawn = 0.1\n"
        '[delays.review]\nkind = "lognormal"\nmedian = 2\nsigma = 0.3\n'
    )
    scenario = load_scenario(str(toml))
    assert scenario.name == "quick" and scenario.seed == 5
    assert scenario.mix.withdrawn == 0.1 and scenario.delays.review.median == 2
    assert scenario.delays.investigation == Delay()
    data = {"mix": {"approved": 0.5, "ineligible": 0.5}, "delays": {"payment": {"days": 1}}}
    (tmp_path / "s.json").write_text(json.dumps(data))
    assert load_scenario(str(tmp_path / "s.json")).delays.payment.days == 1


def test_a_scenario_that_is_neither_named_nor_a_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"^scenario='nope': "):
        load_scenario("nope")
    with pytest.raises(InputError, match=r"cannot be read"):
        load_scenario(str(tmp_path / "missing.toml"))
