"""MLOpsSwarmSpawner without Docker or a hub: configuration, form, validation, spec and tasks."""

import asyncio
import io
import tarfile
from html.parser import HTMLParser
from types import SimpleNamespace

import pytest
from docker.errors import ImageNotFound
from dockerspawner import SwarmSpawner
from tornado import web
from traitlets.config import Config

from mlops_hub.policy.errors import ConfigError
from mlops_hub.spawner import MLOpsSwarmSpawner
from mlops_hub.swarm.tasks import classify_task

from .fakes import ENVIRONMENTS, ROLE_POLICIES, GiB, fake_server, fake_user, node, spawner_config, task


def make_spawner(groups=(), config=None, spawners=None, **settings) -> MLOpsSwarmSpawner:
    if config is None:
        settings.setdefault("environments", ENVIRONMENTS)
        settings.setdefault("role_policies", ROLE_POLICIES)
        config = spawner_config(**settings)
    user = fake_user(groups=groups, spawners=spawners)
    spawner = MLOpsSwarmSpawner(config=config, user=user)
    user.spawners[spawner.name] = spawner
    return spawner


def http_error(call, *args) -> web.HTTPError:
    with pytest.raises(web.HTTPError) as info:
        call(*args)
    return info.value


class FormInputs(HTMLParser):
    """The form controls a browser without JavaScript would submit."""

    def __init__(self, html: str):
        super().__init__()
        self.inputs: list[dict] = []
        self.tags: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "input":
            self.inputs.append(dict(attrs))

    def named(self, name):
        return [i for i in self.inputs if i.get("name") == name]

    def one(self, name):
        (found,) = self.named(name)
        return found


def start_object(spawner):
    """start_object, failing instead of hanging if its wait never ends (not a timing check)."""
    return asyncio.wait_for(spawner.start_object(), timeout=10)


async def rendered_form(spawner) -> str:
    if "docker" not in vars(spawner):  # no unit test asks the real Docker for the images' labels
        offline(spawner, FakeDocker())
    form = await spawner.get_options_form()
    assert isinstance(form, str)
    return form


# ---- drop-in: without our settings it is dockerspawner's SwarmSpawner --------------------


def test_without_environments_or_roles_the_policy_is_off():
    spawner = MLOpsSwarmSpawner(user=fake_user())
    assert spawner.policy_enabled is False
    assert spawner.options_form == ""
    assert spawner.apply_user_options is None


def test_without_policy_the_image_form_is_dockerspawners():
    config = Config()
    config.SwarmSpawner.allowed_images = {"base": "lab-base:1", "torch": "lab-torch:1"}
    ours = MLOpsSwarmSpawner(config=config, user=fake_user())
    theirs = SwarmSpawner(config=config, user=fake_user())
    assert ours.policy_enabled is False
    assert ours.options_form == theirs.options_form
    assert 'name="image"' in ours.options_form


def test_without_policy_form_data_is_read_like_dockerspawner():
    spawner = MLOpsSwarmSpawner(user=fake_user())
    assert spawner.run_options_from_form({"image": ["lab-torch:1"], "_xsrf": ["x"]}) == {"image": "lab-torch:1"}


# role policies alone may not name environments: the only one is dockerspawner's `image`
ROLES_WITHOUT_ENVIRONMENTS = {"default": {"max_cpu": 1, "max_mem": "2G"}}


@pytest.mark.parametrize("settings", [{"environments": ENVIRONMENTS}, {"role_policies": ROLES_WITHOUT_ENVIRONMENTS},
                                      {"environments": ENVIRONMENTS, "role_policies": ROLE_POLICIES}])
def test_environments_or_role_policies_turn_the_policy_on(settings):
    spawner = MLOpsSwarmSpawner(config=spawner_config(**settings), user=fake_user())
    assert spawner.policy_enabled is True
    assert callable(spawner.options_form)
    assert callable(spawner.apply_user_options)


# ---- configuration errors surface when the hub loads its config --------------------------


def test_role_policy_with_unparseable_cpu_is_refused_at_config_time():
    with pytest.raises(ConfigError) as info:
        make_spawner(role_policies={"team": {"max_cpu": "lots", "max_mem": "4G"}})
    assert str(info.value).startswith("role_policies['team']")
    assert "'lots'" in str(info.value)


def test_bad_role_policy_fails_when_the_spawner_is_made():
    with pytest.raises(ConfigError, match=r"role_policies\['team'\]\.max_mem: required"):
        make_spawner(role_policies={"team": {"max_cpu": 2}})


def test_environment_with_bad_slug_is_refused_at_config_time():
    with pytest.raises(ConfigError, match=r"environments\[0\]\.slug"):
        make_spawner(environments=[{"slug": "My Env", "image": "x:1"}])


def test_duplicate_environment_is_refused_at_config_time():
    with pytest.raises(ConfigError, match="slug 'python' is defined twice"):
        make_spawner(environments=[ENVIRONMENTS[0], ENVIRONMENTS[0]])


@pytest.mark.parametrize("trait", ["cpu_guarantee_fraction", "mem_guarantee_fraction"])
@pytest.mark.parametrize("value", [2, 1.5, 0, -0.5, float("nan")])
def test_guarantee_fraction_outside_zero_to_one_is_refused(trait, value):
    spawner = make_spawner()
    with pytest.raises(ConfigError, match=rf"{trait}: must be a number in \(0, 1\]"):
        setattr(spawner, trait, value)


def test_guarantee_fraction_two_in_config_is_refused_at_start_up():
    with pytest.raises(ConfigError, match=r"cpu_guarantee_fraction: must be a number in \(0, 1\], got 2"):
        make_spawner(cpu_guarantee_fraction=2)


@pytest.mark.parametrize("value", [1, 0.25, None])
def test_guarantee_fraction_in_range_or_none_is_accepted(value):
    spawner = make_spawner(cpu_guarantee_fraction=value, mem_guarantee_fraction=value)
    assert (spawner.cpu_guarantee_fraction, spawner.mem_guarantee_fraction) == (value, value)


