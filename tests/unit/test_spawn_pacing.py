"""Spawns that arrive together take turns at JupyterHub's synchronous spawn work (mlops_hub/hub/spawn_pacing.py):
turns `spacing` apart in the order asked, none for a spawn that comes alone; the configured server token scopes
(a list, an admin's function, or none) are what JupyterHub gets, as without pacing."""

from __future__ import annotations

import asyncio

import pytest
from traitlets.config import Config

from mlops_hub.hub.spawn_pacing import DEFAULT_SPACING, SpawnPacer, pace_spawns, spacing_from


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_spawns_together_take_turns_and_one_alone_never_waits():
    clock = Clock()
    pacer = SpawnPacer(0.05, clock)
    assert [round(pacer.wait_for(), 3) for _ in range(4)] == [0, 0.05, 0.1, 0.15]  # four at once
    clock.now += 10  # long after: the next one goes at once
    assert pacer.wait_for() == 0
    clock.now += 0.02  # 20 ms after it: waits the rest of its spacing
    assert round(pacer.wait_for(), 3) == 0.03


def test_a_negative_spacing_is_refused_naming_it():
    with pytest.raises(ValueError, match="spawn spacing: seconds, 0 or more, got -1"):
        SpawnPacer(-1)


@pytest.mark.parametrize(("configured", "expected"), [
    (["users:activity!user", "access:servers!server"], ["users:activity!user", "access:servers!server"]),
    (lambda spawner: [f"read:users!user={spawner}"], ["read:users!user=alice"]),
    ("async", ["custom:async!user=alice"]),
    (None, None),
])
def test_jupyterhub_gets_the_configured_scopes_after_its_turn(configured, expected):
    async def admins_async(spawner):
        return [f"custom:async!user={spawner}"]

    c = Config()
    if configured is not None:
        c.Spawner.server_token_scopes = admins_async if configured == "async" else configured
    pace_spawns(c, 0.01)
    hook = c.Spawner.server_token_scopes
    assert callable(hook)

    async def two_spawns():
        return await asyncio.gather(hook("alice"), hook("alice"))

    assert asyncio.run(two_spawns()) == [expected, expected]


def test_spacing_zero_leaves_the_setting_as_it_is():
    c = Config()
    c.Spawner.server_token_scopes = ["users:activity!user"]
    pace_spawns(c, 0)
    assert c.Spawner.server_token_scopes == ["users:activity!user"]


@pytest.mark.parametrize(("text", "expected"), [(None, DEFAULT_SPACING), ("", DEFAULT_SPACING), ("0", 0.0),
                                                ("0.2", 0.2)])
def test_the_hubs_setting_is_seconds(text, expected):
    assert spacing_from(text) == expected


@pytest.mark.parametrize("text", ["fast", "-0.1", "nan", "inf"])
def test_a_bad_setting_names_the_variable_and_what_it_takes(text):
    expected = f"MLOPS_HUB_SPAWN_SPACING: seconds between spawns, 0 .off. or more, got '{text}'"
    with pytest.raises(ValueError, match=expected):
        spacing_from(text)
