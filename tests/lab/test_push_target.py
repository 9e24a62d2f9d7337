"""Which push URLs may receive the GitLab token: exactly the configured GitLab's origin."""

from __future__ import annotations

import pytest

from mlops_hub.lab.errors import InvalidInput
from mlops_hub.lab.push_target import on_gitlab

GITLAB = "https://gitlab.example.org"


def test_push_url_on_the_gitlab_is_rebuilt_from_the_configured_origin() -> None:
    t = on_gitlab("https://oauth2:old@GitLab.example.org:443/team/analysis.git", GITLAB)
    assert (t.url, t.project) == ("https://gitlab.example.org/team/analysis.git", "team/analysis")
    t = on_gitlab("https://gitlab.example.org/gl/team/sub/p.git", GITLAB + "/gl/")
    assert (t.url, t.project) == ("https://gitlab.example.org/gl/team/sub/p.git", "team/sub/p")


@pytest.mark.parametrize("url, named", [
    ("https://gitlab.example.org.evil.net/team/p.git", "gitlab.example.org.evil.net"),
    ("https://gitlab.example.org@evil.net/team/p.git", "evil.net"),
    ("https://gitlab.example.org:8443/team/p.git", "gitlab.example.org:8443"),
    ("http://gitlab.example.org/team/p.git", "gitlab.example.org"),
])
def test_push_url_elsewhere_is_refused_naming_the_host(url: str, named: str) -> None:
    with pytest.raises(InvalidInput) as err:
        on_gitlab(url, GITLAB)
    assert f"host {named} " in err.value.message
    assert "gitlab.example.org (https://gitlab.example.org)" in err.value.message


@pytest.mark.parametrize("url, says", [
    ("git@gitlab.example.org:team/p.git", "not an http(s) URL"),
    ("ext::sh -c evil% gitlab.example.org", "not an http(s) URL"),
    ("https://gitlab.example.org/p.git", "cannot tell the GitLab project"),
    ("https://gitlab.example.org/team/p .git", "cannot tell the GitLab project"),
    ("https://gitlab.example.org/team\\x/p.git", "cannot tell the GitLab project"),
    ("https://gitlab.example.org/team/p.git?x=1", "cannot tell the GitLab project"),
])
def test_push_url_that_is_no_gitlab_project_is_refused(url: str, says: str) -> None:
    with pytest.raises(InvalidInput) as err:
        on_gitlab(url, GITLAB)
    assert says in err.value.message


@pytest.mark.parametrize("configured", ["gitlab.example.org", "ftp://gitlab.example.org", ""])
def test_a_bad_gitlab_url_names_the_setting(configured: str) -> None:
    with pytest.raises(InvalidInput) as err:
        on_gitlab("https://gitlab.example.org/team/p.git", configured)
    assert "MLOPS_GITLAB_URL" in err.value.message