# ---- the options form ------------------------------------------------------------------


async def test_form_lists_only_the_environments_of_the_users_roles():
    default_user = FormInputs(await rendered_form(make_spawner()))
    assert [i["value"] for i in default_user.named("environment")] == ["python"]
    scientist = FormInputs(await rendered_form(make_spawner(["data-scientists"])))
    assert [i["value"] for i in scientist.named("environment")] == ["python", "torch"]
    both = FormInputs(await rendered_form(make_spawner(["data-scientists", "gpu-users"])))
    assert [i["value"] for i in both.named("environment")] == ["python", "torch", "gpu"]


async def test_form_shows_display_names_descriptions_and_limits():
    form = await rendered_form(make_spawner(["data-scientists"]))
    assert "PyTorch" in form
    assert "JupyterLab with git and pip" in form
    assert "4 CPUs" in form
    assert "8G" in form
    assert "GPU (CUDA)" not in form
    assert "mlops-hub/lab-gpu" not in form


async def test_form_works_without_javascript():
    form = await rendered_form(make_spawner(["data-scientists"]))
    parsed = FormInputs(form)
    assert "script" not in parsed.tags
    assert "<script" not in form.lower()
    assert {i["type"] for i in parsed.named("environment")} == {"radio"}
    assert parsed.one("cpu_limit")["type"] == "number"
    assert parsed.one("mem_limit")["type"] == "number"
    assert {i.get("name") for i in parsed.inputs} == {"environment", "cpu_limit", "mem_limit"}


async def test_form_number_inputs_carry_the_users_range():
    parsed = FormInputs(await rendered_form(make_spawner(["data-scientists"])))
    cpu, mem = parsed.one("cpu_limit"), parsed.one("mem_limit")
    assert (float(cpu["min"]), float(cpu["max"])) == (0.1, 4.0)
    assert (float(mem["min"]), float(mem["max"])) == (0.5, 8.0)  # GiB; 0.5: the environments' min_mem


async def test_form_preselects_the_default_environment_and_sizes():
    parsed = FormInputs(await rendered_form(make_spawner(["data-scientists"])))
    checked = [i["value"] for i in parsed.named("environment") if "checked" in i]
    assert checked == ["python"]
    assert float(parsed.one("cpu_limit")["value"]) == 1.0
    assert float(parsed.one("mem_limit")["value"]) == 2.0


async def test_form_preselects_saved_options_that_still_fit():
    spawner = make_spawner(["data-scientists"])
    spawner.user_options = {"environment": "torch", "cpu_limit": "3", "mem_limit": "5G"}
    parsed = FormInputs(await rendered_form(spawner))
    assert [i["value"] for i in parsed.named("environment") if "checked" in i] == ["torch"]
    assert float(parsed.one("cpu_limit")["value"]) == 3.0
    assert float(parsed.one("mem_limit")["value"]) == 5.0


async def test_form_offers_defaults_when_saved_options_no_longer_fit():
    spawner = make_spawner([])  # was a gpu user, is no longer
    spawner.user_options = {"environment": "gpu", "cpu_limit": "8", "mem_limit": "4G"}
    parsed = FormInputs(await rendered_form(spawner))
    assert [i["value"] for i in parsed.named("environment") if "checked" in i] == ["python"]
    assert float(parsed.one("cpu_limit")["value"]) == 0.5
    assert float(parsed.one("mem_limit")["value"]) == 1.0


async def test_form_escapes_admin_text():
    envs = [{"slug": "x", "image": "x:1", "display_name": "<script>alert(1)</script>",
             "description": "<img src=x onerror=alert(1)>"}]
    form = await rendered_form(make_spawner(environments=envs, role_policies={}))
    assert "<script>" not in form
    assert "<img" not in form
    assert "&lt;script&gt;" in form


async def test_form_for_a_user_without_role_explains_whom_to_ask():
    no_default = {k: v for k, v in ROLE_POLICIES.items() if k != "default"}
    spawner = make_spawner(["staff"], role_policies=no_default, admin_contact="the ML platform team")
    form = await rendered_form(spawner)
    assert "Ask the ML platform team to add you to one" in form
    assert FormInputs(form).inputs == []


async def test_environments_without_roles_are_bounded_by_the_hubs_cpu_and_mem_limit():
    spawner = make_spawner(environments=ENVIRONMENTS, role_policies={}, cpu_limit=2.0, mem_limit=3 * GiB)
    parsed = FormInputs(await rendered_form(spawner))
    assert float(parsed.one("cpu_limit")["max"]) == 2.0
    assert float(parsed.one("mem_limit")["max"]) == 3.0
    assert [i["value"] for i in parsed.named("environment")] == ["python", "torch"]


# ---- validation of form posts, REST user_options and saved options -----------------------


def test_form_post_becomes_user_options():
    spawner = make_spawner(["data-scientists"])
    options = spawner.run_options_from_form(
        {"environment": ["torch"], "cpu_limit": ["3"], "mem_limit": ["5"], "_xsrf": ["t"]}
    )
    assert options == {"environment": "torch", "cpu_limit": "3", "mem_limit": "5G"}


@pytest.mark.parametrize(
    "formdata, field, detail",
    [
        ({"environment": ["gpu"]}, "environment", "choose one of: python, torch"),
        ({"cpu_limit": ["16"]}, "cpu_limit", "0.1 to 4 CPUs"),
        ({"mem_limit": ["64"]}, "mem_limit", "512M to 8G"),
        ({"image": ["python:3"]}, "image", "allowed options are: environment, cpu_limit, mem_limit"),
    ],
)
async def test_bad_form_post_is_refused_before_the_spawn_with_the_field(formdata, field, detail):
    spawner = make_spawner(["data-scientists"])
    options = spawner.run_options_from_form(formdata)  # only builds the dict (JupyterHub's contract)
    with pytest.raises(web.HTTPError) as info:
        await spawner._run_apply_user_options(options)  # what JupyterHub runs before start()
    error = info.value
    assert error.status_code == 400
    assert error.log_message.startswith(f"Invalid {field}: ")
    assert detail in error.log_message


