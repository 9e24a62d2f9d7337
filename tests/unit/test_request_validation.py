"""validate_spawn_options: the single check for form posts, REST user_options and saved options."""

import math

import pytest

from mlops_hub.policy import SpawnOptionError, resolve_access, validate_spawn_options
from mlops_hub.policy.roles import role_policies_from_config

from .fakes import GiB, MiB, catalogue, policies

POLICIES = policies()
# default role: 0.1-1 CPU, 512M (the python environment's minimum)-2G, python only, defaults 0.5 CPU / 1G
DEFAULT_USER = resolve_access([], POLICIES, catalogue())
# data-scientists: up to 4 CPU / 8G, python + torch, defaults 1 CPU / 2G
SCIENTIST = resolve_access(["data-scientists"], POLICIES, catalogue())
# data-scientists + gpu-users: up to 8 CPU / 8G, every environment
GPU_SCIENTIST = resolve_access(["data-scientists", "gpu-users"], POLICIES, catalogue())


def validate(options, access=DEFAULT_USER, policies=POLICIES):
    return validate_spawn_options(options, access, policies)


def refusal(options, access=DEFAULT_USER) -> SpawnOptionError:
    with pytest.raises(SpawnOptionError) as info:
        validate(options, access)
    return info.value


# ---- valid requests ----------------------------------------------------------------------


@pytest.mark.parametrize("options", [None, {}, {"environment": None}, {"environment": ""},
                                     {"environment": None, "cpu_limit": None, "mem_limit": ""}])
def test_empty_request_gets_the_default_environment_and_role_defaults(options):
    request = validate(options)
    assert request.environment.slug == "python"
    assert request.cpu_limit == 0.5
    assert request.mem_limit == 1 * GiB
    assert request.role == "default"


def test_environment_defaults_come_before_role_defaults():
    request = validate({"environment": "torch"}, SCIENTIST)
    assert (request.cpu_limit, request.mem_limit) == (2.0, 6 * GiB)  # torch's own defaults
    request = validate({"environment": "python"}, SCIENTIST)
    assert (request.cpu_limit, request.mem_limit) == (1.0, 2 * GiB)  # the role's defaults


def test_defaults_above_the_limit_are_clamped_to_the_limit():
    small = role_policies_from_config({"default": {"max_cpu": 1.5, "max_mem": "4G"}})
    access = resolve_access([], small, catalogue())
    request = validate({"environment": "torch"}, access, small)  # torch defaults: 2 CPU, 6G
    assert (request.cpu_limit, request.mem_limit) == (1.5, 4 * GiB)


def test_without_any_default_the_limit_is_used():
    bare = role_policies_from_config({"default": {"max_cpu": 3, "max_mem": "5G"}})
    request = validate({}, resolve_access([], bare, catalogue()), bare)
    assert (request.cpu_limit, request.mem_limit) == (3.0, 5 * GiB)


@pytest.mark.parametrize(
    "cpu, mem, expected_cpu, expected_mem",
    [
        ("2", "4G", 2.0, 4 * GiB),
        (2, 4 * GiB, 2.0, 4 * GiB),
        ("0.1", "512M", 0.1, 512 * MiB),  # the minimum (the environment's min_mem)
        ("4", "8G", 4.0, 8 * GiB),  # the maximum
        (1.23456, "1.5G", 1.235, 1536 * MiB),
        ("0.5", "512Mi", 0.5, 512 * MiB),
    ],
)
def test_requested_sizes_inside_the_range_are_granted(cpu, mem, expected_cpu, expected_mem):
    request = validate({"environment": "python", "cpu_limit": cpu, "mem_limit": mem}, SCIENTIST)
    assert request.environment.slug == "python"
    assert (request.cpu_limit, request.mem_limit) == (expected_cpu, expected_mem)
    assert request.role == "data-scientists"


def test_request_is_charged_to_the_role_that_allows_the_environment():
    assert validate({"environment": "gpu"}, GPU_SCIENTIST).role == "gpu-users"
    assert validate({"environment": "torch"}, GPU_SCIENTIST).role == "data-scientists"


def test_merged_limits_apply_to_every_environment_of_the_user():
    # 8 CPUs come from gpu-users; the user may use them in torch, which only data-scientists allow
    request = validate({"environment": "torch", "cpu_limit": 8, "mem_limit": "8G"}, GPU_SCIENTIST)
    assert (request.cpu_limit, request.mem_limit) == (8.0, 8 * GiB)


# ---- environment -------------------------------------------------------------------------


def test_unknown_environment_is_refused_with_the_choices():
    error = refusal({"environment": "rstudio"})
    assert error.field == "environment"
    assert error.message == "'rstudio' is not available to you; choose one of: python"


def test_environment_of_another_role_is_refused_like_an_unknown_one():
    error = refusal({"environment": "gpu"}, SCIENTIST)
    assert error.field == "environment"
    assert error.message == "'gpu' is not available to you; choose one of: python, torch"


@pytest.mark.parametrize("image", ["mlops-hub/lab-base:latest", "python:3", "mlops-hub/lab-gpu:12",
                                   "docker.io/library/ubuntu"])
def test_image_instead_of_environment_slug_is_refused(image):
    error = refusal({"environment": image})
    assert error.field == "environment"
    assert error.message == "takes an environment name, not an image; choose one of: python"


