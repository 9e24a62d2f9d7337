"""Models to production: the hub's REST API at /hub/api/mlops/models/releases (docs/models.md).

A user releases a model version they may change in MLflow, as the service `model-<name>`, within the limits of
their roles. The request is answered when Swarm has judged the rollout: 201 when the version answers, 409 when it
failed its health check and Swarm put the previous version back, 400 naming the field for a bad request (nothing is
built or deployed then).
"""

from __future__ import annotations

import asyncio

from jupyterhub.apihandlers import APIHandler
from tornado import web

from ..names import MODELS_SCOPE
from ..policy.errors import PolicyRefusal
from ..policy.model_release import ReleaseError, RoleRoom
from ..release.engine import Target, release_from_hub
from .json_body import finish_json, json_object_body

MAX_BODY = 16 * 1024


class ReleaseHandler(APIHandler):
    def _user(self):
        user = self.current_user
        if user is None or user.__class__.__name__ != "User":
            raise web.HTTPError(403, "Model releases belong to users: use a user's token or log in.")
        # checked here, not with @needs_scope: a custom scope exists only once the hub has loaded config
        if MODELS_SCOPE not in self.expanded_scopes:
            raise web.HTTPError(403, f"This token may not release models (it lacks the scope {MODELS_SCOPE}).")
        return user

    def _room(self, user) -> tuple[RoleRoom, str]:
        """What the user's roles allow one model service, and the hub's prefix (the spawner's)."""
        spawner = user.spawners[""]
        if not hasattr(spawner, "user_access"):
            raise web.HTTPError(501, "Releasing models needs the hub's MLOpsSwarmSpawner.")
        try:
            access = spawner.user_access()
        except PolicyRefusal as e:
            raise web.HTTPError(403, str(e)) from None
        return RoleRoom(", ".join(access.roles), access.max_cpu, access.max_mem), spawner.prefix

    async def post(self):
        user = self._user()
        body = json_object_body(self.request.body, MAX_BODY, "a JSON object with model (and replicas, cpu, mem)")
        room, prefix = self._room(user)
        said: list[str] = []

        def say(line: str) -> None:
            said.append(line)
            self.log.info("model release by %s: %s", user.name, line)

        try:
            # to_thread copies this context: the release reads MLflow as this user only
            done = await asyncio.to_thread(release_from_hub, Target.from_environ(prefix), user.name, room, body, say)
        except ReleaseError as e:
            raise web.HTTPError(400, str(e)) from None
        view = {"service": done.service, "version": done.version, "image": done.image, "state": done.state,
                "rolled_back": done.rolled_back, "message": done.message, "progress": said}
        if done.rolled_back:
            view["message"] = (f"version {done.version} did not pass its health check; Swarm put the previous"
                               f" version back ({done.message})")
        finish_json(self, view, 409 if done.rolled_back else 201)


handlers = [(r"/api/mlops/models/releases/?", ReleaseHandler)]
