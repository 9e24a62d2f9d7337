"""MLOpsSwarmSpawner: dockerspawner's SwarmSpawner with environments, role limits and fail-fast.

Thin glue: it gathers the user's roles (JupyterHub groups), asks `mlops_hub.policy`, hands the
result to `mlops_hub.swarm`, and reports progress. With none of its own settings it behaves
like SwarmSpawner, keeping the fixes that need no configuration (restart condition `none`,
dnsrr endpoint, fail-fast with Swarm's reason, progress events).
"""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path

from docker.errors import APIError
from dockerspawner import SwarmSpawner
from jinja2 import Environment as JinjaEnvironment
from jinja2 import FileSystemLoader, select_autoescape
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError
from traitlets import Bool, Float, List, Unicode, default, validate
from traitlets import Dict as DictTrait

from .policy import (
    EnvironmentCatalogue,
    PolicyRefusal,
    SpawnOptionError,
    SpawnRequest,
    UserAccess,
    resolve_access,
    validate_spawn_options,
)
from .policy.environments import ConfigError, Environment
from .policy.form import user_options_from_form
from .policy.package_index import package_index_from_config
from .policy.roles import (
    DEFAULT_ROLE,
    RolePolicy,
    check_catalogue_references,
    role_policies_from_config,
)
from .policy.storage import storage_from_config
from .policy.units import MIN_CPU, MIN_MEM, format_cpu, format_memory, format_number
from .provision import provision, server_owner
from .quotas import glue as quota_glue
from .swarm import token_secret
from .swarm.configs import is_missing_reference, remove_unused
from .swarm.spec import ServerSpec, build_service_kwargs, label, reservation
from .swarm.tasks import (
    Phase,
    ServerStartFailed,
    TaskView,
    classify_task,
    newest_task,
    wait_for_task_running,
)

TEMPLATES = Path(__file__).parent / "templates"
_jinja = JinjaEnvironment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape())
_ROOT_USERS = {"", "root", "0", "0:0"}
_PHASE_PROGRESS = {Phase.WAITING: 25, Phase.SCHEDULED: 40, Phase.STARTING: 55, Phase.RUNNING: 70}


def _floor3(value: float) -> str:
    """Rounded down to 3 decimals: a bound shown on the form must itself pass validation."""
    return format_number(math.floor(value * 1000) / 1000)


def _gib(size: int) -> str:
    return _floor3(size / 1024**3)


