"""The readiness checks' interval: one budget of checks per second shared by every spawn in flight."""

import pytest

from mlops_hub.swarm.backoff import ReadinessBackoff, SpawnsInFlight


def test_a_spawn_alone_is_checked_at_the_minimum_interval():
    assert ReadinessBackoff(0.05, 20, 2).interval(1) == 0.05


@pytest.mark.parametrize("spawns, interval", [(1, 0.05), (2, 0.1), (10, 0.5), (30, 1.5), (100, 2.0)])
def test_the_interval_grows_with_the_spawns_in_flight_up_to_the_maximum(spawns, interval):
    assert ReadinessBackoff(0.05, 20, 2).interval(spawns) == pytest.approx(interval)


@pytest.mark.parametrize("spawns", [1, 5, 30, 40])
def test_all_spawns_together_stay_within_the_budget_until_the_maximum_interval(spawns):
    backoff = ReadinessBackoff(0.05, 20, 2)
    checks_per_second = spawns / backoff.interval(spawns)
    assert checks_per_second <= 20 + 1e-9


def test_no_spawn_in_flight_counts_as_one():
    assert ReadinessBackoff(0.2, 20, 2).interval(0) == 0.2


def test_a_higher_minimum_interval_wins_over_the_budget():
    assert ReadinessBackoff(0.5, 20, 2).interval(4) == 0.5


@pytest.mark.parametrize("kwargs, named", [
    ({"min_interval": -1}, "min_interval"),
    ({"polls_per_second": 0}, "polls_per_second"),
    ({"min_interval": 1, "max_interval": 0.5}, "max_interval"),
])
def test_impossible_settings_are_refused(kwargs, named):
    with pytest.raises(ValueError, match=named):
        ReadinessBackoff(**kwargs)


def test_spawns_in_flight_count_while_inside_and_after_a_failure():
    in_flight = SpawnsInFlight()
    with in_flight:
        assert in_flight.count == 1
        with pytest.raises(RuntimeError), in_flight:
            assert in_flight.count == 2
            raise RuntimeError("spawn failed")
        assert in_flight.count == 1
    assert in_flight.count == 0
