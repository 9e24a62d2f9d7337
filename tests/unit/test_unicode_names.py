"""Non-ASCII names in the pure parts: the role-name rule, the spawn form, a user's service, labels
and home volume names."""

from __future__ import annotations

import re

import pytest

from mlops_hub.policy.errors import ConfigError
from mlops_hub.policy.roles import check_role_name
from mlops_hub.policy.storage import storage_from_config

from .test_spawner import FormInputs, make_spawner, rendered_form

ENVIRONMENTS_RU = [
    {"slug": "python", "display_name": "Питон для аналитиков", "image": "lab:1", "default": True,
     "description": "JupyterLab с pandas и scikit-learn — для отчётов"},
    {"slug": "torch", "display_name": "Глубокое обучение", "image": "torch:1",
     "description": "PyTorch, CUDA не нужна"},
]
ROLES_RU = {"аналитики": {"max_cpu": 2, "max_mem": "4G", "environments": ["python", "torch"], "max_servers": 1}}


@pytest.mark.parametrize("name", ["аналитики", "fz-é", "Отдел_2", "日本語", "data.science@корп+1"])
def test_role_names_in_any_script_are_accepted(name):
    assert check_role_name(name) == name


@pytest.mark.parametrize("name", ["а/б", "два слова", "-тире", ".точка", "_черта", "строка\n", "нуль\x00",
                                  "таб\tуляция", "я" * 256, ""])
def test_role_names_still_refuse_separators_spaces_control_and_leading_punctuation(name):
    with pytest.raises(ConfigError) as e:
        check_role_name(name)
    assert e.value.field == "role" and "letters and digits (any script)" in e.value.message


async def test_form_renders_russian_environment_names_descriptions_and_role():
    spawner = make_spawner(["аналитики"], environments=ENVIRONMENTS_RU, role_policies=ROLES_RU)
    form = await rendered_form(spawner)
    for text in ("Питон для аналитиков", "JupyterLab с pandas и scikit-learn — для отчётов",
                 "Глубокое обучение", "PyTorch, CUDA не нужна", "<strong>аналитики</strong>"):
        assert text in form
    assert [i["value"] for i in FormInputs(form).named("environment")] == ["python", "torch"]


def test_service_name_labels_and_home_volume_of_a_russian_user():
    spawner = make_spawner(["аналитики"], environments=ENVIRONMENTS_RU, role_policies=ROLES_RU)
    spawner.user.name = "иван"
    # Swarm service names allow [a-zA-Z0-9-] only: the name is escaped, and stays distinct
    assert re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9-]*", spawner.service_name), spawner.service_name
    other = make_spawner(["аналитики"], environments=ENVIRONMENTS_RU, role_policies=ROLES_RU)
    other.user.name = "игорь"
    assert other.service_name != spawner.service_name
    assert spawner._labels()["mlops-hub.user"] == "иван"  # labels keep the exact name

    storage = storage_from_config({"backend": "local", "roles": {"аналитики": {"team": True}}})
    mounts = storage.mounts("stack-lab", "иван", ["аналитики"])
    for m in mounts:
        assert re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", m.source), m.source
    (home,) = [m for m in mounts if m.kind == "home"]
    assert home.source != storage.mounts("stack-lab", "игорь", [])[0].source


@pytest.mark.parametrize("name", ["александра", "Константин-Константинопольский", "я" * 40])
def test_long_russian_user_names_get_service_names_swarm_accepts(name):
    spawner = make_spawner(["аналитики"], environments=ENVIRONMENTS_RU, role_policies=ROLES_RU)
    spawner.user.name = name
    spawner.object_name = spawner._object_name_default()  # as dockerspawner renders it for a user
    assert len(spawner.service_name) <= 63 and re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9-]*", spawner.service_name)
    other = make_spawner(["аналитики"], environments=ENVIRONMENTS_RU, role_policies=ROLES_RU)
    other.user.name = name + "а"
    other.object_name = other._object_name_default()
    assert other.service_name != spawner.service_name  # the hash keeps them apart


def test_short_names_keep_dockerspawners_template():
    spawner = make_spawner([])
    spawner.user.name = "ivan"
    spawner.object_name = spawner._object_name_default()
    assert spawner.service_name == f"{spawner.prefix}-ivan"
