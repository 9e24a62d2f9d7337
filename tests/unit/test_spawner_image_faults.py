"""A site's broken environment image at spawn time, with a fake Docker: an image whose command sets a wrong
port is refused before anything is created, and a start that fails for want of jupyterhub-singleuser says so."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from docker.errors import NotFound
from tornado import web

from mlops_hub.swarm.tasks import classify_task

from .fakes import task
from .test_spawner import FakeDocker, make_spawner, offline, start_object

TORCH = "mlops-hub/lab-torch:2.4"  # fakes.ENVIRONMENTS' torch


# ---- a wrong port: refused before any Docker object exists -------------------------------------


def bad_port_spawner(image_config: dict, **settings):
    spawner = make_spawner(["data-scientists"], admin_contact="the ML platform team", readiness_poll_interval=0.001,
                           **settings)
    spawner.apply_request({"environment": "torch"})
    # were the service created, its task would fail at once: a missed refusal fails the test, never hangs it
    docker = FakeDocker(image_config=image_config, tasks=[task("failed", err="task: non-zero exit (1)")])
    offline(spawner, docker)
    spawner.get_args = lambda: list(spawner.args)  # JupyterHub's own: the spawner's `args` only
    return spawner, docker


def nothing_created(docker: FakeDocker) -> bool:
    return not any(docker.called(m) for m in ("create_service", "create_secret", "create_config", "create_container"))


@pytest.mark.parametrize("image_config", [
    {"Cmd": ["jupyterhub-singleuser", "--port=9999"]},
    {"Cmd": ["jupyterhub-singleuser", "--ServerApp.port", "9999"]},
    {"Entrypoint": ["tini", "--"], "Cmd": ["sh", "-c", "jupyterhub-singleuser --NotebookApp.port=9999"]},
    {"Entrypoint": ["jupyterhub-singleuser", "--port=9999"], "Cmd": []},
])
async def test_an_image_whose_command_sets_another_port_is_refused_naming_environment_image_and_port(image_config):
    spawner, docker = bad_port_spawner(image_config)
    with pytest.raises(web.HTTPError) as info:
        await spawner.create_object()
    assert info.value.status_code == 400
    message = info.value.log_message
    assert message.startswith(f"Your server cannot start: the image {TORCH} of environment torch has the wrong port:"
                              " its command passes port 9999, so the server listens there, but the hub connects on"
                              " 8888.")
    assert "please tell the ML platform team" in message and "remove the --port flag" in message
    assert nothing_created(docker)


async def test_a_refused_wrong_port_spawn_leaves_nothing_behind_through_start():
    spawner, docker = bad_port_spawner({"Cmd": ["jupyterhub-singleuser", "--port=9999"]})

    async def no_service_yet(method, *args, **kwargs):
        if method == "inspect_service":  # dockerspawner's start looks for a server left running first
            docker.calls.append((method, args, kwargs))
            raise NotFound("no such service", response=SimpleNamespace(status_code=404))
        return await docker(method, *args, **kwargs)

    spawner.docker = no_service_yet
    with pytest.raises(web.HTTPError) as info:
        await spawner.start()
    assert docker.called("inspect_service")  # it did go through dockerspawner's start
    assert info.value.status_code == 400 and "port 9999" in info.value.log_message
    assert nothing_created(docker)
    assert spawner.mlops_request is None  # the spawn is over


@pytest.mark.parametrize("image_config, settings", [
    ({"Cmd": ["jupyterhub-singleuser", "--port=8888"]}, {}),
    # EXPOSE is only a hint: a server still takes the hub's port, so the spawn goes on (doctor names it)
    ({"Cmd": ["jupyterhub-singleuser"], "ExposedPorts": {"9999/tcp": {}}}, {}),
    # the spawner's cmd replaces the image's CMD
    ({"Cmd": ["jupyterhub-singleuser", "--port=9999"]}, {"cmd": ["jupyterhub-singleuser"]}),
    ({"Cmd": ["jupyterhub-singleuser", "--port=9999"]}, {"port": 9999}),
])
async def test_an_image_that_leaves_the_hubs_port_alone_is_created(image_config, settings):
    spawner, docker = bad_port_spawner(image_config, **settings)
    await spawner.create_object()
    assert len(docker.called("create_service")) == 1


async def test_the_spawners_cmd_with_another_port_is_refused_too():
    spawner, docker = bad_port_spawner({"Cmd": ["jupyterhub-singleuser"]}, cmd=["jupyterhub-singleuser", "--port=7"])
    with pytest.raises(web.HTTPError) as info:
        await spawner.create_object()
    assert "passes port 7," in info.value.log_message and nothing_created(docker)


# ---- no jupyterhub-singleuser in the image: the failed start says so ---------------------------


@pytest.mark.parametrize("failed_task, log", [
    # the spawner's default: a shell exports the hub token, then runs the image's command
    (task("failed", err="task: non-zero exit (127)", exit_code=127),
     b"mlops-hub-start: 1: exec: jupyterhub-singleuser: not found\n"),
    # api_token_secret False: Docker runs the command itself
    (task("rejected", err='starting container failed: failed to create shim task: OCI runtime create failed: runc'
                          ' create failed: unable to start container process: exec: "jupyterhub-singleuser":'
                          ' executable file not found in $PATH: unknown', exit_code=127), b""),
])
async def test_a_start_without_jupyterhub_singleuser_names_the_image_and_environment(failed_task, log):
    spawner = make_spawner(["data-scientists"], readiness_poll_interval=0.001, admin_contact="the ML platform team")
    spawner.apply_request({"environment": "torch"})
    docker = FakeDocker(tasks=[failed_task], logs=[log])
    offline(spawner, docker)
    spawner.object_id = "service-1"
    with pytest.raises(web.HTTPError) as info:
        await start_object(spawner)
    message = info.value.log_message
    assert message.startswith(f"Your server cannot start: the image {TORCH} of environment torch has no"
                              " jupyterhub-singleuser. Choose another environment, and please tell the ML platform"
                              " team (fix: install jupyterhub in the image")
    view = classify_task(failed_task)
    assert message.endswith(f"\nYour server's container {view.state}: {view.reason}")  # Swarm's words, for the admin
    assert docker.called("remove_service") == [(("service-1",), {})]
    assert spawner._events[-1] == {"progress": 100, "message": message}


async def test_after_a_hub_restart_the_environment_comes_from_the_saved_options():
    spawner = make_spawner(["data-scientists"], readiness_poll_interval=0.001, image=TORCH)
    spawner.user_options = {"environment": "torch"}
    docker = FakeDocker(tasks=[task("failed", err="task: non-zero exit (127)", exit_code=127)],
                        logs=[b"mlops-hub-start: 1: exec: jupyterhub-singleuser: not found\n"])
    offline(spawner, docker)
    with pytest.raises(web.HTTPError) as info:
        await start_object(spawner)
    assert f"the image {TORCH} of environment torch has no jupyterhub-singleuser" in info.value.log_message


async def test_another_missing_command_keeps_swarms_reason_and_the_log_tail():
    spawner = make_spawner(readiness_poll_interval=0.001)
    docker = FakeDocker(tasks=[task("failed", err="task: non-zero exit (127)", exit_code=127)],
                        logs=[b"mlops-hub-start: 1: exec: start.sh: not found\n"])
    offline(spawner, docker)
    with pytest.raises(web.HTTPError) as info:
        await start_object(spawner)
    assert info.value.log_message == ("Your server's container failed: task: non-zero exit (127)\n"
                                      "Last log lines:\nmlops-hub-start: 1: exec: start.sh: not found")
