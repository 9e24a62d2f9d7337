"""The edge serves JupyterLab's content-hashed files from its own copy, and nothing it caches from a
user's server can answer another user's URL (a user's server could otherwise poison another's lab)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

TEMPLATE = Path(__file__).resolve().parents[2] / "images" / "edge" / "nginx.conf.template"


def location_regexes() -> dict[str, re.Pattern]:
    """The regex locations that serve files from /srv/jupyterlab, by their capture's name (PCRE -> Python)."""
    text = TEMPLATE.read_text()
    found = {}
    for regex, body in re.findall(r'location ~ "([^"]+)" \{(.*?)\n        \}', text, re.S):
        if "/srv/jupyterlab" in body:
            python = regex.replace("(?<", "(?P<")
            name = re.search(r"\(\?P<(\w+)>", python).group(1)
            found[name] = re.compile(python)
    return found


@pytest.mark.parametrize("path, served", [
    ("/user/alice/static/lab/main.efd36b46f3b45eb8.js", "main.efd36b46f3b45eb8.js"),
    ("/user/alice/static/lab/1014.073326ef5d98db5e.js", "1014.073326ef5d98db5e.js"),
    ("/user/alice/static/lab/0031b1860ea4ad75.woff", "0031b1860ea4ad75.woff"),
    ("/user/alice/gpu/static/lab/jlab_core.8811dd2733d03721.js", "jlab_core.8811dd2733d03721.js"),
    # names without a content hash may differ between lab images: always the user's own server
    ("/user/alice/static/lab/index.out.js", None),
    ("/user/alice/static/lab/style.js", None),
    ("/user/alice/static/lab/bootstrap.js", None),
    ("/user/alice/static/lab/sub/1014.073326ef5d98db5e.js", None),
])
def test_jupyterlab_files_with_a_content_hash_come_from_the_edge(path, served):
    match = location_regexes()["lab_file"].match(path)
    assert (match and match.group("lab_file")) == served


@pytest.mark.parametrize("path, served", [
    ("/user/alice/lab/extensions/mlops-hub/static/remoteEntry.c9468e07d0fa0e62e3da.js",
     "mlops-hub/static/remoteEntry.c9468e07d0fa0e62e3da.js"),
    ("/user/alice/lab/extensions/@jupyter-server/resource-usage/static/114.8d6e04d9186cda5f713e.js",
     "@jupyter-server/resource-usage/static/114.8d6e04d9186cda5f713e.js"),
    ("/user/alice/lab/extensions/mlops-hub/static/style.js", None),
    ("/user/alice/lab/extensions/mlops-hub/install.json", None),
])
def test_prebuilt_extension_files_with_a_content_hash_come_from_the_edge(path, served):
    match = location_regexes()["ext_file"].match(path)
    assert (match and match.group("ext_file")) == served


def test_every_proxy_cache_of_user_servers_keys_on_the_whole_url():
    """A cache key without the user's path would let one user's server answer another's request."""
    text = TEMPLATE.read_text()
    keys = re.findall(r"proxy_cache_key ([^;]+);", text)
    assert keys and set(keys) == {"$request_uri"}
    assert text.count("proxy_cache static;") == len(keys)
