"""A small client for the deployed hub's REST API and the Swarm objects it creates."""

from __future__ import annotations

import html
import json
import re
import secrets
import subprocess
import time
from dataclasses import dataclass, field
from urllib.parse import quote

import docker
import requests

from mlops_hub.deploy.stack import StackSettings, wait_for_hub
from tests.support.ports import wait_for_http


@dataclass
class HubClient:
    url: str
    token: str
    prefix: str
    stack: str
    admin_password: str = ""  # the first admin's (the admin_password secret)
    _admin: requests.Session | None = field(default=None, repr=False)

    def api(self, method: str, path: str, headers: dict[str, str] | None = None, **kwargs) -> requests.Response:
        """A hub API call with the CLI's admin token; `headers` add to it or replace it (user_headers(...))."""
        headers = {"Authorization": f"token {self.token}", **(headers or {})}
        return requests.request(method, f"{self.url}/hub/api{path}", headers=headers, timeout=120, **kwargs)

    def create_user(self, name: str, groups: list[str] = ()) -> None:
        """The user and their groups (names in any script: percent-encoded in the URL)."""
        r = self.api("POST", f"/users/{quote(name)}")
        assert r.status_code in (201, 409), r.text
        for group in groups:
            r = self.api("POST", f"/groups/{quote(group)}")
            assert r.status_code in (201, 409), r.text
            r = self.api("POST", f"/groups/{quote(group)}/users", json={"users": [name]})
            assert r.status_code == 200, r.text

    def user_headers(self, user: str, note: str) -> dict[str, str]:
        """Request headers carrying a new API token of `user` (what their own scripts would send)."""
        r = self.api("POST", f"/users/{quote(user)}/tokens", json={"note": note})
        assert r.status_code == 201, r.text
        return {"Authorization": f"token {r.json()['token']}"}

    @property
    def mlflow_api(self) -> str:
        return f"{self.url}/mlflow/api/2.0/mlflow"

    def mlflow_session(self, user: str) -> requests.Session:
        """MLflow's REST API through the front door as `user`, with a token of theirs, once MLflow is up
        (it starts after the hub answers)."""
        session = requests.Session()
        session.headers.update(self.user_headers(user, "mlflow"))
        wait_for_http(f"{self.url}/mlflow/health", timeout=180, headers=dict(session.headers))
        return session

    def server_path(self, user: str, server: str = "") -> str:
        return f"/users/{user}/servers/{server}" if server else f"/users/{user}/server"

    def spawn(self, user: str, options: dict | None = None, server: str = "") -> requests.Response:
        body = None if options is None else json.dumps(options)
        return self.api("POST", self.server_path(user, server), data=body)

    def server_model(self, user: str, server: str = "") -> dict | None:
        return self.api("GET", f"/users/{user}").json()["servers"].get(server)

    def wait_ready(self, user: str, server: str = "", timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            model = self.server_model(user, server)
            if model and model["ready"]:
                return model
            if model is None or (not model["pending"] and not model["ready"]):
                raise AssertionError(f"server {user}/{server} stopped while waiting: {model}\n"
                                     f"{self.hub_log_about(user)}")
            time.sleep(0.2)
        raise AssertionError(f"server {user}/{server} not ready after {timeout}s\n{self.hub_log_about(user)}")

    def hub_log_about(self, user: str, lines: int = 30) -> str:
        """The hub's last log lines naming `user` (why a spawn failed: the spawner logs the server's own words)."""
        done = subprocess.run(["docker", "service", "logs", "--raw", "--since", "10m", f"{self.stack}_hub"],
                              capture_output=True, text=True, timeout=60)
        about = [line for line in (done.stdout + done.stderr).splitlines() if user in line]
        return "hub log:\n" + "\n".join(about[-lines:]) if about else "hub log: nothing names this user"

    def stop(self, user: str, server: str = "", timeout: float = 60) -> None:
        r = self.api("DELETE", self.server_path(user, server))
        assert r.status_code in (202, 204), r.text
        deadline = time.monotonic() + timeout
        while self.server_model(user, server) and time.monotonic() < deadline:
            time.sleep(0.2)

    def remove_team(self, team: str, users) -> None:
        """Stop and delete the users, the team's quota document and its group."""
        for user in users:
            if self.server_model(user) is not None:
                self.stop(user)
            self.api("DELETE", f"/users/{user}")
        version = self.api("GET", f"/mlops/quotas/{team}").json().get("version")
        if version:
            self.api("DELETE", f"/mlops/quotas/{team}?version={version}")
        self.api("DELETE", f"/groups/{team}")

    def progress_events(self, user: str, server: str = "") -> list[dict]:
        """Read the progress event stream until it ends."""
        path = f"/users/{user}/servers/{server}/progress" if server else f"/users/{user}/server/progress"
        r = self.api("GET", path, stream=True)
        events = []
        for line in r.iter_lines():
            if line.startswith(b"data:"):
                events.append(json.loads(line[5:]))
        return events

    def login(self, user: str, password: str, next_url: str = "") -> requests.Session:
        """A browser-like session logged in through the hub's login form."""
        session = requests.Session()
        page = session.get(f"{self.url}/hub/login", timeout=10)
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text).group(1)
        r = session.post(f"{self.url}/hub/login?next={quote(next_url)}", timeout=10, allow_redirects=True,
                         data={"username": user, "password": password, "_xsrf": xsrf})
        assert r.status_code == 200, r.text[:500]
        # a refused login shows the login page again, with the reason
        refused = re.search(r'<p class="login_error">\s*(.*?)\s*</p>', r.content.decode("utf8"), re.S)
        assert "/hub/login" not in r.url and not refused, refused and html.unescape(refused.group(1))
        return session

    # ---- per-person accounts, made as people make them -----------------------------------
    def sign_up(self, user: str, password: str) -> str:
        """Sign up at /hub/signup as a person does; returns the message the page shows."""
        session = requests.Session()
        page = session.get(f"{self.url}/hub/signup", timeout=30)
        assert page.status_code == 200, (page.status_code, page.text[:300])
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text).group(1)
        r = session.post(f"{self.url}/hub/signup", timeout=30, data={
            "username": user, "signup_password": password, "signup_password_confirmation": password, "_xsrf": xsrf})
        assert r.status_code == 200, r.text[:500]
        found = re.search(r'role="alert">\s*<p>\s*(.*?)\s*</p>', r.content.decode("utf8"), re.S)
        assert found, r.text[-1500:]
        return html.unescape(found.group(1))

    def admin_session(self) -> requests.Session:
        if self._admin is None:
            self._admin = self.login("admin", self.admin_password, next_url="/hub/home")
        return self._admin

    def approve(self, user: str) -> None:
        """The admin opens NativeAuthenticator's /hub/authorize page and follows the user's Authorize link."""
        admin = self.admin_session()
        page = admin.get(f"{self.url}/hub/authorize", timeout=30)
        assert page.status_code == 200, (page.status_code, page.text[:300])
        text = page.content.decode("utf8")
        links = re.findall(r'href="([^"]*/authorize/' + re.escape(html.escape(user)) + r')"', text)
        assert links, f"{user} is not on the authorize page"
        r = admin.get(self.url + html.unescape(links[0]), timeout=30)
        assert r.status_code == 200, (r.status_code, r.text[:300])
        row = re.search(r'<tr class="success" id=' + re.escape(html.escape(user)) + r'>', r.content.decode("utf8"))
        assert row, f"{user} is not approved after the click"

    def account(self, user: str, groups: list[str] = ()) -> str:
        """A person with an approved account (and these groups, made through the API); their password."""
        password = secrets.token_urlsafe(18)
        message = self.sign_up(user, password)
        assert message.endswith("You can log in once an admin has approved it."), message
        self.approve(user)
        self.create_user(user, groups)
        return password

    def restart_hub(self, settings: StackSettings) -> None:
        """Replace the hub's task (as an upgrade or a crash would) and wait until it answers."""
        hub_service = f"{settings.stack}_hub"
        old_tasks = {t["ID"] for t in self.docker.tasks(filters={"service": hub_service})}
        subprocess.run(["docker", "service", "update", "--force", "--detach", hub_service],
                       check=True, capture_output=True)
        for _ in range(600):
            running = [t for t in self.docker.tasks(filters={"service": hub_service, "desired-state": "running"})
                       if t["ID"] not in old_tasks and t["Status"]["State"] == "running"]
            if running:
                break
            time.sleep(0.1)
        assert running, "the hub was not restarted"
        wait_for_hub(settings)

    def lab_status_with_a_new_token(self, user: str, model: dict) -> requests.Response:
        """The user's JupyterLab /api/status through the front door, with a token the hub made just now (a server
        checks a token it has not seen with the hub: after a hub restart, with the new hub)."""
        token = self.api("POST", f"/users/{user}/tokens", json={"note": "a new token"}).json()["token"]
        return requests.get(f"{self.url}{model['url']}api/status", headers={"Authorization": f"token {token}"},
                            timeout=30)

    # ---- the Swarm side ----------------------------------------------------------------
    @property
    def docker(self) -> docker.APIClient:
        return docker.APIClient()

    def user_services(self, user: str | None = None) -> list[dict]:
        filters = [f"mlops-hub.prefix={self.prefix}"]
        if user:
            filters.append(f"mlops-hub.user={user}")
        return self.docker.services(filters={"label": filters})

    def only_service(self, user: str) -> dict:
        services = self.user_services(user)
        assert len(services) == 1, [s["Spec"]["Name"] for s in services]
        return services[0]
