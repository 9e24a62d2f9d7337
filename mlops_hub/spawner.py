"""MLOpsSwarmSpawner: dockerspawner's SwarmSpawner with environments, role limits and fail-fast.

Thin glue: it gathers the user's roles (JupyterHub groups), asks `mlops_hub.policy`, hands the
result to `mlops_hub.swarm`, and reports progress. With none of its own settings it behaves
like SwarmSpawner, keeping the fixes that need no configuration (restart condition `none`,
dnsrr endpoint, fail-fast with Swarm's reason, progress events).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor

from docker.errors import APIError
from dockerspawner import SwarmSpawner
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError
from traitlets import Bool, Float, Integer, List, Unicode, default, observe, validate
from traitlets import Dict as DictTrait
from traitlets import Enum as EnumTrait

from .metrics import pool_metrics, spawn_metrics
from .names import ENV_ENVIRONMENT, ENV_IMAGE_DIGEST, ENV_ROLE
from .policy import (
    ConfigError,
    PlatformPolicy,
    PolicyRefusal,
    RolePolicy,
    SpawnOptionError,
    SpawnRequest,
    UserAccess,
    platform_policy,
    resolve_access,
    validate_spawn_options,
)
from .policy.form import render_options_form, render_refusal, user_options_from_form
from .policy.home_node import home_constraint, home_line
from .policy.image_check import wrong_port_fault
from .policy.image_pins import pin
from .policy.placement import NodeRequirement, constraints
from .policy.pools import Charge, Headroom, Usage, headroom
from .policy.units import format_cpu, format_memory
from .provision import Provisioned, provision, server_owner
from .quotas.service import quota_service
from .spawner_failures import FailureReports
from .spawner_jobs import JobsAndReleases
from .swarm import endpoint as swarm_endpoint
from .swarm import token_secret
from .swarm.backoff import ReadinessBackoff, SpawnsInFlight
from .swarm.client import shared_client
from .swarm.configs import is_missing_reference, remove_unused
from .swarm.home_node import recorded_home_node
from .swarm.image_packages import image_packages
from .swarm.image_user import image_numeric_user
from .swarm.labels import (
    ServerLabels,
    running_jobs,
    running_models,
    running_servers,
    threaded_docker_call,
)
from .swarm.placement import PlacementsInFlight, free_room, no_room_detail, no_room_reason, surely_no_room
from .swarm.spec import ServerSpec, build_service_kwargs, fit_service_name, reservation
from .swarm.tasks import (
    Phase,
    ServerStartFailed,
    ServerUnschedulable,
    TaskView,
    classify_task,
    newest_task,
    wait_for_task_running,
)

_ROOT_USERS = {"", "root", "0", "0:0"}
_PHASE_PROGRESS = {Phase.WAITING: 25, Phase.SCHEDULED: 40, Phase.STARTING: 55, Phase.RUNNING: 70}


def charges_of(servers: list[ServerLabels]) -> list[Charge]:
    """Running servers as claims on their roles' team pools."""
    return [Charge(s.user, s.server, s.role, s.cpu or 0.0, s.mem or 0, s.environment) for s in servers]