@pytest.mark.parametrize(
    "options, field",
    [
        ({"environment": "mlops-hub/lab-base:latest"}, "environment"),
        ({"environment": ["python"]}, "environment"),
        ({"cpu_limit": "NaN"}, "cpu_limit"),
        ({"cpu_limit": 0}, "cpu_limit"),
        ({"cpu_limit": "-1"}, "cpu_limit"),
        ({"cpu_limit": 1e30}, "cpu_limit"),
        ({"mem_limit": "1e30"}, "mem_limit"),
        ({"mem_limit": "inf"}, "mem_limit"),
        ({"mem_limit": True}, "mem_limit"),
        ({"cmd": ["bash"]}, "cmd"),
        ("python", "user_options"),
    ],
)
def test_bad_api_request_is_http_400_naming_the_field(options, field):
    error = http_error(make_spawner().validate_request, options)
    assert error.status_code == 400
    assert error.log_message.startswith(f"Invalid {field}: ")


def test_api_request_over_the_limit_states_the_range():
    error = http_error(make_spawner().validate_request, {"cpu_limit": "2"})
    assert error.log_message == "Invalid cpu_limit: 2 is outside the allowed range 0.1 to 1 CPUs"


def test_user_without_any_role_gets_403_with_whom_to_ask():
    no_default = {k: v for k, v in ROLE_POLICIES.items() if k != "default"}
    spawner = make_spawner(["staff"], role_policies=no_default, admin_contact="the ML platform team")
    error = http_error(spawner.validate_request, {})
    assert error.status_code == 403
    assert "Ask the ML platform team" in error.log_message


def test_too_many_servers_is_403():
    spawner = make_spawner(spawners={"first": fake_server(active=True)})  # default role: 1 server
    error = http_error(spawner.validate_request, {})
    assert error.status_code == 403
    assert error.log_message == (
        "You already run 1 server(s); your role allows 1. Stop one before starting another."
    )


def test_stopped_servers_and_the_spawner_itself_do_not_count():
    spawner = make_spawner(spawners={"old": fake_server(active=False)})
    spawner._spawn_pending = True  # as while JupyterHub applies the user options
    assert spawner.user.spawners[""] is spawner and spawner.active
    assert spawner.validate_request({}).environment.slug == "python"


def test_a_role_with_more_servers_may_start_another():
    spawner = make_spawner(["data-scientists"], spawners={"first": fake_server(active=True)})
    assert spawner.validate_request({}).role == "data-scientists"
    spawner.user.spawners["second"] = fake_server(active=True)
    assert http_error(spawner.validate_request, {}).status_code == 403


def test_saved_options_are_validated_against_todays_policy():
    spawner = make_spawner(["data-scientists", "gpu-users"])
    saved = {"environment": "gpu", "cpu_limit": "8", "mem_limit": "4G"}
    assert spawner.validate_request(saved).environment.slug == "gpu"
    spawner.user.groups = [g for g in spawner.user.groups if g.name != "gpu-users"]  # role removed
    error = http_error(spawner.validate_request, saved)
    assert error.status_code == 400
    assert error.log_message == "Invalid environment: 'gpu' is not available to you; choose one of: python, torch"


def test_saved_options_are_revalidated_after_the_admin_lowers_a_limit():
    spawner = make_spawner(["data-scientists"])
    saved = {"environment": "torch", "cpu_limit": "4"}
    assert spawner.validate_request(saved).cpu_limit == 4.0
    spawner.role_policies = {**ROLE_POLICIES, "data-scientists": {**ROLE_POLICIES["data-scientists"], "max_cpu": 2}}
    error = http_error(spawner.validate_request, saved)
    assert error.log_message == "Invalid cpu_limit: 4 is outside the allowed range 0.1 to 2 CPUs"


# ---- applying a valid request -------------------------------------------------------------


def test_apply_request_sets_image_and_limits():
    spawner = make_spawner(["data-scientists"])
    request = spawner.apply_request({"environment": "torch", "cpu_limit": "3", "mem_limit": "5G"})
    assert spawner.image == "mlops-hub/lab-torch:2.4"
    assert spawner.cpu_limit == 3.0
    assert spawner.mem_limit == 5 * GiB
    assert spawner.mlops_request is request
    assert request.role == "data-scientists"


def test_apply_user_options_hook_applies_and_passes_http_errors_through():
    spawner = make_spawner(["data-scientists"])
    spawner.apply_user_options(spawner, {"environment": "torch"})
    assert (spawner.image, spawner.cpu_limit, spawner.mem_limit) == ("mlops-hub/lab-torch:2.4", 2.0, 6 * GiB)
    error = http_error(spawner.apply_user_options, spawner, {"environment": "python:3"})
    assert error.status_code == 400
    assert error.log_message.startswith("Invalid environment: takes an environment name, not an image")


def test_refused_request_changes_nothing():
    spawner = make_spawner(image="lab-base:1")
    http_error(spawner.apply_request, {"cpu_limit": "64"})
    assert spawner.image == "lab-base:1"
    assert spawner.mlops_request is None


async def test_start_refuses_saved_options_that_no_longer_fit_before_touching_docker():
    # an admin-supplied apply_user_options replaced ours: start() still enforces the policy
    spawner = make_spawner(apply_user_options=lambda spawner, options: None)
    docker = FakeDocker()
    offline(spawner, docker)
    spawner.user_options = {"environment": "gpu"}  # saved while the user was a gpu user
    with pytest.raises(web.HTTPError) as info:
        await spawner.start()
    assert info.value.status_code == 400
    assert info.value.log_message.startswith("Invalid environment: 'gpu' is not available to you")
    assert docker.calls == []
    assert spawner.mlops_request is None


