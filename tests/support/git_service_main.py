"""The git server and GitLab API double as a Swarm service, for end-to-end tests.

Run inside a container where this file sits in /opt/gitservice beside git_http.py, its helpers and
gitlab_double.py (they arrive as Swarm configs), imported as the package `gitservice`.
The token comes from a Swarm secret file, never the environment.
Serves http://0.0.0.0:8080 with one project, `team/analysis`.
"""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent))

from gitservice.git_http import GitHttpServer  # noqa: E402
from gitservice.gitlab_double import GitLabApiDouble  # noqa: E402

token = Path(os.environ["GIT_TOKEN_FILE"]).read_text().strip()
public_url = os.environ["PUBLIC_URL"]
api = GitLabApiDouble(token=token, base_url=public_url)
server = GitHttpServer(token, api=api, root=Path(os.environ.get("GIT_ROOT", "/tmp/git")),
                       public_url=public_url)
api.add_project("team/analysis")
server.create_repo("team/analysis.git", seed_files={"README.md": "# analysis\n"})
server.start(host="0.0.0.0", port=8080)
print("git service ready", flush=True)
while True:
    time.sleep(3600)
