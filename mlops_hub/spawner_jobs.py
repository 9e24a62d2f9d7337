"""What the hub's scheduling and model-release APIs ask of a user's spawner (a mixin of MLOpsSwarmSpawner).

A scheduled notebook's run is a Swarm service built like the user's server - the same environment check,
limits, volumes, package index files, node constraints and team pool - and a model release is sized within
the user's roles and counted against their pool. These use the spawner's policy reads (`_policies`,
`user_access`, `_validated`) and its Docker helpers (`_container_user`, `_numeric_user`, `_provision`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial

from tornado import web

from .airflow.job_spec import JobContainer
from .job_container import RUNNER_COMMAND, job_environment, runner_args
from .metrics import spawn_metrics
from .names import ENV_HUB_TOKEN_FILE
from .policy import PolicyRefusal, SpawnRequest
from .policy.jobs import JobSchedule
from .policy.model_release import ReleaseRequest, RoleRoom, parse_release
from .policy.placement import constraints, placement_constraints
from .policy.pools import Charge
from .quotas.service import quota_service
from .release.engine import Released, Target, release_from_hub
from .swarm import token_secret
from .swarm.labels import ServerLabels, job_labels
from .swarm.spec import fit_service_name


class JobsAndReleases:
    """Scheduled notebook jobs and model releases, run through the user's MLOpsSwarmSpawner."""

    # ---- models to production (docs/models.md) ---------------------------------------------------

    async def release_model(self, body: dict, say: Callable[[str], None]) -> Released:
        """Models to production (docs/models.md), for the hub's release API: serve a model version of this user's
        as `model-<name>`, sized within their roles. ReleaseError: a bad request, nothing deployed."""
        access = self.user_access()
        policies = self._policies()
        # counted against the pool of the user's first role that has one
        pool_role = next((r for r in access.roles if r in policies and not policies[r].pool.unlimited), "")
        room = RoleRoom(", ".join(access.roles), access.max_cpu, access.max_mem, pool_role)
        await self._admit_model(parse_release(body, room), room)
        # to_thread copies the request's context: the release reads MLflow as this user only
        return await asyncio.to_thread(release_from_hub, Target.from_environ(self.prefix), self.user.name, room,
                                       body, say)

    async def _admit_model(self, request: ReleaseRequest, room: RoleRoom) -> None:
        """PoolRefusal (HTTP 403) when the model service's replicas do not fit the team pool now; its own running
        version does not count (the release replaces it). A check, as for jobs: Swarm's labels are the record."""
        if not room.pool_role:
            return
        charge = Charge(self.user.name, f"model:{request.ref.name}", room.pool_role, request.total_cpu,
                        request.total_mem)
        try:
            await quota_service().check(charge, self._policies()[room.pool_role].pool, self._running_charges,
                                        self.admin_contact, partial(self._running_job_and_model_charges, charge.server))
        except PolicyRefusal as e:
            spawn_metrics.refused(room.pool_role, getattr(e, "dimension", None), kind="model")
            raise

    # ---- scheduled notebooks (docs/scheduling.md): a job's service gets what a server gets ---------

    def job_request(self, size_options) -> SpawnRequest:
        """A job's environment and size, checked as a spawn's; a job is not a server, so no server count."""
        return self._validated(size_options)[0]

    def job_key(self, dag_id: str) -> str:
        """The name a job's hub-token secret is labelled with (one per job, replaced on reschedule)."""
        return fit_service_name(f"{self.prefix}-job-{dag_id}")

    def _job_charge(self, request: SpawnRequest, dag_id: str) -> Charge:
        return Charge(self.user.name, f"job:{dag_id}", request.role, request.cpu_limit, request.mem_limit,
                      request.environment.slug)

    async def admit_job(self, request: SpawnRequest, dag_id: str) -> None:
        """Refuse a run when the role's team pool has no room now: HTTP 403 with the pool's message."""
        try:
            await quota_service().check(self._job_charge(request, dag_id), self._policies()[request.role].pool,
                                        self._running_charges, self.admin_contact, self._running_job_and_model_charges)
        except PolicyRefusal as e:
            spawn_metrics.refused(request.role, getattr(e, "dimension", None), kind="job")
            raise web.HTTPError(403, str(e), reason="Forbidden") from None
        finally:
            self._end_request()

    async def job_container(self, request: SpawnRequest, schedule: JobSchedule, dag_id: str,
                            token: str) -> JobContainer:
        """The service a run of this job starts: image pinned by ID, limits, labels, volumes, index files,
        and a hub token (a 0400 secret) that reaches MLflow as the user."""
        storage = self.platform.storage
        if storage is None:
            raise web.HTTPError(409, "Scheduling a notebook needs users' homes on volumes (storage in"
                                     f" platform.yaml), so a job finds the notebook; please tell {self.admin_contact}.",
                                reason="Conflict")
        image = request.environment.image
        image_info = await self.docker("inspect_image", image)
        user = await self._container_user(image_info)
        run_as = await self._numeric_user(image_info, user)
        provisioned = await self._provision(image, request.role, image_info, user)  # not None: storage is set
        # the job's current secret stays until the new spec is written: a reschedule that fails keeps it working
        secret = await token_secret.create_token_secret(self.docker, self.prefix, self.job_key(dag_id), token,
                                                        run_as, self.log, replace=False)
        env = job_environment(self.get_env(), request, image_info.get("Id", ""), storage.home_mount, schedule,
                              dag_id, self.user.name)
        env.update(provisioned.env)
        env[ENV_HUB_TOKEN_FILE] = token_secret.SECRET_PATH
        charge = self._job_charge(request, dag_id)
        reserved_cpu, reserved_mem = self._reservations(request.cpu_limit, request.mem_limit)
        return JobContainer(
            # by digest in the registry when pushed there (any node can pull it), else by ID (this node's)
            image=self.image_pins.get(image) or image_info["Id"], command=RUNNER_COMMAND,
            args=runner_args(storage.home_mount, schedule),
            env=env, user=user, network=self.network_name,
            cpu_limit=request.cpu_limit, mem_limit=request.mem_limit,
            cpu_reservation=reserved_cpu or 0, mem_reservation=reserved_mem or 0,
            labels=job_labels(ServerLabels(self.prefix, self.user.name, charge.server, charge.environment,
                                           charge.role, charge.cpu, charge.mem)),
            mounts=[dict(m) for m in provisioned.mounts],
            configs=[dict(r) for r in provisioned.configs],
            secrets=[dict(r) for r in [*provisioned.secrets, secret]],
            constraints=placement_constraints(self.extra_placement_spec, constraints(self._node_requirements(request))
                                              + self._home_constraints(provisioned)),
            service_prefix=fit_service_name(f"{self.prefix}-job")[:40],
        )

    async def remove_job_objects(self, dag_id: str, keep: JobContainer | None = None,
                                 only: JobContainer | None = None) -> None:
        """A job's token secrets (its run services remove themselves): all; all but the one `keep` mounts
        (the written spec's); or only the one `only` mounts (made for a spec that was never written)."""
        await token_secret.remove_token_secrets(
            self.docker, self.prefix, self.job_key(dag_id), self.log,
            keep=token_secret.mounted_token_secret(keep.secrets) if keep else None,
            only=token_secret.mounted_token_secret(only.secrets) if only else None)

