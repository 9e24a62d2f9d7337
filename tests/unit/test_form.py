"""The options form's post becomes the same user_options the REST API takes."""

import pytest

from mlops_hub.policy import SpawnOptionError, resolve_access, validate_spawn_options
from mlops_hub.policy.form import user_options_from_form

from .fakes import GiB, catalogue, policies


def test_form_post_maps_to_api_user_options():
    formdata = {"environment": ["torch"], "cpu_limit": ["2"], "mem_limit": ["4"], "_xsrf": ["token"]}
    assert user_options_from_form(formdata) == {"environment": "torch", "cpu_limit": "2", "mem_limit": "4G"}


@pytest.mark.parametrize("typed, sent", [("4", "4G"), ("1.5", "1.5G"), (".5", ".5G"), (" 2 ", "2G"),
                                         ("512M", "512M"), ("4G", "4G"), ("abc", "abc"), ("-1", "-1")])
def test_memory_is_typed_in_gib_so_a_bare_number_gets_g(typed, sent):
    assert user_options_from_form({"mem_limit": [typed]}) == {"mem_limit": sent}


def test_cpu_bare_number_is_not_given_a_unit():
    assert user_options_from_form({"cpu_limit": ["1.5"]}) == {"cpu_limit": "1.5"}


def test_xsrf_token_is_dropped():
    assert user_options_from_form({"_xsrf": ["abc"]}) == {}


def test_unknown_fields_are_kept_so_validation_names_them():
    options = user_options_from_form({"environment": ["python"], "image": ["python:3"]})
    assert options == {"environment": "python", "image": "python:3"}
    access = resolve_access([], policies(), catalogue())
    with pytest.raises(SpawnOptionError) as info:
        validate_spawn_options(options, access, policies())
    assert info.value.field == "image"


def test_only_the_first_value_of_a_field_is_used():
    assert user_options_from_form({"environment": ["python", "gpu"]}) == {"environment": "python"}


def test_empty_known_fields_are_kept_as_empty_meaning_default():
    options = user_options_from_form({"environment": [""], "cpu_limit": [""], "mem_limit": [""], "note": [""]})
    assert options == {"environment": "", "cpu_limit": "", "mem_limit": ""}
    access = resolve_access([], policies(), catalogue())
    request = validate_spawn_options(options, access, policies())
    assert (request.environment.slug, request.cpu_limit, request.mem_limit) == ("python", 0.5, 1 * GiB)


def test_form_post_and_api_request_validate_to_the_same_request():
    access = resolve_access(["data-scientists"], policies(), catalogue())
    from_form = user_options_from_form({"environment": ["torch"], "cpu_limit": ["3"], "mem_limit": ["5"]})
    from_api = {"environment": "torch", "cpu_limit": 3, "mem_limit": "5G"}
    assert validate_spawn_options(from_form, access, policies()) == validate_spawn_options(
        from_api, access, policies()
    )
