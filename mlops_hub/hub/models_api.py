"""Models to production: the hub's REST API at /hub/api/mlops/models/releases (docs/models.md).

A user releases a model version they may change in MLflow, as the service `model-<name>`, within the limits of
their roles. The request is answered when Swarm has judged the rollout: 201 when the version answers, 409 when it
failed its health check and Swarm put the previous version back, 400 naming the field for a bad request (nothing is
built or deployed then).
"""

from __future__ import annotations

from jupyterhub.apihandlers import APIHandler
from tornado import web

from ..names import MODELS_SCOPE
from ..policy.errors import PolicyRefusal
from ..policy.model_release import SERVICE_PREFIX, ReleaseError
from .json_body import finish_json, json_object_body
from .user_scope import scoped_user

MAX_BODY = 16 * 1024


class ReleaseHandler(APIHandler):
    def _user(self):
        return scoped_user(self, MODELS_SCOPE, "Model releases")

    def _spawner(self, user):
        spawner = user.spawners[""]
        if not hasattr(spawner, "release_model"):
            raise web.HTTPError(501, "Releasing models needs the hub's MLOpsSwarmSpawner.")
        return spawner

    async def post(self):
        user = self._user()
        body = json_object_body(self.request.body, MAX_BODY, "a JSON object with model (and replicas, cpu, mem)")
        spawner = self._spawner(user)
        said: list[str] = []

        def say(line: str) -> None:
            said.append(line)
            self.log.info("model release by %s: %s", user.name, line)

        try:
            # the spawner holds the hub's one Docker side; the release reads MLflow as this user only
            done = await spawner.release_model(body, say)
        except PolicyRefusal as e:
            raise web.HTTPError(403, str(e)) from None
        except ReleaseError as e:
            raise web.HTTPError(400, str(e)) from None
        view = {"service": done.service, "version": done.version, "image": done.image, "state": done.state,
                "rolled_back": done.rolled_back, "message": done.message, "progress": said}
        if done.rolled_back:
            view["message"] = (f"version {done.version} did not pass its health check; Swarm put the previous"
                               f" version back ({done.message})")
        else:
            model = done.service.removeprefix(SERVICE_PREFIX)
            self._register(done.service, {"model": model, "version": done.version, "released_by": user.name,
                                          "path": f"/models/{model}/invocations"})
        finish_json(self, view, 409 if done.rolled_back else 201)

    def _register(self, service: str, info: dict) -> None:
        """The served model as the JupyterHub service `model-<name>` (no URL: the front door routes to it): the
        name its callers' tokens are scoped to, listed by the hub's services API with what it serves now."""
        try:
            # what POST /hub/api/services/<name> does, without an admin's token
            self.app.service_from_spec({"name": service, "display": False, "info": info}, from_config=False)
            self.db.commit()
        except Exception as e:  # the model answers anyway; tokens scoped to it work without the record
            self.db.rollback()
            self.log.warning("model release: %s not listed as a hub service: %s", service, e)


handlers = [(r"/api/mlops/models/releases/?", ReleaseHandler)]