class MLOpsSwarmSpawner(SwarmSpawner):
    """SwarmSpawner with an environment picker, per-role CPU/RAM limits and fail-fast starts."""

    environments = List(
        config=True,
        help="""Environments users may pick, in the order shown. Each item is a dict:
        slug (form value), display_name, description, image, default_cpu, default_mem
        (e.g. '4G'), roles (list of groups that may use it; absent = every role), default (bool).
        Empty (the default) keeps SwarmSpawner's own `image` / `allowed_images` behaviour.""",
    )

    role_policies = DictTrait(
        config=True,
        help="""Limits per role (a role is a JupyterHub group): {role: {max_cpu, max_mem,
        default_cpu, default_mem, environments (list of slugs or '*'), max_servers}}.
        A user in several roles gets the most permissive value per dimension. A user in no
        configured role gets the 'default' role; with no 'default' role the spawn is refused.""",
    )

    admin_contact = Unicode(
        "your platform administrators",
        config=True,
        help="Whom a refused user should ask, e.g. 'the ML platform team (#mlops-help)'.",
    )

    cpu_guarantee_fraction = Float(
        None,
        allow_none=True,
        config=True,
        help="""CPU reservation as a fraction of the chosen limit (0-1), used when
        `cpu_guarantee` (absolute) is not set.""",
    )

    mem_guarantee_fraction = Float(
        None,
        allow_none=True,
        config=True,
        help="""Memory reservation as a fraction of the chosen limit (0-1), used when
        `mem_guarantee` (absolute) is not set.""",
    )

    run_as_user = Unicode(
        None,
        allow_none=True,
        config=True,
        help="""User (uid[:gid]) the server runs as. None: the image's USER, or 1000:100 when the
        image would run as root (Jupyter refuses to run as root). '' forces the image's user.""",
    )

    api_token_secret = Bool(
        True,
        config=True,
        help="""Deliver the server's JupyterHub API token as a Swarm secret (mounted 0400 for the
        server's user) instead of an environment variable that `docker service inspect` shows.
        A /bin/sh wrapper exports it before the image's command; set False for images without
        /bin/sh.""",
    )

    unschedulable_grace = Float(
        3.0,
        config=True,
        help="Seconds a task may stay unschedulable ('no suitable node') before the spawn fails.",
    )

    readiness_poll_interval = Float(
        0.05,
        config=True,
        help="Seconds between checks of the new task and of the server's HTTP port.",
    )

    log_tail_timeout = Float(
        10.0,
        config=True,
        help="Seconds to wait for a failed server's last log lines before reporting without them.",
    )

    quota_store = Bool(
        False,
        config=True,
        help="""Keep role limits and team pools in the hub's database (seeded from `role_policies`,
        edited at /hub/mlops/quotas or /hub/api/mlops/quotas) and admit spawns to the pools.""",
    )

    package_index = DictTrait(
        config=True,
        help="""Package index injected into every server (pip.conf, uv.toml, .condarc as Swarm
        configs; credentials as a .netrc Swarm secret): index_url, extra_index_urls, trusted_hosts,
        username, password_file (a path on the hub) or password, ca_bundle_file, ca_include_system_roots,
        conda {channel_alias, channels, custom_channels}, roles {role: overrides, or null for none}.
        See docs/storage-and-packages.md. Empty: nothing injected.""",
    )

    storage = DictTrait(
        config=True,
        help="""Volumes for every server: backend ('local' or 'nfs'), home_mount, team_mount,
        datasets_mount, owner ('uid:gid'), nfs {server, export, options},
        roles {role: {team: bool, datasets: [names]}}. See docs/storage-and-packages.md.""",
    )

    ca_system_roots_file = Unicode(
        "/etc/ssl/certs/ca-certificates.crt",
        allow_none=True,
        config=True,
        help="""The hub's public root CAs, delivered before package_index.ca_bundle_file
        (when ca_include_system_roots is true) so public and internal sites both verify.""",
    )

    # ---- configuration parsed once, errors at hub start-up -------------------------------

    @validate("environments")
    def _check_environments(self, proposal):
        EnvironmentCatalogue.from_config(proposal["value"])
        return proposal["value"]

    @validate("role_policies")
    def _check_role_policies(self, proposal):
        role_policies_from_config(proposal["value"])
        return proposal["value"]

    @validate("package_index")
    def _check_package_index(self, proposal):
        package_index_from_config(proposal["value"])
        return proposal["value"]

    @validate("storage")
    def _check_storage(self, proposal):
        storage_from_config(proposal["value"])
        return proposal["value"]

    @validate("cpu_guarantee_fraction", "mem_guarantee_fraction")
    def _check_fraction(self, proposal):
        value = proposal["value"]
        if value is not None and not 0 < value <= 1:
            raise ConfigError(f"{proposal['trait'].name}: must be in (0, 1], got {value}")
        return value

    @property
    def policy_enabled(self) -> bool:
        return bool(self.environments or self.role_policies)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._events = []
        # apply_request overwrites cpu_limit/mem_limit per spawn; the implicit role keeps the configured ones
        self._configured_limits = (self.cpu_limit, self.mem_limit)
        if self.policy_enabled:
            self._policies()  # a role naming an unknown environment fails here, at hub start-up

    def _catalogue(self) -> EnvironmentCatalogue:
        if not self.environments:
            # role limits without a catalogue: the one environment is dockerspawner's `image`
            return EnvironmentCatalogue([Environment("default", self.image, self.image, default=True)])
        return EnvironmentCatalogue.from_config(self.environments)

    def _policies(self) -> dict[str, RolePolicy]:
        if self.quota_store:
            stored = quota_glue.store_policies(self)
            if stored or self.role_policies:
                return stored  # admin edits (and deletes) in the store win over role_policies
        if self.role_policies:
            policies = role_policies_from_config(self.role_policies)
        else:
            # environments without roles: everyone shares one role bounded by the hub's limits
            cpu, mem = self._configured_limits
            policies = {DEFAULT_ROLE: RolePolicy(DEFAULT_ROLE, cpu or 1.0, mem or 2 * 1024**3)}
        check_catalogue_references(policies, self._catalogue())
        return policies

    def _group_names(self) -> list[str]:
        return sorted(group.name for group in getattr(self.user, "groups", []) or [])

    def user_access(self) -> UserAccess:
        """The merged limits of this user's roles (PolicyRefusal when they have none)."""
        return resolve_access(self._group_names(), self._policies(), self._catalogue(), self.admin_contact)

    # ---- options form ---------------------------------------------------------------------

    @default("options_form")
    def _default_options_form(self):
        if not self.policy_enabled:
            return super()._default_options_form()
        if self.quota_store:
            return quota_glue.form_with_headroom(MLOpsSwarmSpawner._render_options_form)
        return MLOpsSwarmSpawner._render_options_form

    @staticmethod
    def _render_options_form(spawner: MLOpsSwarmSpawner) -> str:
        try:
            access = spawner.user_access()
        except PolicyRefusal as e:
            return _jinja.get_template("refusal.html").render(message=str(e))
        saved = spawner.user_options or {}
        try:
            selected_request = validate_spawn_options(saved, access, spawner._policies())
        except SpawnOptionError:
            # saved options no longer fit today's policy: offer the defaults instead
            try:
                selected_request = validate_spawn_options({}, access, spawner._policies())
            except SpawnOptionError as e:
                return _jinja.get_template("refusal.html").render(
                    message=f"{e.message}. Ask {spawner.admin_contact} for access to an environment.")
        return _jinja.get_template("options_form.html").render(
            access=access,
            max_cpu=_floor3(access.max_cpu),
            max_mem=format_memory(access.max_mem),
            min_cpu=format_cpu(MIN_CPU),
            min_mem_gib=_gib(MIN_MEM),
            max_mem_gib=_gib(access.max_mem),
            selected={
                "environment": selected_request.environment.slug,
                "cpu": _floor3(selected_request.cpu_limit),
                "mem_gib": _gib(selected_request.mem_limit),
            },
        )

    @default("options_from_form")
    def _default_options_from_form(self):
        if not self.policy_enabled:
            return super()._default_options_from_form()

        def options_from_form(formdata, spawner):
            options = user_options_from_form(formdata)
            # validate now so the form is shown again with the message, before any spawn starts
            spawner.validate_request(options)
            return options

        return options_from_form

    # ---- validation: the same path for form posts, REST user_options and saved options -----

    @default("apply_user_options")
    def _default_apply_user_options(self):
        if not self.policy_enabled:
            return None
        return lambda spawner, user_options: spawner.apply_request(user_options)

    def validate_request(self, user_options) -> SpawnRequest:
        """Validate against today's policy; HTTP 400/403 with a message naming the field."""
        try:
            access = self.user_access()
            request = validate_spawn_options(user_options, access, self._policies())
        except SpawnOptionError as e:
            raise web.HTTPError(400, f"Invalid {e.field}: {e.message}", reason="Bad Request") from None
        except PolicyRefusal as e:
            raise web.HTTPError(403, str(e), reason="Forbidden") from None
        self._check_server_count(access)
        return request

    def _check_server_count(self, access: UserAccess) -> None:
        others = [
            s for s in self.user.spawners.values() if s is not self and (s.active or s.ready)
        ]
        if len(others) >= access.max_servers:
            raise web.HTTPError(
                403,
                f"You already run {len(others)} server(s); your role allows {access.max_servers}."
                " Stop one before starting another.",
                reason="Forbidden",
            )

    def apply_request(self, user_options) -> SpawnRequest:
        request = self.validate_request(user_options)
        self.mlops_request = request
        self.image = request.environment.image
        self.cpu_limit = request.cpu_limit
        self.mem_limit = request.mem_limit
        return request

    # ---- progress -----------------------------------------------------------------------

    def _report(self, progress: int, message: str) -> None:
        self.log.info("%s: %s", self._log_name, message)
        self._events.append({"progress": progress, "message": message})
        self._wake_progress_streams()

    # per-spawn state, reset by start()
    mlops_request: SpawnRequest | None = None
    _spawn_done = False
    _task: TaskView | None = None
    _progress_tick: asyncio.Future | None = None

    def _wake_progress_streams(self) -> None:
        """Every open progress stream sends what is new now, not on its next poll."""
        tick, self._progress_tick = self._progress_tick, None
        if tick is not None and not tick.done():
            tick.set_result(None)

    async def progress(self):
        # event-driven: JupyterHub stops reading this stream the moment the spawn is done, so
        # a poll interval dropped the last events ("Server answering") whenever it ended first
        sent = 0
        while True:
            while sent < len(self._events):
                yield self._events[sent]
                sent += 1
            if self._spawn_done:
                return
            if self._progress_tick is None:
                self._progress_tick = asyncio.get_running_loop().create_future()
            # asyncio.wait, not await: a closed stream must not cancel the tick other streams share
            await asyncio.wait([self._progress_tick])

    # ---- start: SwarmSpawner.start calls create_object, then start_object ------------------

    async def start(self):
        self._events = []
        self._spawn_done = False
        self._task = None
        try:
            if self.policy_enabled and self.mlops_request is None:
                # an admin-supplied apply_user_options replaced ours: still enforce the policy
                self.apply_request(self.user_options)
            if self.quota_store and self.mlops_request is not None:
                await quota_glue.admit(self, self.mlops_request)  # HTTP 403 before any Docker object
            try:
                return await super().start()
            except BaseException:
                if self.quota_store:
                    quota_glue.release(self)
                raise
        finally:
            self._spawn_done = True
            self._wake_progress_streams()
            self.mlops_request = None

    def _labels(self) -> dict[str, str]:
        labels = {
            label("managed"): "true",
            label("prefix"): self.prefix,
            label("user"): self.user.name,
            label("server-name"): self.name or "",
        }
        if self.mlops_request is not None:
            labels[label("environment")] = self.mlops_request.environment.slug
            labels[label("role")] = self.mlops_request.role
            # the request, so team pool usage can be rebuilt from the services after a hub restart
            labels[label("cpu")] = format_number(self.mlops_request.cpu_limit)
            labels[label("mem")] = str(self.mlops_request.mem_limit)
        return labels

    def _env_for_request(self, env: dict) -> dict:
        if self.mlops_request is not None:
            env["MLOPS_ENVIRONMENT"] = self.mlops_request.environment.slug
            env["MLOPS_ROLE"] = self.mlops_request.role
        return env

    async def _container_user(self, image_info: dict) -> str | None:
        if self.run_as_user is not None:
            return self.run_as_user or None
        image_user = (image_info.get("Config") or {}).get("User") or ""
        return "1000:100" if image_user in _ROOT_USERS else None

    async def _provision(self, image_info: dict, container_user: str | None):
        """Package index files and volumes; None when neither is configured."""
        index_config = package_index_from_config(self.package_index)
        role = self.mlops_request.role if self.mlops_request is not None else None
        index = index_config.for_role(role)
        storage = storage_from_config(self.storage)
        if index is None and storage is None:
            return None
        try:
            owner = server_owner(storage, container_user, (image_info.get("Config") or {}).get("User") or "")
            return await asyncio.wrap_future(self.executor.submit(
                provision, self.client, prefix=self.prefix, username=self.user.name,
                roles=self._group_names(), image=self.image, owner=owner, index=index, storage=storage,
                system_roots_file=self.ca_system_roots_file,
            ))
        except ConfigError as e:
            self.log.error("%s: cannot prepare the server: %s", self._log_name, e)
            raise web.HTTPError(
                500, f"The platform is misconfigured ({e}). Please tell {self.admin_contact}.",
                reason="Server misconfigured") from None

    async def create_object(self):
        image_info = await self.docker("inspect_image", self.image)
        env = self._env_for_request(self.get_env())
        env["MLOPS_IMAGE_DIGEST"] = image_info.get("Id", "")
        args = (self.cmd or image_info["Config"]["Cmd"] or []) + self.get_args()
        user = await self._container_user(image_info)
        secrets = []
        if self.api_token_secret:
            run_as = user or (image_info.get("Config") or {}).get("User") or ""
            secrets.append(await self._create_token_secret(token_secret.take_token(env), run_as))
            args = token_secret.wrap_args(args)
        for attempt in range(3):
            provisioned = await self._provision(image_info, user)
            if provisioned is not None:
                env.update(provisioned.env)
            try:
                return await self._create_service(env, args, user, secrets, provisioned)
            except APIError as e:
                # a stopping server's clean-up removed a config we had just found: create it again
                if provisioned is None or attempt == 2 or not is_missing_reference(e):
                    raise

    async def _create_service(self, env, args, user, secrets, provisioned):
        spec = ServerSpec(
            name=self.service_name,
            image=self.image,
            args=args,
            env=env,
            network=self.network_name,
            user=user,
            secrets=secrets + (provisioned.secrets if provisioned else []),
            configs=provisioned.configs if provisioned else [],
            cpu_limit=self.cpu_limit,
            cpu_reservation=reservation(self.cpu_limit, self.cpu_guarantee, self.cpu_guarantee_fraction),
            mem_limit=self.mem_limit,
            mem_reservation=reservation(self.mem_limit, self.mem_guarantee, self.mem_guarantee_fraction),
            labels=self._labels(),
            mounts=list(self.mounts or []) + (provisioned.mounts if provisioned else []),
            extra_container_spec=self.extra_container_spec,
            extra_resources_spec=self.extra_resources_spec,
            extra_placement_spec=self.extra_placement_spec,
            extra_task_spec=self.extra_task_spec,
            extra_endpoint_spec=self.extra_endpoint_spec,
            extra_create_kwargs=self.extra_create_kwargs,
        )
        if self.mlops_request is not None:
            r = self.mlops_request
            self._report(
                10,
                f"Starting {r.environment.display_name} with {format_cpu(r.cpu_limit)} CPUs"
                f" and {format_memory(r.mem_limit)} (role {r.role})",
            )
        service = await self.docker("create_service", **build_service_kwargs(spec))
        self._report(20, f"Service {self.service_name} created")
        return service

    def _token_secret_labels(self) -> dict[str, str]:
        return {label("prefix"): self.prefix, label("service"): self.service_name, label("kind"): "api-token"}

    async def _create_token_secret(self, token: str, run_as: str):
        await self._remove_token_secrets()  # left by a server that did not stop cleanly
        name = token_secret.secret_name(self.service_name, token)
        created = await self.docker("create_secret", name, token.encode(), labels=self._token_secret_labels())
        return token_secret.secret_reference(created["ID"], name, run_as)

    async def _remove_token_secrets(self) -> None:
        selector = [f"{k}={v}" for k, v in self._token_secret_labels().items()]
        for secret in await self.docker("secrets", filters={"label": selector}):
            try:
                await self.docker("remove_secret", secret["ID"])
            except APIError as e:
                self.log.warning("Could not remove secret %s yet: %s", secret["Spec"]["Name"], e)

    async def _list_tasks(self) -> list[dict]:
        return await self.docker("tasks", filters={"service": self.service_name})

    def _on_phase(self, view: TaskView) -> None:
        if view.phase in _PHASE_PROGRESS:
            self._report(_PHASE_PROGRESS[view.phase], f"Server {view.phase.value}")

    async def start_object(self):
        """Wait for the task to run and the server to answer; on failure remove the service."""
        try:
            self._task = await wait_for_task_running(
                self._list_tasks, self._on_phase, self.unschedulable_grace, self.readiness_poll_interval
            )
            self._report(80, "Waiting for JupyterLab to answer")
            await self._wait_for_http()
        except ServerStartFailed as e:
            message = await self._with_log_tail(str(e))
            self._report(100, message)
            await self.remove_object()
            self.object_id = ""
            raise web.HTTPError(500, message, reason="Server failed to start") from None
        self._report(95, "Server answering")

    async def _with_log_tail(self, message: str) -> str:
        """A crashed server's last log lines say why far better than an exit code."""
        try:
            # bounded: `docker service logs` was seen to hang on Docker 20.10, and the user waits
            raw = await asyncio.wait_for(
                self.docker("service_logs", self.service_name, stdout=True, stderr=True, tail=5),
                timeout=self.log_tail_timeout,
            )
            tail = b"".join(raw).decode("utf8", "replace").strip()
        except Exception:
            tail = ""
        return f"{message}\nLast log lines:\n{tail}" if tail else message

    async def _wait_for_http(self) -> None:
        """Return once the server answers, so JupyterHub's first readiness check succeeds."""
        ip, port = await self.get_ip_and_port()
        url = f"http://{ip}:{port}{self.server.base_url if self.server else '/'}api"
        client = AsyncHTTPClient()
        deadline = time.monotonic() + self.http_timeout
        next_task_check = 0.0
        while time.monotonic() < deadline:
            try:
                await client.fetch(url, request_timeout=2, connect_timeout=1)
                return
            except HTTPClientError as e:
                if e.code != 599:
                    return  # any HTTP answer means the server is up
            except OSError:
                pass  # not resolvable or refusing yet
            if time.monotonic() >= next_task_check:
                task = newest_task(await self._list_tasks())
                view = classify_task(task) if task is not None else None
                if view is not None and view.phase is Phase.FAILED:
                    raise ServerStartFailed(f"Your server's container {view.state}: {view.reason}")
                next_task_check = time.monotonic() + 0.5
            await asyncio.sleep(self.readiness_poll_interval)
        # not answering yet: JupyterHub's own http_timeout check takes over and reports it

    async def get_ip_and_port(self):
        """The new task's own IP: the service name can still resolve to a previous, dying task."""
        task = getattr(self, "_task", None)
        if self.use_internal_ip and task is None:
            found = newest_task(await self._list_tasks())
            task = classify_task(found) if found else None
        address = task.address_on(self.network_name) if task and self.network_name else None
        if self.use_internal_ip and address:
            return address, self.port
        return await super().get_ip_and_port()

    async def stop(self, now=False):
        await super().stop(now=now)
        if self.quota_store:
            quota_glue.release(self)

    async def remove_object(self):
        try:
            await self.docker("remove_service", self.object_id or self.service_name)
        except APIError as e:
            if e.response is None or e.response.status_code != 404:
                raise
        await self._remove_token_secrets()
        if self.package_index:
            await self._remove_unused_configs()

    async def _remove_unused_configs(self) -> None:
        """Configs/secrets of this prefix that no service uses any more (a setting changed)."""
        try:
            removed = await asyncio.wrap_future(self.executor.submit(remove_unused, self.client, self.prefix))
        except APIError as e:
            self.log.warning("%s: could not clean up unused configs/secrets: %s", self._log_name, e)
            return
        if removed:
            self.log.info("%s: removed unused configs/secrets %s", self._log_name, ", ".join(removed))
