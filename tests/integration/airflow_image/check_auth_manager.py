"""Run inside the Airflow image (test_airflow_auth_manager_in_image.py): the real HubAuthManager with
Airflow's own types - owner rules, filtered lists, menus, the stale-token rule and its two routes.
Prints CHECKS PASSED at the end; any failed assert ends it with a traceback."""

import asyncio
import json
import tempfile
from pathlib import Path

from airflow.api_fastapi.auth.managers.models.resource_details import AccessView, DagAccessEntity, DagDetails
from airflow.api_fastapi.common.types import MenuItem
from fastapi.testclient import TestClient

from mlops_hub.airflow.auth_manager import EdgeIdentityMiddleware, HubAuthManager, HubUser, _edge_identity, login_app

jobs = Path(tempfile.mkdtemp()) / "jobs"
jobs.mkdir()
(jobs / "j_ann.json").write_text(json.dumps({"owner": "ann"}))
(jobs / "bob_named.json").write_text(json.dumps({"owner": "ann"}))  # the id says bob, the spec ann
(jobs / "j_bob.json").write_text(json.dumps({"owner": "bob"}))
secret = Path(tempfile.mkdtemp()) / "airflow_hub_password"
secret.write_text("hub-secret-from-swarm")

m = HubAuthManager(jobs_dir=jobs, hub_password_file=secret)
ann, bob, admin = HubUser("ann"), HubUser("bob"), HubUser("root", admin=True)
hub = HubUser("mlops-hub", service=True)

# DAGs: the spec's owner, never the id
assert m.is_authorized_dag(method="GET", user=ann, details=DagDetails(id="j_ann"))
assert m.is_authorized_dag(method="GET", user=ann, details=DagDetails(id="bob_named"))
assert not m.is_authorized_dag(method="GET", user=bob, details=DagDetails(id="bob_named"))
assert not m.is_authorized_dag(method="GET", user=ann, details=DagDetails(id="j_bob"))
assert not m.is_authorized_dag(method="GET", user=ann, details=DagDetails(id="no_spec"))
for entity in (DagAccessEntity.RUN, DagAccessEntity.TASK_INSTANCE, DagAccessEntity.TASK_LOGS):
    assert m.is_authorized_dag(method="POST", user=ann, access_entity=entity, details=DagDetails(id="j_ann"))
    assert not m.is_authorized_dag(method="GET", user=ann, access_entity=entity, details=DagDetails(id="j_bob"))
assert not m.is_authorized_dag(method="DELETE", user=ann, details=DagDetails(id="j_ann"))
assert m.is_authorized_dag(method="GET", user=ann)  # a list: filtered below
every = {"j_ann", "j_bob", "bob_named", "no_spec"}
assert m.filter_authorized_dag_ids(dag_ids=every, user=ann) == {"j_ann", "bob_named"}
assert m.filter_authorized_dag_ids(dag_ids={"j_ann", "j_bob", "no_spec"}, user=admin) == {"j_ann", "j_bob", "no_spec"}
assert m.filter_authorized_dag_ids(dag_ids={"j_ann", "j_bob"}, user=hub) == {"j_ann", "j_bob"}

# the installation's things: admins and the hub only
for check in (m.is_authorized_connection, m.is_authorized_variable, m.is_authorized_pool,
              m.is_authorized_configuration, m.is_authorized_asset):
    assert not check(method="GET", user=ann) and check(method="GET", user=admin) and check(method="PUT", user=hub)
assert not m.is_authorized_view(access_view=AccessView.PROVIDERS, user=ann)
assert not m.is_authorized_view(access_view=AccessView.PLUGINS, user=ann)
assert m.is_authorized_view(access_view=AccessView.WEBSITE, user=ann)
assert [i.value for i in m.get_authorized_menu_items(user=ann)] == ["Dags", "Docs"]
assert len(m.get_authorized_menu_items(user=admin)) == len(MenuItem)

# tokens: round trip, and the stale-token rule under an edge identity
token = m.generate_jwt(ann)


async def tokens():
    assert await m.get_user_from_token(token) == ann
    for edge in (("bob", False), ("ann", True)):
        reset = _edge_identity.set(edge)
        try:
            await m.get_user_from_token(token)
            raise AssertionError(f"ann's token accepted under {edge}")
        except Exception as e:  # InvalidTokenError
            assert "another hub login" in str(e), e
        finally:
            _edge_identity.reset(reset)
    reset = _edge_identity.set(("ann", False))
    assert await m.get_user_from_token(token) == ann
    _edge_identity.reset(reset)

asyncio.run(tokens())

# the routes, behind the middleware Airflow puts in front of every app (get_fastapi_middlewares)
app = login_app(m)
for middleware, kwargs in m.get_fastapi_middlewares():
    app.add_middleware(middleware, **kwargs)
assert m.get_fastapi_middlewares() == [(EdgeIdentityMiddleware, {})]
client = TestClient(app)
r = client.post("/token", json={"username": "mlops-hub", "password": "hub-secret-from-swarm"})
assert r.status_code == 201 and r.json()["access_token"], r.text
assert client.post("/token", json={"username": "mlops-hub", "password": "wrong"}).status_code == 401
assert client.post("/token", json={"username": "ann", "password": "hub-secret-from-swarm"}).status_code == 401
# a request the edge forwarded for a person never gets the hub's identity
assert client.post("/token", json={"username": "mlops-hub", "password": "hub-secret-from-swarm"},
                   headers={"X-Mlops-User": "ann", "X-Mlops-Admin": "false"}).status_code == 403
r = client.get("/login", params={"next": "/airflow/dags"}, headers={"X-Mlops-User": "ann", "X-Mlops-Admin": "false"},
               follow_redirects=False)
assert r.status_code == 303 and r.headers["location"] == "/airflow/dags", (r.status_code, r.headers)
cookie = r.headers["set-cookie"]
assert cookie.startswith("_token=") and "Secure" in cookie and "HttpOnly" in cookie and "Path=/airflow/" in cookie
r = client.get("/login", params={"next": "https://evil.example/"}, follow_redirects=False,
               headers={"X-Mlops-User": "ann", "X-Mlops-Admin": "false"})
assert r.headers["location"] == "/airflow/"
assert client.get("/login", follow_redirects=False).status_code == 401  # not through the edge
assert client.get("/login", headers={"X-Mlops-User": "mlops-hub", "X-Mlops-Admin": "true"}).status_code == 403
assert client.get("/login", headers={"X-Mlops-User": "a%ZZ", "X-Mlops-Admin": "false"}).status_code == 401
print("CHECKS PASSED")