async def test_a_server_no_node_has_room_for_is_refused_before_any_service_is_created():
    """A sure refusal comes before Swarm is asked (nothing to remove, no grace to wait): the reservation against the
    most any node has free, in the progress stream too."""
    spawner = make_spawner(["data-scientists"], cpu_guarantee_fraction=0.5, mem_guarantee_fraction=0.5)
    docker = FakeDocker(nodes=[node("node-1", cpus=2, mem=8 * GiB)],
                        node_tasks=[task("running", node="node-1", reserve_cpu=1.5, reserve_mem=GiB)])
    offline(spawner, docker)
    spawner.user_options = {"environment": "python", "cpu_limit": "2"}  # reserves 1 CPU: 0.5 is free
    spawner.apply_request(spawner.user_options)
    with pytest.raises(web.HTTPError) as info:
        await spawner.start()
    assert info.value.status_code == 500
    assert info.value.log_message == (
        "Docker Swarm cannot place your server: no node has room for it now (insufficient resources on 1 node)."
        " It reserves 1 CPUs and 1G; the most free on any node is 0.5 CPUs and 7G: not enough CPU. Ask for fewer"
        " CPUs or less memory, or try again when others stop.")
    assert info.value.log_message in [e["message"] for e in spawner._events]
    assert docker.called("create_service") == [] and docker.called("create_secret") == []


@pytest.mark.parametrize("case", ["fits", "admin reservations", "docker unreadable"])
async def test_a_server_that_may_fit_goes_on_to_swarm(case):
    """Only a sure refusal comes early: room on a node, reservations the admin set, or nodes that cannot be read
    leave the verdict to Swarm (the same server on a node with no room is refused: the test above)."""
    settings = {"extra_resources_spec": {"cpu_reservation": 10**8}} if case == "admin reservations" else {}
    spawner = make_spawner(["data-scientists"], cpu_guarantee_fraction=0.5, **settings)
    docker = FakeDocker(nodes=[node("node-1", cpus=2 if case == "fits" else 0.5)])

    async def nodes_unreadable(method, *args, **kwargs):
        if method == "nodes":
            raise ImageNotFound("nodes: not answered")  # any API error
        return await FakeDocker.__call__(docker, method, *args, **kwargs)

    offline(spawner, nodes_unreadable if case == "docker unreadable" else docker)
    spawner.apply_request({"environment": "python", "cpu_limit": "2"})
    await spawner._refuse_when_no_node_has_room()
    assert spawner._events == []  # no refusal reported
    assert bool(docker.called("nodes")) == (case == "fits"), case
    # only a checked server is counted as on its way (until its start ends)
    assert spawner._placements.unplaced([]) == ((1.0, 0) if case == "fits" else (0, 0)), case
    spawner._placements.discard(spawner._server_key)


async def test_in_a_storm_the_servers_already_let_through_take_their_room_before_swarm_places_them():
    """Three spawns check before Swarm has placed anyone: the node has room for one 1-CPU reservation and a small
    one, so the second 1-CPU server is refused at once; once the first one's task holds its room (its service
    known), it is not counted twice, and a small server still fits."""
    node_1 = node("node-1", cpus=1.6)
    config = spawner_config(environments=ENVIRONMENTS, role_policies=ROLE_POLICIES, cpu_guarantee_fraction=0.5,
                            mem_guarantee_fraction=0.5)
    first, second, third = (MLOpsSwarmSpawner(config=config, user=fake_user(name, ["data-scientists"]))
                            for name in ("alice", "bob", "carol"))
    for spawner, cpu in ((first, "2"), (second, "2"), (third, "0.5")):
        offline(spawner, FakeDocker(nodes=[node_1]))
        spawner.apply_request({"environment": "python", "cpu_limit": cpu})
    try:
        await first._refuse_when_no_node_has_room()
        with pytest.raises(web.HTTPError) as info:
            await second._refuse_when_no_node_has_room()
        assert ("no node has room for it now (insufficient resources on 1 node). It reserves 1 CPUs and 1G; the"
                " nodes have 1.6 CPUs and 4G free, and servers starting now take 1 CPUs and 1G of it: not enough"
                " CPU.") in info.value.log_message
        first.object_id = "svc-alice"
        first._placements.created(first._server_key, first.object_id)
        offline(third, FakeDocker(nodes=[node_1], node_tasks=[
            {**task("running", node="node-1", reserve_cpu=1, reserve_mem=GiB), "ServiceID": "svc-alice"}]))
        await third._refuse_when_no_node_has_room()  # 0.6 CPUs free: alice is in the free room, not on her way
    finally:
        for spawner in (first, second, third):
            spawner._placements.discard(spawner._server_key)


def test_labels_name_user_server_environment_and_role():
    spawner = make_spawner(["data-scientists", "gpu-users"], prefix="mlops-lab")
    assert spawner._labels() == {
        "mlops-hub.managed": "true",
        "mlops-hub.prefix": "mlops-lab",
        "mlops-hub.user": "alice",
        "mlops-hub.server-name": "",
    }
    spawner.apply_request({"environment": "gpu"})
    labels = spawner._labels()
    assert labels["mlops-hub.environment"] == "gpu"
    assert labels["mlops-hub.role"] == "gpu-users"


# ---- the service spec and the task, with a fake Docker API -------------------------------


