"""Why a server could not start, or ended, told in words (a mixin of MLOpsSwarmSpawner).

What the user reads on the spawn page when Swarm cannot place the server (what is short, or the node that holds
their files) or when it fails to start (out of memory at the size they chose, an image without the server, the
last log lines), and the hub's log line when a running server ends (out of memory, a lost node). Docker is read
through swarm/, the words come from policy/; the spawner's hooks (start_object, poll) call these.
"""

from __future__ import annotations

import asyncio

from docker.errors import APIError

from .policy.home_node import home_unplaceable_advice
from .policy.image_check import NO_SINGLEUSER_FIX, SINGLEUSER, missing_singleuser
from .policy.placement import missing_labels, placeable_nodes_labels
from .policy.units import DEFAULT_ENV_MIN_MEM
from .swarm.node_loss import lost_node_reason
from .swarm.oom import newest_task_end, poll_log_line, start_failure_message
from .swarm.placement import free_room, is_resource_shortage, missing_resources, reservations_of
from .swarm.tasks import classify_task, newest_task


class FailureReports:
    """The messages of servers that could not start or ended, for MLOpsSwarmSpawner."""

    # ---- a server Swarm cannot place -------------------------------------------------------------

    async def _missing_resources(self) -> tuple[str, str | None]:
        """What the unplaceable server lacks - a node label no node has, or CPU and memory against the nodes' free
        room - and the advice that fits it (None: Swarm's usual); '' when it cannot be told."""
        needs = self._node_requirements(self.mlops_request)
        try:
            home = await self._home_node_advice()
            if home:
                return "", home
            task = newest_task(await self._list_tasks())
            reason = classify_task(task).reason if task else ""
            if task is None or not (needs or is_resource_shortage(reason)):
                return "", None
            nodes = await self.docker("nodes")
            missing = missing_labels(needs, placeable_nodes_labels(nodes))
            if missing:
                return missing, f"Choose another environment, or ask {self.admin_contact} to label a node."
            if not is_resource_shortage(reason):
                return "", None
            holding = await self.docker("tasks", filters={"desired-state": "running"})
        except APIError as e:
            self.log.warning("%s: could not tell what the server lacks: %s", self._log_name, e)
            return "", None
        cpu, mem = reservations_of(task)
        return missing_resources(cpu, mem, free_room(nodes, holding)), None

    async def _home_node_advice(self) -> str | None:
        """Why the server cannot start when the node with the user's home cannot take it (down, drained)."""
        if not self._home_node:
            return None
        node = next((n for n in await self.docker("nodes") if n["ID"] == self._home_node), None)
        if node is None:
            return (f"Your files were on a node that has left the swarm; please tell {self.admin_contact}"
                    " (mlops-hub home move).")
        missing = missing_labels(self._node_requirements(self.mlops_request), [node["Spec"].get("Labels") or {}])
        return home_unplaceable_advice(node["Description"]["Hostname"], node["Status"]["State"],
                                       node["Spec"].get("Availability", "active"), self.admin_contact, missing)

    # ---- out of memory: the spawn's message and the hub's log line (swarm/oom.py) ------------

    def _environment_min_mem(self) -> int:
        """The smallest memory the user's environment runs in (its `min_mem`, or the measured default)."""
        env = self.mlops_request.environment if self.mlops_request is not None else None
        if env is None and self.policy_enabled:
            # after the spawn (poll, hub restart) the saved options still name the environment
            slug = (self.user_options or {}).get("environment")
            catalogue = self.platform.catalogue
            env = catalogue.get(slug) if isinstance(slug, str) else None
            env = env or next((e for e in catalogue if e.default), None)
        return env.min_mem if env is not None else DEFAULT_ENV_MIN_MEM

    async def _out_of_memory_message(self, swarm_message: str) -> str | None:
        """For a start that failed because the server ran out of memory; None otherwise."""
        try:
            end = await newest_task_end(self.docker, self.service_name)
        except APIError as e:
            self.log.warning("%s: could not tell whether the server ran out of memory: %s", self._log_name, e)
            return None
        return start_failure_message(end, swarm_message, self._environment_min_mem())

    # ---- a server found ended (poll): Swarm gave it up, its node was lost, it ran out of memory ----------

    async def _given_up_by_swarm(self) -> str | None:
        """SwarmSpawner's poll trusts the task's last reported state: on a node that went down it stays "running"
        forever. Swarm gave such a task up (desired state shutdown): the server is gone."""
        try:
            task = newest_task(await self._list_tasks())
        except APIError as e:
            self.log.warning("%s: could not read the server's task: %s", self._log_name, e)
            return None
        if task and task.get("DesiredState") not in (None, "running", "ready", "accepted", "assigned"):
            return f"task given up by Swarm (desired state {task['DesiredState']}, last seen {task['Status']['State']})"
        return None

    # why the last server stopped when its node was lost; kept in the spawner's state (the hub's database) so the
    # spawn form can say it, and cleared by the next start that succeeds
    last_stop_reason = ""

    async def _note_lost_node(self) -> None:
        try:
            reason = await lost_node_reason(self.docker, newest_task(await self._list_tasks()))
        except APIError as e:
            self.log.warning("%s: could not tell whether the server's node was lost: %s", self._log_name, e)
            return
        if reason:
            self.last_stop_reason = f"Your server stopped: {reason}."
            self.log.warning("%s: server stopped: %s", self._log_name, reason)

    _oom_logged_container = ""

    async def _log_why_it_ended(self) -> None:
        """One hub log line when the server ran out of memory (or was killed and cannot be told)."""
        try:
            end = await newest_task_end(self.docker, self.service_name)
            line = poll_log_line(end, self.user.name, self._environment_min_mem())
        except APIError as e:
            self.log.warning("%s: could not tell why the server stopped: %s", self._log_name, e)
            return
        # JupyterHub may poll an ended server twice (its poll loop, then stop): one line per container
        if line and end.container_id != self._oom_logged_container:
            self._oom_logged_container = end.container_id
            self.log.warning("%s: %s", self._log_name, line)

    # ---- a start that failed: Swarm's reason, the server's last log lines ------------------------

    async def _start_failure_message(self, swarm_message: str) -> str:
        """Swarm's reason with the server's last log lines, or in words when the image lacks the server."""
        tail = await self._log_tail()
        if missing_singleuser(swarm_message, tail):
            return (f"Your server cannot start: {self._image_named()} has no {SINGLEUSER}."
                    f" Choose another environment, and please tell {self.admin_contact}"
                    f" (fix: {NO_SINGLEUSER_FIX}).\n{swarm_message}")
        return f"{swarm_message}\nLast log lines:\n{tail}" if tail else swarm_message

    async def _log_tail(self) -> str:
        """A crashed server's last log lines say why far better than an exit code; '' when none are read."""
        try:
            # bounded: `docker service logs` was seen to hang on Docker 20.10, and the user waits
            raw = await asyncio.wait_for(
                self.docker("service_logs", self.service_name, stdout=True, stderr=True, tail=5),
                timeout=self.log_tail_timeout,
            )
            return b"".join(raw).decode("utf8", "replace").strip()
        except Exception:
            return ""