@pytest.mark.parametrize("value, type_name", [(["python"], "list"), ({"slug": "python"}, "dict"),
                                              (True, "bool"), (False, "bool"), (3, "int")])
def test_environment_of_wrong_type_is_refused(value, type_name):
    error = refusal({"environment": value})
    assert error.field == "environment"
    assert error.message == f"expected one of: python; got {type_name}"


def test_very_long_environment_name_is_cut_in_the_message():
    error = refusal({"environment": "x" * 10_000})
    assert error.field == "environment"
    assert len(str(error)) < 200


def test_no_usable_environment_is_an_environment_error():
    none = role_policies_from_config({"default": {"max_cpu": 1, "max_mem": "1G", "environments": []}})
    with pytest.raises(SpawnOptionError) as info:
        validate({}, resolve_access([], none, catalogue()), none)
    assert info.value.field == "environment"
    assert info.value.message == "no environment is available to your roles"


# ---- CPU ---------------------------------------------------------------------------------


@pytest.mark.parametrize("cpu", ["2", 2, "1.01", 1e30, "1e30", "0", 0, 0.0, "0.09", "-1", -0.5])
def test_cpu_outside_the_range_is_refused_with_the_range(cpu):
    error = refusal({"cpu_limit": cpu})
    assert error.field == "cpu_limit"
    assert error.message == f"{str(cpu)[:40]} is outside the allowed range 0.1 to 1 CPUs"


@pytest.mark.parametrize("cpu", [math.nan, "NaN", math.inf, "inf", "-inf", "Infinity", "1e400", 10**400])
def test_cpu_that_is_not_finite_is_refused(cpu):
    error = refusal({"cpu_limit": cpu})
    assert error.field == "cpu_limit"
    assert error.message.endswith("allowed: 0.1 to 1 CPUs")


@pytest.mark.parametrize("cpu, type_name", [([1], "list"), ({"n": 1}, "dict"), (True, "bool"), (False, "bool")])
def test_cpu_of_wrong_type_is_refused_and_names_the_type(cpu, type_name):
    error = refusal({"cpu_limit": cpu})
    assert error.field == "cpu_limit"
    assert error.message == f"expected a number of CPUs, got {type_name}; allowed: 0.1 to 1 CPUs"


@pytest.mark.parametrize("cpu", ["abc", "two", "1 CPU", "0x10"])
def test_cpu_that_is_not_a_number_is_refused(cpu):
    error = refusal({"cpu_limit": cpu})
    assert error.field == "cpu_limit"
    assert error.message == f"expected a number of CPUs, got {cpu!r}; allowed: 0.1 to 1 CPUs"


# ---- memory ------------------------------------------------------------------------------


@pytest.mark.parametrize("mem", ["4G", "2049M", "1e30", 1e30, "0", 0, "100M", 127 * MiB, -1])
def test_memory_outside_the_range_is_refused_with_the_range(mem):
    error = refusal({"mem_limit": mem})
    assert error.field == "mem_limit"
    assert error.message == f"{str(mem)[:40]} is outside the allowed range 512M to 2G for Python"


@pytest.mark.parametrize("mem", [math.nan, "nan", math.inf, "inf", "-inf", "1e400", "-1G", "lots", "4 gigs"])
def test_memory_that_is_not_a_finite_size_is_refused(mem):
    error = refusal({"mem_limit": mem})
    assert error.field == "mem_limit"
    assert error.message.endswith("; allowed: 512M to 2G for Python")


@pytest.mark.parametrize("mem, type_name", [(["4G"], "list"), ({"G": 4}, "dict"), (True, "bool")])
def test_memory_of_wrong_type_is_refused_and_names_the_type(mem, type_name):
    error = refusal({"mem_limit": mem})
    assert error.field == "mem_limit"
    assert error.message == f"expected a memory size such as '4G', got {type_name}; allowed: 512M to 2G for Python"


def test_empty_sizes_mean_the_defaults_like_missing_keys():
    request = validate({"cpu_limit": "", "mem_limit": ""})
    assert (request.cpu_limit, request.mem_limit) == (0.5, 1 * GiB)


def test_huge_integer_memory_is_refused_by_the_range_check():
    error = refusal({"mem_limit": 10**400})
    assert error.field == "mem_limit"
    assert error.message.endswith("is outside the allowed range 512M to 2G for Python")


# ---- shape of the request ----------------------------------------------------------------


@pytest.mark.parametrize("key", ["image", "cmd", "extra_container_spec", "cpu", "mem"])
def test_unknown_option_is_refused_and_named(key):
    error = refusal({"environment": "python", key: "anything"})
    assert error.field == key
    assert error.message == "unknown option; allowed options are: environment, cpu_limit, mem_limit"


def test_unknown_option_is_refused_even_when_everything_else_is_valid_and_empty():
    assert refusal({"image": ""}).field == "image"


@pytest.mark.parametrize("options", ["python", ["python"], 3, ("environment", "python"), True])
def test_options_that_are_not_an_object_are_refused(options):
    error = refusal(options)
    assert error.field == "user_options"
    assert error.message == "expected an object with keys ['environment', 'cpu_limit', 'mem_limit']"


def test_error_string_starts_with_the_field():
    assert str(refusal({"cpu_limit": "9"})) == "cpu_limit: 9 is outside the allowed range 0.1 to 1 CPUs"