def tar_of(path: str, content: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(path.rsplit("/", 1)[-1])
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


class FakeDocker:
    """Answers the spawner's `self.docker(method, ...)` calls and records them."""

    def __init__(self, tasks=(), image_user="", logs=(b"",), passwd=b"jovyan:x:1000:100::/home/jovyan:/bin/sh\n",
                 nodes=None, node_tasks=(), image_config=None, image_labels=None, missing_images=()):
        self.calls: list[tuple] = []
        self.image_config = dict(image_config or {})  # more of the image's Config (Cmd, Entrypoint, ...)
        self.image_labels = dict(image_labels or {})  # image -> its labels
        self.missing_images = set(missing_images)  # images not on this node
        self.tasks = list(tasks)
        self.nodes = [node()] if nodes is None else list(nodes)
        self.node_tasks = list(node_tasks)  # every service's tasks holding room (desired state running)
        self.image_user = image_user
        self.logs = list(logs)
        self.passwd = passwd

    async def __call__(self, method, *args, **kwargs):
        self.calls.append((method, args, kwargs))
        if method == "inspect_image":
            if args[0] in self.missing_images:
                raise ImageNotFound(f"No such image: {args[0]}")
            return {"Id": "sha256:feed", "Config": {"Cmd": ["start.sh"], "User": self.image_user,
                                                    "Labels": self.image_labels.get(args[0]), **self.image_config}}
        if method == "create_service":
            return {"ID": "service-1"}
        if method == "tasks":
            return self.node_tasks if kwargs.get("filters", {}).get("desired-state") else self.tasks
        if method == "nodes":
            return self.nodes
        if method == "service_logs":
            return self.logs
        if method == "create_secret":
            return {"ID": "secret-1"}
        if method == "secrets":
            return []
        if method == "create_container":
            return {"Id": "container-1"}
        if method == "get_archive":  # Docker answers a tar stream of the file, and its stat
            return [tar_of(args[1], self.passwd if args[1] == "/etc/passwd" else b"")], {}
        return None

    def called(self, method):
        return [(args, kwargs) for m, args, kwargs in self.calls if m == method]


def offline(spawner, docker: FakeDocker) -> MLOpsSwarmSpawner:
    """Replace what would talk to Docker or need a running hub."""
    spawner.docker = docker
    spawner.get_env = lambda: {"JUPYTERHUB_USER": spawner.user.name}
    spawner.get_args = lambda: ["--ServerApp.port=8888"]
    spawner._events = []
    return spawner


def owning_service_1(spawner) -> None:
    """The spawner owns the service `service-1` (its state loaded), as after a start."""

    async def service():
        return {"ID": "service-1"}

    spawner.get_object = service
    spawner.object_id = "service-1"


async def created_service(spawner, docker=None) -> dict:
    docker = docker or FakeDocker()
    offline(spawner, docker)
    await spawner.create_object()
    ((_, kwargs),) = docker.called("create_service")
    return kwargs


async def test_a_pinned_environment_image_runs_by_digest_from_the_registry():
    pinned = "10.0.0.5:5000/mlops-hub/lab-torch:2.4@sha256:" + "d" * 64
    spawner = make_spawner(["data-scientists"], image_pins={"mlops-hub/lab-torch:2.4": pinned})
    spawner.apply_request({"environment": "torch", "cpu_limit": "1", "mem_limit": "1G"})
    kwargs = await created_service(spawner)
    assert kwargs["task_template"]["ContainerSpec"]["Image"] == pinned
    assert spawner.image == "mlops-hub/lab-torch:2.4"  # as configured: the form and the image checks read it


async def test_service_spec_carries_the_request_limits_labels_and_environment():
    spawner = make_spawner(["data-scientists"], network_name="mlops-hub")
    spawner.apply_request({"environment": "torch", "cpu_limit": "3", "mem_limit": "5G"})
    kwargs = await created_service(spawner)
    template = kwargs["task_template"]
    assert template["ContainerSpec"]["Image"] == "mlops-hub/lab-torch:2.4"
    assert template["Resources"]["Limits"] == {"NanoCPUs": 3_000_000_000, "MemoryBytes": 5 * GiB}
    assert "Reservations" not in template["Resources"]
    assert template["RestartPolicy"]["Condition"] == "none"
    assert kwargs["endpoint_spec"] == {"Mode": "dnsrr"}
    assert kwargs["labels"]["mlops-hub.environment"] == "torch"
    assert template["ContainerSpec"]["Labels"]["mlops-hub.role"] == "data-scientists"
    env = template["ContainerSpec"]["Env"]
    assert "MLOPS_ENVIRONMENT=torch" in env and "MLOPS_ROLE=data-scientists" in env
    assert template["Networks"] == [{"Target": "mlops-hub"}]


async def test_service_env_tells_the_server_its_limits_and_image():
    spawner = make_spawner(["data-scientists"])
    spawner.hub = SimpleNamespace(public_host="", api_url="http://hub:8081/hub/api", base_url="/hub/")
    spawner.apply_request({"environment": "torch", "cpu_limit": "3", "mem_limit": "5G"})
    docker = FakeDocker()
    offline(spawner, docker)
    del spawner.get_env  # JupyterHub's and dockerspawner's own get_env
    await spawner.create_object()
    ((_, kwargs),) = docker.called("create_service")
    env = dict(item.split("=", 1) for item in kwargs["task_template"]["ContainerSpec"]["Env"])
    assert env["CPU_LIMIT"] == "3.0"
    assert env["MEM_LIMIT"] == str(5 * GiB)
    assert env["JUPYTER_IMAGE_SPEC"] == "mlops-hub/lab-torch:2.4"
    assert env["MLOPS_IMAGE_DIGEST"] == "sha256:feed"
    assert env["JUPYTERHUB_USER"] == "alice"


async def test_reservation_is_a_fraction_of_the_chosen_limit():
    spawner = make_spawner(["data-scientists"], cpu_guarantee_fraction=0.25, mem_guarantee_fraction=0.5)
    spawner.apply_request({"environment": "torch", "cpu_limit": "2", "mem_limit": "4G"})
    resources = (await created_service(spawner))["task_template"]["Resources"]
    assert resources["Reservations"] == {"NanoCPUs": 500_000_000, "MemoryBytes": 2 * GiB}


async def test_absolute_guarantee_wins_over_fraction_and_is_capped_at_the_limit():
    spawner = make_spawner(["data-scientists"], cpu_guarantee_fraction=0.25, mem_guarantee_fraction=0.5)
    spawner.cpu_guarantee = 8.0  # above the 2 CPUs chosen
    spawner.mem_guarantee = 1 * GiB
    spawner.apply_request({"environment": "torch", "cpu_limit": "2", "mem_limit": "4G"})
    resources = (await created_service(spawner))["task_template"]["Resources"]
    assert resources["Reservations"] == {"NanoCPUs": 2_000_000_000, "MemoryBytes": 1 * GiB}


async def test_admin_extra_specs_win_over_the_request():
    spawner = make_spawner(["data-scientists"], extra_resources_spec={"mem_limit": 16 * GiB},
                           extra_task_spec={"restart_policy": {"Condition": "on-failure"}})
    spawner.apply_request({"environment": "torch", "mem_limit": "4G"})
    template = (await created_service(spawner))["task_template"]
    assert template["Resources"]["Limits"]["MemoryBytes"] == 16 * GiB
    assert template["RestartPolicy"] == {"Condition": "on-failure"}


@pytest.mark.parametrize("image_user, run_as_user, expected", [
    ("", None, "1000:100"), ("root", None, "1000:100"), ("0:0", None, "1000:100"),
    ("jovyan", None, None), ("", "1234:100", "1234:100"), ("root", "", None),
])
async def test_container_user_never_defaults_to_root(image_user, run_as_user, expected):
    spawner = make_spawner(run_as_user=run_as_user)
    spawner.apply_request({})
    kwargs = await created_service(spawner, FakeDocker(image_user=image_user))
    assert kwargs["task_template"]["ContainerSpec"].get("User") == expected


@pytest.mark.parametrize("image_user, run_as_user, owner", [
    ("jovyan", None, ("1000", "100")), ("", None, ("1000", "100")), ("root", "", ("0", "0")),
    ("4321", None, ("4321", "4321")), ("jovyan", "1234:100", ("1234", "100")),
])
async def test_token_secret_is_readable_by_the_servers_user_only(image_user, run_as_user, owner):
    spawner = make_spawner(run_as_user=run_as_user)
    spawner.apply_request({})
    kwargs = await created_service(spawner, FakeDocker(image_user=image_user))
    (secret,) = kwargs["task_template"]["ContainerSpec"]["Secrets"]
    assert (secret["File"]["UID"], secret["File"]["GID"], secret["File"]["Mode"]) == (*owner, 0o400)


async def test_an_image_user_missing_from_its_passwd_refuses_the_spawn_naming_run_as_user():
    spawner = make_spawner()
    spawner.apply_request({})
    docker = FakeDocker(image_user="ghost", passwd=b"root:x:0:0::/root:/bin/sh\n")
    offline(spawner, docker)
    with pytest.raises(web.HTTPError) as e:
        await spawner.create_object()
    assert "'ghost' is not in its /etc/passwd" in e.value.log_message and "run_as_user" in e.value.log_message
    assert docker.called("create_service") == [] and docker.called("create_secret") == []


async def test_start_object_waits_for_the_running_task_and_keeps_it():
    spawner = make_spawner(network_name="mlops-hub", readiness_poll_interval=0.001)
    docker = FakeDocker(tasks=[task("running", networks=[("mlops-hub", "10.0.1.5/24")])])
    offline(spawner, docker)

    async def answering():
        return None

    spawner._wait_for_http = answering
    await start_object(spawner)
    assert spawner._task.address_on("mlops-hub") == "10.0.1.5"
    assert docker.called("tasks") == [((), {"filters": {"service": spawner.service_name}})]
    assert [e["progress"] for e in spawner._events] == [70, 80, 95]
    assert docker.called("remove_service") == []


async def test_start_object_fails_fast_with_swarms_reason_and_removes_the_service():
    spawner = make_spawner(readiness_poll_interval=0.001)
    docker = FakeDocker(tasks=[task("rejected", err="No such image: mlops-hub/lab-base:latest")],
                        logs=[b"exec: start.sh: not found\n"])
    offline(spawner, docker)
    spawner.object_id = "service-1"
    with pytest.raises(web.HTTPError) as info:
        await start_object(spawner)
    assert info.value.status_code == 500
    assert info.value.log_message == (
        "Your server's container rejected: No such image: mlops-hub/lab-base:latest\n"
        "Last log lines:\nexec: start.sh: not found"
    )
    assert docker.called("remove_service") == [(("service-1",), {})]
    assert spawner.object_id == ""
    assert spawner._events[-1] == {"progress": 100, "message": info.value.log_message}


async def test_a_hanging_log_read_does_not_hold_up_the_failure_report():
    spawner = make_spawner(readiness_poll_interval=0.001, log_tail_timeout=0.05)
    docker = FakeDocker(tasks=[task("failed", err="task: non-zero exit (1)")])

    async def hanging_logs(method, *args, **kwargs):
        if method == "service_logs":
            await asyncio.sleep(3600)
        return await FakeDocker.__call__(docker, method, *args, **kwargs)

    offline(spawner, hanging_logs)
    spawner.object_id = "service-1"
    with pytest.raises(web.HTTPError) as info:
        await start_object(spawner)
    assert info.value.log_message == "Your server's container failed: task: non-zero exit (1)"
    assert docker.called("remove_service") == [(("service-1",), {})]


async def test_start_object_gives_up_on_an_unschedulable_task_after_the_grace():
    spawner = make_spawner(unschedulable_grace=0.05, readiness_poll_interval=0.01)
    err = "no suitable node (insufficient resources on 1 node)"
    docker = FakeDocker(tasks=[task("pending", err=err)])
    offline(spawner, docker)
    with pytest.raises(web.HTTPError) as info:
        await start_object(spawner)
    assert info.value.status_code == 500
    assert info.value.log_message.startswith(f"Docker Swarm cannot place your server: {err}.")
    assert len(docker.called("remove_service")) == 1


async def test_an_unplaceable_server_is_told_which_resource_is_short():
    spawner = make_spawner(unschedulable_grace=0, readiness_poll_interval=0.001)
    err = "no suitable node (insufficient resources on 1 node)"
    docker = FakeDocker(tasks=[task("pending", err=err, node="", reserve_cpu=1.5, reserve_mem=GiB)],
                        nodes=[node("node-1", cpus=2, mem=8 * GiB)],
                        node_tasks=[task("running", node="node-1", reserve_cpu=1, reserve_mem=GiB)])
    offline(spawner, docker)
    with pytest.raises(web.HTTPError) as info:
        await start_object(spawner)
    assert info.value.log_message == (
        f"Docker Swarm cannot place your server: {err}. It reserves 1.5 CPUs and 1G; the most free on any"
        " node is 1 CPUs and 7G: not enough CPU. Ask for fewer CPUs or less memory, or try again when others stop.")
    assert info.value.log_message in [e["message"] for e in spawner._events]


async def test_a_running_server_gets_the_configured_cpu_weight():
    spawner = make_spawner(server_cpu_shares=64, readiness_poll_interval=0.001)
    docker = FakeDocker(tasks=[task("running", container="c0ffee")])
    offline(spawner, docker)
    spawner._wait_for_http = lambda: asyncio.sleep(0)
    await start_object(spawner)
    assert docker.called("update_container") == [(("c0ffee",), {"cpu_shares": 64})]


async def test_without_a_cpu_weight_the_server_keeps_dockers_default():
    spawner = make_spawner(readiness_poll_interval=0.001)
    docker = FakeDocker(tasks=[task("running", container="c0ffee")])
    offline(spawner, docker)
    spawner._wait_for_http = lambda: asyncio.sleep(0)
    await start_object(spawner)
    assert docker.called("update_container") == []


@pytest.mark.parametrize("shares", [0, 1, 262145])
def test_cpu_weight_outside_the_kernels_range_is_refused_naming_the_setting(shares):
    with pytest.raises(ConfigError, match="server_cpu_shares"):
        make_spawner(server_cpu_shares=shares)


def test_a_readiness_max_interval_below_the_interval_is_refused():
    with pytest.raises(ConfigError, match="readiness_poll_max_interval"):
        make_spawner(readiness_poll_interval=1, readiness_poll_max_interval=0.5)


async def test_readiness_checks_slow_down_while_many_spawns_wait():
    spawner = make_spawner(readiness_poll_interval=0.05, readiness_polls_per_second=10, readiness_poll_max_interval=2)
    with spawner._spawns_in_flight:
        assert spawner._poll_interval() == 0.1  # one spawn: 1/10 s, above the 0.05 s floor
        with spawner._spawns_in_flight, spawner._spawns_in_flight:
            assert spawner._poll_interval() == pytest.approx(0.3)  # three share the 10 checks a second
    assert spawner._spawns_in_flight.count == 0


async def test_ip_is_the_new_tasks_own_address_on_the_hub_network():
    spawner = make_spawner(network_name="mlops-hub", use_internal_ip=True)
    spawner._task = classify_task(task("running", networks=[("ingress", "10.0.0.9/24"), ("mlops-hub", "10.0.1.5/24")]))
    assert await spawner.get_ip_and_port() == ("10.0.1.5", 8888)


async def test_ip_is_looked_up_from_the_newest_task_after_a_hub_restart():
    spawner = make_spawner(network_name="mlops-hub", use_internal_ip=True)
    docker = FakeDocker(tasks=[task("shutdown", index=3, networks=[("mlops-hub", "10.0.1.4/24")]),
                               task("running", index=9, networks=[("mlops-hub", "10.0.1.7/24")])])
    offline(spawner, docker)
    assert spawner._task is None
    assert await spawner.get_ip_and_port() == ("10.0.1.7", 8888)


async def test_without_a_task_address_the_service_name_is_used():
    spawner = make_spawner(network_name="", use_internal_ip=True)
    offline(spawner, FakeDocker(tasks=[]))
    assert await spawner.get_ip_and_port() == (spawner.service_name, 8888)


def test_docker_calls_share_one_pool_of_docker_threads(monkeypatch):
    monkeypatch.setattr(MLOpsSwarmSpawner, "_docker_executor", None)
    first, second = make_spawner(docker_threads=3), make_spawner(docker_threads=3)
    assert first.executor is second.executor
    assert first.executor._max_workers == 3


def test_fewer_than_one_docker_thread_is_refused():
    with pytest.raises(ConfigError, match="docker_threads"):
        make_spawner(docker_threads=0)


# ---- placement: an environment's node labels and a role's node pool (docs/configuration.md) ----------

PLACED_ENVIRONMENTS = [*ENVIRONMENTS[:2], {**ENVIRONMENTS[2], "node_labels": {"gpu": "true"}}]
PLACED_ROLES = {**ROLE_POLICIES, "gpu-users": {**ROLE_POLICIES["gpu-users"], "node_pool": "gpu-pool"}}


def placed_spawner(**settings) -> MLOpsSwarmSpawner:
    return make_spawner(["gpu-users"], environments=PLACED_ENVIRONMENTS, role_policies=PLACED_ROLES, **settings)


async def test_the_service_spec_requires_the_environments_labels_and_the_roles_pool_after_the_admins():
    spawner = placed_spawner(extra_placement_spec={"constraints": ["node.role == worker"]})
    spawner.apply_request({"environment": "gpu"})
    placement = (await created_service(spawner))["task_template"]["Placement"]
    assert placement["Constraints"] == ["node.role == worker", "node.labels.gpu == true",
                                        "node.labels.mlops-hub.pool == gpu-pool"]


async def test_an_environment_without_labels_still_gets_the_roles_pool():
    spawner = placed_spawner()
    spawner.apply_request({"environment": "python"})
    placement = (await created_service(spawner))["task_template"]["Placement"]
    assert placement["Constraints"] == ["node.labels.mlops-hub.pool == gpu-pool"]


async def test_without_labels_or_pools_only_the_admins_placement_is_sent():
    spawner = make_spawner(["data-scientists"], extra_placement_spec={"constraints": ["node.role == worker"]})
    spawner.apply_request({"environment": "torch"})
    placement = (await created_service(spawner))["task_template"]["Placement"]
    assert placement == {"Constraints": ["node.role == worker"]}


async def test_a_server_no_node_can_take_is_told_which_label_is_missing():
    spawner = placed_spawner(unschedulable_grace=0, readiness_poll_interval=0.001)
    spawner.apply_request({"environment": "gpu"})
    err = "no suitable node (scheduling constraints not satisfied on 1 node)"
    docker = FakeDocker(tasks=[task("pending", err=err, node="")],
                        nodes=[node("node-1", labels={"mlops-hub.pool": "gpu-pool"})])
    offline(spawner, docker)
    with pytest.raises(web.HTTPError) as info:
        await start_object(spawner)
    assert info.value.log_message == (
        f"Docker Swarm cannot place your server: {err}. No node has the label gpu=true, which environment"
        " 'GPU (CUDA)' requires. Choose another environment, or ask your platform administrators to label a node.")
    assert len(docker.called("remove_service")) == 1


async def test_a_missing_pool_is_named_with_the_role():
    spawner = placed_spawner(unschedulable_grace=0, readiness_poll_interval=0.001)
    spawner.apply_request({"environment": "gpu"})
    err = "no suitable node (scheduling constraints not satisfied on 1 node)"
    docker = FakeDocker(tasks=[task("pending", err=err, node="")], nodes=[node("node-1", labels={"gpu": "true"})])
    offline(spawner, docker)
    with pytest.raises(web.HTTPError) as info:
        await start_object(spawner)
    assert ("No node is in pool 'gpu-pool' (label mlops-hub.pool=gpu-pool), which role 'gpu-users' is limited to."
            in info.value.log_message)


async def test_labels_present_but_resources_short_still_names_the_resource():
    spawner = placed_spawner(unschedulable_grace=0, readiness_poll_interval=0.001)
    spawner.apply_request({"environment": "gpu", "cpu_limit": "1.5"})
    err = "no suitable node (insufficient resources on 1 node)"
    docker = FakeDocker(tasks=[task("pending", err=err, node="", reserve_cpu=1.5)],
                        nodes=[node("node-1", cpus=1, labels={"gpu": "true", "mlops-hub.pool": "gpu-pool"})])
    offline(spawner, docker)
    with pytest.raises(web.HTTPError) as info:
        await start_object(spawner)
    assert "not enough CPU. Ask for fewer CPUs or less memory" in info.value.log_message


async def test_a_scheduled_notebooks_job_service_gets_the_same_constraints(monkeypatch):
    from mlops_hub import spawner as spawner_module
    from mlops_hub import spawner_jobs
    from mlops_hub.policy.jobs import JobSchedule

    spawner = placed_spawner(extra_placement_spec={"constraints": ["node.role == worker"]},
                             storage={"backend": "local"})
    offline(spawner, FakeDocker())
    spawner.__dict__["client"] = None  # provision is replaced below: no Docker client is needed
    monkeypatch.setattr(spawner_module, "provision",
                        lambda *a, **k: SimpleNamespace(env={}, mounts=[], configs=[], secrets=[]))
    request = spawner.job_request({"environment": "gpu"})
    schedule = JobSchedule.__new__(JobSchedule)
    monkeypatch.setattr(spawner_jobs, "job_environment", lambda *a, **k: {})
    monkeypatch.setattr(spawner_jobs, "runner_args", lambda *a, **k: [])
    container = await spawner.job_container(request, schedule, "dag-1", "token")
    assert container.constraints == ["node.role == worker", "node.labels.gpu == true",
                                     "node.labels.mlops-hub.pool == gpu-pool"]


# ---- homes on local volumes: the node is named on the form, the server pinned there -------------


async def test_the_form_names_the_node_that_holds_a_local_home_when_there_are_several(monkeypatch):
    from mlops_hub import spawner as spawner_module

    spawner = make_spawner(["analysts"], storage={"backend": "local"})
    offline(spawner, FakeDocker(nodes=[node("node-1", hostname="vm"), node("node-2", hostname="vm-w1")]))
    spawner.__dict__["client"] = None  # the record's read is replaced below
    recorded = {"alice": "node-2"}
    monkeypatch.setattr(spawner_module, "recorded_home_node", lambda client, prefix, user: recorded.get(user))
    spawner.user.name = "alice"
    assert '<p class="mlops-home-node">Your files are on node vm-w1: your servers start there.</p>' in (
        await rendered_form(spawner))
    spawner.user.name = "bob"  # no home yet: nothing to say
    assert "mlops-home-node" not in await rendered_form(spawner)
    one = make_spawner(["analysts"], storage={"backend": "local"})
    offline(one, FakeDocker(nodes=[node("node-2", hostname="vm")]))
    one.__dict__["client"] = None
    one.user.name = "alice"
    assert "mlops-home-node" not in await rendered_form(one)  # one node: nothing to choose


async def test_a_server_whose_home_node_is_down_is_told_so_with_the_move_command():
    spawner = make_spawner(["analysts"], storage={"backend": "local"})
    offline(spawner, FakeDocker(nodes=[node("node-2", hostname="vm-w1", state="down")]))
    spawner._home_node = "node-2"
    missing, advice = await spawner._missing_resources()
    assert missing == ""
    assert advice == ("Your files are on node vm-w1, which is down: your server can start once it is back, or"
                      f" {spawner.admin_contact} can move your files to another node (mlops-hub home move).")


# ---- a model release runs on the spawner's side, sized within the user's roles ---------------------------------


async def test_a_model_release_gets_the_users_role_room_and_the_hubs_prefix(monkeypatch):
    from mlops_hub import spawner_jobs

    spawner = make_spawner(["analysts"])
    seen = {}

    def fake_release(target, user, room, body, say):
        seen.update(target=target, user=user, room=room, body=body)
        return "released"

    monkeypatch.setattr(spawner_jobs, "release_from_hub", fake_release)
    assert await spawner.release_model({"model": "churn/1"}, print) == "released"
    access = spawner.user_access()
    assert (seen["room"].max_cpu, seen["room"].max_mem) == (access.max_cpu, access.max_mem)
    assert seen["room"].role == ", ".join(access.roles) and seen["user"] == spawner.user.name
    assert seen["target"].prefix == spawner.prefix and seen["body"] == {"model": "churn/1"}