class MLOpsSwarmSpawner(JobsAndReleases, FailureReports, SwarmSpawner):
    """SwarmSpawner with an environment picker, per-role CPU/RAM limits and fail-fast starts.

    The failure messages live in spawner_failures.py, the jobs and model releases the hub's APIs run through a
    user's spawner in spawner_jobs.py; this class holds the settings and JupyterHub's hooks."""

    environments = List(
        config=True,
        help="""Environments users may pick, in the order shown. Each item is a dict:
        slug (form value), display_name, description, image, default_cpu, default_mem
        (e.g. '4G'), min_mem (the least memory its servers run in; default 512M), roles (list of
        groups that may use it; absent = every role), default (bool), node_labels (node labels its
        servers need: {gpu: "true"} or ["gpu=true", "highmem"]; a bare name means the value true).
        Empty (the default) keeps SwarmSpawner's own `image` / `allowed_images` behaviour.""",
    )

    role_policies = DictTrait(
        config=True,
        help="""Limits per role (a role is a JupyterHub group): {role: {max_cpu, max_mem,
        default_cpu, default_mem, environments (list of slugs or '*'), max_servers, pool_cpu,
        pool_mem, pool_servers, node_pool}} (the pool_* keys need quota_store; node_pool: its servers run
        only on nodes labelled mlops-hub.pool=NAME).
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
        help="""Seconds between checks of the new task and of the server's HTTP port when it starts
        alone; with more spawns in flight the interval grows (`readiness_polls_per_second`).""",
    )

    readiness_polls_per_second = Float(
        20.0,
        config=True,
        help="""Checks per second the hub spends on all starting servers together: each of N spawns in
        flight looks every N / this seconds (at least `readiness_poll_interval`, at most
        `readiness_poll_max_interval`), so a storm of starts does not flood Docker and the hub.""",
    )

    readiness_poll_max_interval = Float(
        2.0,
        config=True,
        help="Seconds a starting server waits at most between two checks, however many spawns are in flight.",
    )

    docker_threads = Integer(
        4,
        config=True,
        help="""Threads that make the hub's Docker API calls (dockerspawner uses one for every spawner of the
        hub). With one, a storm of spawns queues every service creation, task check and removal behind each
        other: a server Swarm cannot place was refused only after all the others were created. Read once,
        at the first Docker call.""",
    )

    server_cpu_shares = Integer(
        None,
        allow_none=True,
        config=True,
        help="""CPU weight (Docker's --cpu-shares; 1024 is every container's default) given to each server
        once it runs, on the hub's node. Lower than the platform's services, the hub, proxy and database
        win the CPU when a storm of servers competes for it; idle CPU is still the servers'. Swarm's
        CPU reservations only steer placement, they give no weight. None: Docker's default.""",
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

    image_pins = DictTrait(
        value_trait=Unicode(),
        config=True,
        help="""Image as configured (`image`, an environment's image) -> the reference a service runs, by digest
        in a registry every node reaches (e.g. "mlops-hub/lab-base:latest" ->
        "10.0.0.5:5000/mlops-hub/lab-base:latest@sha256:..."). `mlops-hub up` sets it from what it pushed
        (MLOPS_IMAGE_PINS); an image without a pin runs as configured, as in SwarmSpawner.""",
    )

    published_port_mode = EnumTrait(
        list(swarm_endpoint.PUBLISH_MODES),
        default_value="host",
        config=True,
        help="""How the server's port is published when the hub does not use the task's own IP
        (`use_internal_ip` False, e.g. `network_name` 'bridge'): 'host' (default) publishes on the
        node running the task and works without IPVS; 'ingress' uses Swarm's routing mesh, which
        needs IPVS on every node and an endpoint mode 'vip'. See docs/configuration.md.""",
    )

    @validate("docker_threads")
    def _check_docker_threads(self, proposal):
        if proposal["value"] < 1:
            raise ConfigError("docker_threads", f"must be at least 1, got {proposal['value']}")
        return proposal["value"]

    _docker_executor: ThreadPoolExecutor | None = None

    @property
    def executor(self) -> ThreadPoolExecutor:
        """dockerspawner's hook: the one pool of every spawner of the hub, `docker_threads` wide."""
        cls = MLOpsSwarmSpawner
        if cls._docker_executor is None:
            cls._docker_executor = ThreadPoolExecutor(self.docker_threads, thread_name_prefix="mlops-docker")
        return cls._docker_executor

    @validate("server_cpu_shares")
    def _check_cpu_shares(self, proposal):
        value = proposal["value"]
        if value is not None and not 2 <= value <= 262144:  # the kernel's range for cpu.shares
            raise ConfigError("server_cpu_shares", f"must be between 2 and 262144, got {value}")
        return value

    @validate("cpu_guarantee_fraction", "mem_guarantee_fraction")
    def _check_fraction(self, proposal):
        value = proposal["value"]
        if value is not None and not 0 < value <= 1:
            raise ConfigError(proposal["trait"].name, f"must be a number in (0, 1], got {value:g}")
        return value

    # ---- configuration: parsed once per content; the quota store read once per request ----

    @property
    def policy_enabled(self) -> bool:
        return bool(self.environments or self.role_policies)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._events = []
        self._request_policies: Mapping[str, RolePolicy] | None = None
        # apply_request overwrites image/cpu_limit/mem_limit per spawn; the configured ones stay here
        self._configured = (self.image, self.cpu_limit, self.mem_limit)
        self._check_networking()
        self._readiness_backoff()  # a bad combination fails here, not at the first spawn
        if self.policy_enabled or self.package_index or self.storage:
            self.platform  # noqa: B018 - a bad setting fails here (the hub checks it at start-up too)

    @default("object_name")
    def _object_name_default(self):
        """dockerspawner's `name_template`, shortened with a hash only where Swarm would refuse it."""
        return fit_service_name(super()._object_name_default())

    _platform: PlatformPolicy | None = None

    @property
    def platform(self) -> PlatformPolicy:
        """Environments, roles, package index and storage, parsed once for every spawner of the hub."""
        if self._platform is None:
            image, cpu, mem = self._configured
            self._platform = platform_policy(self.environments, self.role_policies, self.package_index,
                                             self.storage, image=image, fallback_cpu=cpu, fallback_mem=mem)
        return self._platform

    @observe("environments", "role_policies", "package_index", "storage")
    def _settings_changed(self, change) -> None:
        self._platform = None  # looked up again (and parsed only if the content is new)

    def _endpoint_kwargs(self) -> dict:
        return swarm_endpoint.endpoint_kwargs(
            network_name=self.network_name, use_internal_ip=self.use_internal_ip, port=self.port,
            extra_endpoint_spec=self.extra_endpoint_spec, publish_mode=self.published_port_mode)

    def _check_networking(self) -> None:
        """A combination Docker refuses raises ConfigError naming the settings (swarm.endpoint), before
        any spawn; ingress ports on a node without IPVS only warn (another node may have it)."""
        if swarm_endpoint.uses_ingress(self._endpoint_kwargs()) and not swarm_endpoint.ipvs_available():
            self.log.warning(
                "published_port_mode / extra_endpoint_spec: ports published in ingress mode never answer"
                " on a node without IPVS (this one has none); use published_port_mode = 'host'")

    def _policies(self) -> Mapping[str, RolePolicy]:
        """The roles in force for this request: the quota store's (read once), else the configured ones."""
        if self._request_policies is None:
            platform = self.platform
            policies = platform.roles
            if self.quota_store:
                service = quota_service()
                service.prepare(self.user.db, platform.role_documents if self.role_policies else {})
                stored = service.policies(self.user.db, platform.catalogue)
                if stored or self.role_policies:
                    policies = stored  # admin edits (and deletes) in the store win over role_policies
            self._request_policies = policies
            pool_metrics.observe_pools(p.pool for p in policies.values())
        return self._request_policies

    def _end_request(self) -> None:
        self._request_policies = None

    def _group_names(self) -> list[str]:
        return sorted(group.name for group in getattr(self.user, "groups", []) or [])

    def user_access(self) -> UserAccess:
        """The merged limits of this user's roles (PolicyRefusal when they have none)."""
        return resolve_access(self._group_names(), self._policies(), self.platform.catalogue, self.admin_contact)

    # ---- options form ---------------------------------------------------------------------

    @default("options_form")
    def _default_options_form(self):
        """JupyterHub calls `options_form(spawner)` (may be async) for the spawn page's HTML."""
        if not self.policy_enabled:
            return super()._default_options_form()
        return MLOpsSwarmSpawner._render_options_form

    @staticmethod
    async def _render_options_form(spawner: MLOpsSwarmSpawner) -> str:
        spawner._end_request()  # a new page view: read the store afresh
        try:
            return await spawner._options_form_html()
        finally:
            spawner._end_request()

    async def _options_form_html(self) -> str:
        try:
            access = self.user_access()
        except PolicyRefusal as e:
            return render_refusal(str(e))
        try:
            selected = validate_spawn_options(self.user_options or {}, access, self._policies())
        except SpawnOptionError:
            # saved options no longer fit today's policy: offer the defaults instead
            try:
                selected = validate_spawn_options({}, access, self._policies())
            except SpawnOptionError as e:
                return render_refusal(f"{e.message}. Ask {self.admin_contact} for access to an environment.")
        headroom, packages, home = await asyncio.gather(
            self._headroom(access), self._environment_packages(access), self._home_node_line())
        return render_options_form(access, selected, headroom, packages, notice=self.last_stop_reason, home=home)

    async def _home_node_line(self) -> str:
        """With homes on local volumes and several nodes: the node the user's files (and servers) are on."""
        storage = self.platform.storage
        if storage is None or storage.backend != "local":
            return ""
        try:
            node_id = await asyncio.wrap_future(self.executor.submit(
                recorded_home_node, self.client, self.prefix, self.user.name))
            nodes = await self.docker("nodes") if node_id else []
        except APIError as e:
            self.log.warning("%s: cannot read where the home is: %s", self._log_name, e)
            return ""
        node = next((n for n in nodes if n["ID"] == node_id), None)
        return home_line(node["Description"]["Hostname"]) if node and len(nodes) > 1 else ""

    async def _environment_packages(self, access: UserAccess) -> dict[str, tuple[tuple[str, str], ...]]:
        """slug -> the main packages its image's label lists (none for an image not on this node)."""
        found = await image_packages(self.docker, (env.image for env in access.environments), self.log)
        return {env.slug: found[env.image] for env in access.environments}

    async def _headroom(self, access: UserAccess) -> list[Headroom]:
        """Room left in the user's team pools; none shown when usage cannot be read."""
        if not self.quota_store:
            return []
        service = quota_service()
        try:
            await service.ensure_loaded(self._running_charges)
        except Exception as e:  # the form still works; admission reports the problem at spawn
            self.log.warning("team pool usage unavailable for the spawn form: %s", e)
            return []
        usage, policies = service.usage(), self._policies()
        pools = [policies[role].pool for role in access.roles if role in policies]
        return [headroom(pool, usage.get(pool.role, Usage())) for pool in pools if not pool.unlimited]

    @default("options_from_form")
    def _default_options_from_form(self):
        """JupyterHub's contract: only turn the form post into `user_options`; apply_user_options checks it."""
        if not self.policy_enabled:
            return super()._default_options_from_form()
        return user_options_from_form

    # ---- validation: once per spawn, the same for form posts, REST user_options and saved options

    @default("apply_user_options")
    def _default_apply_user_options(self):
        """JupyterHub (>= 5.3) calls it before start(); an HTTPError here is shown to the user (form or API)."""
        if not self.policy_enabled:
            return None
        return lambda spawner, user_options: spawner.apply_request(user_options)

    def validate_request(self, user_options) -> SpawnRequest:
        """Validate against today's policy; HTTP 400/403 with a message naming the field."""
        request, access = self._validated(user_options)
        self._check_server_count(access)
        return request

    def _validated(self, user_options) -> tuple[SpawnRequest, UserAccess]:
        """A server's or a job's options checked against today's policy, read once for the rest of the request."""
        self._end_request()
        try:
            access = self.user_access()
            return validate_spawn_options(user_options, access, self._policies()), access
        except SpawnOptionError as e:
            raise web.HTTPError(400, f"Invalid {e.field}: {e.message}", reason="Bad Request") from None
        except PolicyRefusal as e:
            raise web.HTTPError(403, str(e), reason="Forbidden") from None

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
        """Validate, then set image and limits as dockerspawner's own traits."""
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
        """JupyterHub's contract: yield {progress, message} events for the spawn page until start() ends."""
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
        """JupyterHub's contract: return (ip, port) once the server may be connected to, or raise.

        SwarmSpawner.start creates the service (create_object) and waits for it (start_object);
        before that the request is admitted to its team pool, so a refusal leaves no Docker object.
        """
        self._events = []
        self._spawn_done = False
        self._task = None
        try:
            if self.policy_enabled and self.mlops_request is None:
                # an admin-supplied apply_user_options replaced ours: still enforce the policy
                self.apply_request(self.user_options)
            if self.quota_store and self.mlops_request is not None:
                await self._admit(self.mlops_request)
            try:
                if self.mlops_request is not None:
                    await self._refuse_when_no_node_has_room()
                started = await super().start()
            except BaseException:
                if self.quota_store:
                    quota_service().release(*self._server_key)
                raise
            finally:
                self._placements.discard(self._server_key)
            self._count_spawn(None)
            self.last_stop_reason = ""
            return started
        except BaseException as e:
            self._count_spawn(e)
            raise
        finally:
            self._spawn_done = True
            self._wake_progress_streams()
            self.mlops_request = None
            self._end_request()

    def _count_spawn(self, error: BaseException | None) -> None:
        r = self.mlops_request
        spawn_metrics.spawn_ended(r.environment.slug if r else "", r.role if r else "", error)

    @property
    def _server_key(self) -> tuple[str, str]:
        return self.user.name, self.name or ""

    async def _admit(self, request: SpawnRequest) -> None:
        """Reserve the request in its role's pool; HTTP 403 naming the limit when it does not fit."""
        charge = Charge(*self._server_key, request.role, request.cpu_limit, request.mem_limit,
                        request.environment.slug)
        try:
            await quota_service().admit(charge, self._policies()[request.role].pool, self._running_charges,
                                        self.admin_contact, self._running_job_and_model_charges)
        except PolicyRefusal as e:
            self.log.info("%s: refused by team pool: %s", self._log_name, e)
            spawn_metrics.refused(request.role, getattr(e, "dimension", None))
            raise web.HTTPError(403, str(e), reason="Forbidden") from None

    async def _running_charges(self) -> list[Charge]:
        return charges_of(await running_servers(self.docker, self.prefix))

    async def _running_job_and_model_charges(self, replacing: str = "") -> list[Charge]:
        """What counts against the pools beside the servers, read afresh (Airflow starts jobs, releases change
        models): notebook jobs and served models, but not `replacing` (the model a release updates)."""
        others = await running_jobs(self.docker, self.prefix) + await running_models(self.docker, self.prefix)
        return [c for c in charges_of(others) if not replacing or c.server != replacing]

    @classmethod
    def pool_usage_loader(cls, prefix: str) -> Callable[[], Awaitable[list[Charge]]]:
        """For the hub's quota pages, which have no spawner: this hub's running servers as pool charges."""

        async def load() -> list[Charge]:
            # the client is made at the first call: an unreachable Docker is reported there, as a 503
            return charges_of(await running_servers(threaded_docker_call(shared_client()), prefix))

        return load

    def _labels(self) -> dict[str, str]:
        r = self.mlops_request
        # the request's size is on the service, so pool usage can be rebuilt after a hub restart
        return ServerLabels(
            self.prefix, self.user.name, self.name or "",
            environment=r.environment.slug if r else "", role=r.role if r else "",
            cpu=r.cpu_limit if r else None, mem=r.mem_limit if r else None,
        ).as_labels()

    def _env_for_request(self, env: dict) -> dict:
        if self.mlops_request is not None:
            env[ENV_ENVIRONMENT] = self.mlops_request.environment.slug
            env[ENV_ROLE] = self.mlops_request.role
        return env

    async def _container_user(self, image_info: dict) -> str | None:
        if self.run_as_user is not None:
            return self.run_as_user or None
        image_user = (image_info.get("Config") or {}).get("User") or ""
        return "1000:100" if image_user in _ROOT_USERS else None

    async def _provision(self, image: str, role: str | None, image_info: dict,
                         container_user: str | None) -> Provisioned | None:
        """Package index files and volumes for a server or job of `image` in `role`; None when neither is
        configured."""
        index = self.platform.package_index.for_role(role)
        storage = self.platform.storage
        if index is None and storage is None:
            return None
        try:
            owner = server_owner(storage, container_user, (image_info.get("Config") or {}).get("User") or "")
            return await asyncio.wrap_future(self.executor.submit(
                provision, self.client, prefix=self.prefix, username=self.user.name,
                roles=self._group_names(), image=image, owner=owner, index=index, storage=storage,
                system_roots_file=self.ca_system_roots_file,
            ))
        except ConfigError as e:
            raise self._misconfigured(e) from None

    async def _numeric_user(self, image_info: dict, container_user: str | None) -> str:
        """uid:gid the server runs as: the token secret is mounted 0400 for exactly that owner."""
        user = container_user or (image_info.get("Config") or {}).get("User") or ""
        try:
            return await image_numeric_user(self.docker, image_info.get("Id", ""), user)
        except ConfigError as e:
            raise self._misconfigured(e) from None

    def _misconfigured(self, e: ConfigError) -> web.HTTPError:
        self.log.error("%s: cannot prepare the server: %s", self._log_name, e)
        return web.HTTPError(500, f"The platform is misconfigured ({e}). Please tell {self.admin_contact}.",
                             reason="Server misconfigured")

    async def create_object(self):
        """SwarmSpawner's hook: create the service (image, limits, labels, secrets, volumes) and return it."""
        image_info = await self.docker("inspect_image", self.image)
        env = self._env_for_request(self.get_env())
        env[ENV_IMAGE_DIGEST] = image_info.get("Id", "")
        args = (self.cmd or image_info["Config"]["Cmd"] or []) + self.get_args()
        self._refuse_wrong_port(image_info, args)  # before any secret or service exists: nothing to clean up
        user = await self._container_user(image_info)
        secrets = []
        if self.api_token_secret:
            run_as = await self._numeric_user(image_info, user)
            secrets.append(await token_secret.create_token_secret(
                self.docker, self.prefix, self.service_name, token_secret.take_token(env), run_as, self.log))
            args = token_secret.wrap_args(args)
        role = self.mlops_request.role if self.mlops_request is not None else None
        for attempt in range(3):
            provisioned = await self._provision(self.image, role, image_info, user)
            if provisioned is not None:
                env.update(provisioned.env)
            try:
                return await self._create_service(env, args, user, secrets, provisioned)
            except APIError as e:
                # a stopping server's clean-up removed a config we had just found: create it again
                if provisioned is None or attempt == 2 or not is_missing_reference(e):
                    raise

    def _environment_slug(self) -> str:
        """The environment of this spawn (also after a hub restart, from the saved options); '' without one."""
        if self.mlops_request is not None:
            return self.mlops_request.environment.slug
        slug = (self.user_options or {}).get("environment")
        return slug if isinstance(slug, str) else ""

    def _image_named(self) -> str:
        slug = self._environment_slug()
        return f"the image {self.image} of environment {slug}" if slug else f"the image {self.image}"

    def _refuse_wrong_port(self, image_info: dict, args: list[str]) -> None:
        """HTTP 400 when the image's command sets a port other than the one the hub connects on: the server
        would never answer. (An EXPOSE of other ports alone is left to `mlops-hub doctor`: a server still
        takes the hub's port.)"""
        entrypoint = (image_info.get("Config") or {}).get("Entrypoint") or []
        fault = wrong_port_fault([*entrypoint, *args], (), self.port)
        if fault is None:
            return
        message = (f"Your server cannot start: {self._image_named()} has the {fault.message}."
                   f" Choose another environment, and please tell {self.admin_contact} (fix: {fault.fix}).")
        self.log.error("%s: %s", self._log_name, message)
        raise web.HTTPError(400, message, reason="Environment image misconfigured")

    def _reservations(self, cpu_limit, mem_limit) -> tuple:
        """What a server or job of these limits reserves: cpu_guarantee / mem_guarantee, else the fractions (None:
        nothing)."""
        return (reservation(cpu_limit, self.cpu_guarantee, self.cpu_guarantee_fraction),
                reservation(mem_limit, self.mem_guarantee, self.mem_guarantee_fraction))

    async def _create_service(self, env, args, user, secrets, provisioned):
        cpu_reservation, mem_reservation = self._reservations(self.cpu_limit, self.mem_limit)
        spec = ServerSpec(
            name=self.service_name,
            image=pin(self.image, self.image_pins),
            args=args,
            env=env,
            network=self.network_name,
            user=user,
            secrets=secrets + (provisioned.secrets if provisioned else []),
            configs=provisioned.configs if provisioned else [],
            cpu_limit=self.cpu_limit,
            cpu_reservation=cpu_reservation,
            mem_limit=self.mem_limit,
            mem_reservation=mem_reservation,
            labels=self._labels(),
            mounts=list(self.mounts or []) + (provisioned.mounts if provisioned else []),
            extra_container_spec=self.extra_container_spec,
            extra_resources_spec=self.extra_resources_spec,
            extra_placement_spec=self.extra_placement_spec,
            constraints=constraints(self._node_requirements(self.mlops_request)) + self._home_constraints(provisioned),
            extra_task_spec=self.extra_task_spec,
            extra_endpoint_spec=self.extra_endpoint_spec,
            extra_create_kwargs=self.extra_create_kwargs,
            use_internal_ip=self.use_internal_ip,
            port=self.port,
            published_port_mode=self.published_port_mode,
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

    def _home_constraints(self, provisioned: Provisioned | None) -> list[str]:
        """With homes on local volumes: run on the node that holds the user's home (policy/home_node.py)."""
        self._home_node = getattr(provisioned, "home_node", None)
        return [home_constraint(self._home_node)] if self._home_node else []

    _home_node: str | None = None

    def _node_requirements(self, request: SpawnRequest | None) -> list[NodeRequirement]:
        """The node labels this spawn needs: its environment's `node_labels` and its role's `node_pool`."""
        if request is None:
            return []
        return self.platform.node_requirements(request.environment, request.role)

    async def _list_tasks(self) -> list[dict]:
        return await self.docker("tasks", filters={"service": self.service_name})

    def _on_phase(self, view: TaskView) -> None:
        if view.phase in _PHASE_PROGRESS:
            self._report(_PHASE_PROGRESS[view.phase], f"Server {view.phase.value}")

    # spawns of this hub waiting for their server now: the readiness checks share one budget
    _spawns_in_flight = SpawnsInFlight()

    def _readiness_backoff(self) -> ReadinessBackoff:
        try:
            return ReadinessBackoff(self.readiness_poll_interval, self.readiness_polls_per_second,
                                    self.readiness_poll_max_interval)
        except ValueError as e:
            raise ConfigError("readiness_poll_interval / readiness_polls_per_second / readiness_poll_max_interval",
                              str(e)) from None

    def _poll_interval(self) -> float:
        return self._readiness_backoff().interval(self._spawns_in_flight.count)

    async def start_object(self):
        """Wait for the task to run and the server to answer; on failure remove the service."""
        self._placements.created(self._server_key, self.object_id)
        try:
            with self._spawns_in_flight:
                self._task = await wait_for_task_running(
                    self._list_tasks, self._on_phase, self.unschedulable_grace, self._poll_interval
                )
                await self._lower_cpu_weight()
                self._report(80, "Waiting for JupyterLab to answer")
                await self._wait_for_http()
        except ServerUnschedulable as e:
            message = str(e.with_detail(*await self._missing_resources()))
            self.log.info("%s: refused by Swarm: %s", self._log_name, message)
            self._report(100, message)
            await self.remove_object()
            self.object_id = ""
            raise web.HTTPError(500, message, reason="Server cannot be placed") from None
        except ServerStartFailed as e:
            message = await self._out_of_memory_message(str(e)) or await self._start_failure_message(str(e))
            self._report(100, message)
            await self.remove_object()
            self.object_id = ""
            raise web.HTTPError(500, message, reason="Server failed to start") from None
        self._report(95, "Server answering")

    # servers of this hub let through the room check whose tasks may not hold their room yet
    _placements = PlacementsInFlight()

    async def _refuse_when_no_node_has_room(self) -> None:
        """Before any Docker object exists: when no node has the unreserved room the server would reserve, or the
        servers this hub is starting now will take it, refuse now rather than after Swarm's verdict and
        `unschedulable_grace` (in a spawn storm, where the seconds went). Only a sure refusal: node constraints are
        not applied, so a server that may fit somewhere goes on to Swarm, which has the last word."""
        if {"cpu_reservation", "mem_reservation"} & set(self.extra_resources_spec or {}):
            return  # the admin's own reservations: Swarm judges them
        cpu, mem = self._reservations(self.cpu_limit, self.mem_limit)
        cpu, mem = cpu or 0, int(mem or 0)
        if not cpu and not mem:
            return
        try:
            nodes = await self.docker("nodes")
            holding = await self.docker("tasks", filters={"desired-state": "running"})
        except APIError as e:
            self.log.warning("%s: could not read the nodes' free room, Swarm will judge: %s", self._log_name, e)
            return
        rooms, unplaced = free_room(nodes, holding), self._placements.unplaced(holding)
        if not surely_no_room(cpu, mem, rooms, unplaced):
            self._placements.add(self._server_key, cpu, mem)  # no await since the check: no other spawn between
            return
        message = str(ServerUnschedulable(no_room_reason(rooms), no_room_detail(cpu, mem, rooms, unplaced)))
        self.log.info("%s: refused before creating its service: %s", self._log_name, message)
        self._report(100, message)
        raise web.HTTPError(500, message, reason="Server cannot be placed")

    async def _lower_cpu_weight(self) -> None:
        """Give the running server `server_cpu_shares`, so the platform's services win the CPU in a storm."""
        container = self._task.container_id if self._task else ""
        if self.server_cpu_shares is None or not container:
            return
        try:
            await self.docker("update_container", container, cpu_shares=self.server_cpu_shares)
        except APIError as e:  # on another node than the hub's: it competes with no platform service here
            self.log.debug("%s: CPU weight not set on %s: %s", self._log_name, container[:12], e)

    async def poll(self):
        """JupyterHub's contract: None while running, else an exit status. A server found ended is
        reported (an OOM kill in words) and cleaned up here: JupyterHub does not call stop() for it."""
        status = await super().poll()
        if status is None:
            status = await self._given_up_by_swarm()
        if status is not None:
            await self._log_why_it_ended()
            await self._note_lost_node()
            await self._clean_up_ended_server()
        return status

    def get_state(self):
        state = super().get_state()
        if self.last_stop_reason:
            state["last_stop_reason"] = self.last_stop_reason
        return state

    def load_state(self, state):
        super().load_state(state)
        self.last_stop_reason = state.get("last_stop_reason", "")

    async def _clean_up_ended_server(self) -> None:
        """Free the ended server's team pool room and remove its service, token secret and configs."""
        if self.quota_store:
            quota_service().release(*self._server_key)
        try:
            await self.remove_object()
        except APIError as e:
            self.log.warning("%s: could not remove the ended server's service yet: %s", self._log_name, e)

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
                next_task_check = time.monotonic() + max(0.5, 2 * self._poll_interval())
            await asyncio.sleep(self._poll_interval())
        # not answering yet: JupyterHub's own http_timeout check takes over and reports it

    async def get_ip_and_port(self):
        """DockerSpawner's hook, (ip, port) the hub connects to: the new task's own IP on an internal
        network, because the service name can still resolve to a previous, dying task; else the
        port published on the node."""
        if not (self.use_internal_ip or self.use_internal_hostname):
            return await self._published_address()
        task = getattr(self, "_task", None)
        if self.use_internal_ip and task is None:
            found = newest_task(await self._list_tasks())
            task = classify_task(found) if found else None
        address = task.address_on(self.network_name) if task and self.network_name else None
        if self.use_internal_ip and address:
            return address, self.port
        return await super().get_ip_and_port()

    async def _published_address(self) -> tuple[str, int]:
        """host_ip and the published port; a host-mode port is read from the task (Swarm picks it)."""
        if self.network_name == "host":
            return self.host_ip, self.port  # the server listens on the node itself
        service = await self.get_object()
        task = newest_task(await self._list_tasks())
        port = swarm_endpoint.published_port(service or {}, task, self.port)
        if port is None:
            raise RuntimeError(f"Service {self.service_name} publishes no port for {self.port}")
        return self.host_ip, port

    async def stop(self, now=False):
        """JupyterHub's contract: stop the server; its team pool charge is released."""
        await super().stop(now=now)
        if self.quota_store:
            quota_service().release(*self._server_key)

    async def remove_object(self):
        """SwarmSpawner's hook: remove the service, its token secret and configs no server uses."""
        try:
            await self.docker("remove_service", self.object_id or self.service_name)
        except APIError as e:
            if e.response is None or e.response.status_code != 404:
                raise
        await token_secret.remove_token_secrets(self.docker, self.prefix, self.service_name, self.log)
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
