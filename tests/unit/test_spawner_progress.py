"""The spawn-pending page's progress stream: every event of ours reaches it, even the last ones
reported just before JupyterHub ends the stream (it stops reading once the spawn is done)."""

import asyncio

from jupyterhub.utils import iterate_until

from .test_spawner import make_spawner

# JupyterHub's work after start() returns (its HTTP check, the proxy route) takes at least this
# many event-loop turns; the spawn future resolves no sooner
TURNS_AFTER_START = 10


async def _read_stream(spawner, spawn_done: asyncio.Future) -> list[str]:
    """The stream as JupyterHub's progress handler reads it."""
    return [event["message"] async for event in iterate_until(spawn_done, spawner.progress())]


async def test_events_reported_just_before_the_spawn_ends_reach_the_stream():
    spawner = make_spawner()
    spawn_done = asyncio.get_running_loop().create_future()
    reader = asyncio.create_task(_read_stream(spawner, spawn_done))
    spawner._report(55, "Server container starting")
    await asyncio.sleep(0)  # the stream sent it and waits for the next event
    spawner._report(80, "Waiting for JupyterLab to answer")
    spawner._report(95, "Server answering")
    spawner._spawn_done = True
    spawner._wake_progress_streams()
    for _ in range(TURNS_AFTER_START):
        await asyncio.sleep(0)
    spawn_done.set_result(None)
    assert await reader == ["Server container starting", "Waiting for JupyterLab to answer", "Server answering"]


async def test_two_open_streams_both_get_every_event_and_a_closed_one_does_not_stop_the_other():
    spawner = make_spawner()
    spawn_done = asyncio.get_running_loop().create_future()
    first = asyncio.create_task(_read_stream(spawner, spawn_done))
    second = asyncio.create_task(_read_stream(spawner, spawn_done))
    await asyncio.sleep(0)
    first.cancel()  # a tab closed while both waited
    spawner._report(40, "Server task scheduled on a node")
    spawner._spawn_done = True
    spawner._wake_progress_streams()
    for _ in range(TURNS_AFTER_START):
        await asyncio.sleep(0)
    spawn_done.set_result(None)
    assert await second == ["Server task scheduled on a node"]
    assert first.cancelled()
