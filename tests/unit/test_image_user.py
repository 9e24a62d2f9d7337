"""The uid:gid behind an image's USER, read from the image's own /etc/passwd and /etc/group."""

from __future__ import annotations

import pytest

from mlops_hub.policy.errors import ConfigError
from mlops_hub.swarm.image_user import image_numeric_user, numeric_user

PASSWD = ("root:x:0:0:root:/root:/bin/bash\n# comment\nalice:x:1234:100::/home/alice:/bin/sh\n"
          "bob:x:1500:1500::/:/bin/sh\n")
GROUP = "root:x:0:\nusers:x:100:\nml:x:2000:alice\n"


@pytest.mark.parametrize(("user", "expected"), [
    ("alice", "1234:100"),
    ("alice:ml", "1234:2000"),
    ("alice:7", "1234:7"),
    ("1500", "1500:1500"),      # a known uid keeps its passwd group, as docker does
    ("4242", "4242:4242"),      # an unknown uid: the same number
    ("", "0:0"),
    ("root", "0:0"),
])
def test_named_and_numeric_users_become_uid_gid(user, expected):
    assert numeric_user(user, PASSWD, GROUP) == expected


@pytest.mark.parametrize(("user", "missing"), [("mallory", "'mallory' is not in its /etc/passwd"),
                                               ("alice:nogroup", "'nogroup' is not in its /etc/group")])
def test_an_unknown_name_is_refused_naming_run_as_user(user, missing):
    with pytest.raises(ConfigError) as e:
        numeric_user(user, PASSWD, GROUP)
    assert missing in str(e.value) and "run_as_user" in str(e.value)


async def test_numeric_users_need_no_docker():
    assert await image_numeric_user(None, "sha256:x", "1000:100") == "1000:100"
    assert await image_numeric_user(None, "sha256:x", "1000") == "1000:1000"
    assert await image_numeric_user(None, "sha256:x", "") == "0:0"
