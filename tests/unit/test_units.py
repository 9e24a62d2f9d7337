"""CPU and memory quantities: what is accepted, what is refused, and round trips."""

import math

import pytest

from mlops_hub.policy.units import QuantityError, format_cpu, format_memory, parse_cpu, parse_memory

from .fakes import GiB, MiB


@pytest.mark.parametrize(
    "value, expected",
    [(2, 2.0), ("2", 2.0), ("0.5", 0.5), (0.25, 0.25), (" 1.5 ", 1.5), ("16", 16.0)],
)
def test_parse_cpu_accepts_numbers_and_numeric_strings(value, expected):
    assert parse_cpu(value) == expected


@pytest.mark.parametrize(
    "value",
    [math.nan, "NaN", "nan", math.inf, "inf", "-inf", "infinity", "1e400", -math.inf,
     "abc", "", "2 CPUs", "4G", 10**400],
)
def test_parse_cpu_refuses_non_finite_and_non_numeric_values(value):
    with pytest.raises(QuantityError, match="number of CPUs"):
        parse_cpu(value)


@pytest.mark.parametrize("value", [True, False, None, [2], {"cpu": 2}, (1,), b"2"])
def test_parse_cpu_refuses_other_types_and_names_the_type(value):
    with pytest.raises(QuantityError) as info:
        parse_cpu(value)
    assert type(value).__name__ in str(info.value)


@pytest.mark.parametrize(
    "value, expected",
    [
        (2, 2),
        ("2", 2),
        ("4G", 4 * GiB),
        ("512M", 512 * MiB),
        ("1.5G", 1536 * MiB),
        ("2Gi", 2 * GiB),
        ("2GiB", 2 * GiB),
        ("4g", 4 * GiB),
        ("64K", 64 * 1024),
        ("1T", 1024 * GiB),
        (" 8G ", 8 * GiB),
        (".5G", 512 * MiB),
        (4 * GiB, 4 * GiB),
    ],
)
def test_parse_memory_accepts_bytes_and_suffixed_sizes(value, expected):
    assert parse_memory(value) == expected


@pytest.mark.parametrize(
    "value",
    [math.nan, math.inf, -math.inf, "NaN", "inf", "-inf", "1e400", "1e400G", "abc", "", "G",
     "-1G", "4 GB of RAM", "4X"],
)
def test_parse_memory_refuses_non_finite_and_malformed_sizes(value):
    with pytest.raises(QuantityError, match="memory size"):
        parse_memory(value)


@pytest.mark.parametrize("value", [True, False, None, ["4G"], {"mem": "4G"}])
def test_parse_memory_refuses_other_types_and_names_the_type(value):
    with pytest.raises(QuantityError) as info:
        parse_memory(value)
    assert type(value).__name__ in str(info.value)


def test_parse_memory_of_a_huge_integer_is_a_number_not_a_crash():
    # JSON integers are unbounded; a huge one is a size the range check refuses later
    assert parse_memory(10**400) == 10**400


def test_parse_memory_1e30_is_finite_and_parsed_so_the_range_check_can_refuse_it():
    assert parse_memory("1e30") == int(1e30)


@pytest.mark.parametrize(
    "size, text",
    [(4 * GiB, "4G"), (512 * MiB, "512M"), (1536 * MiB, "1.5G"), (2 * 1024**4, "2T"),
     (128 * MiB, "128M"), (64 * 1024, "64K"), (1000, "1000"), (0, "0")],
)
def test_format_memory_is_short(size, text):
    assert format_memory(size) == text


@pytest.mark.parametrize("text", ["4G", "512M", "1.5G", "2T", "128M", "64K", "1000M", "0.75G"])
def test_format_memory_round_trips_through_parse_memory(text):
    size = parse_memory(text)
    assert parse_memory(format_memory(size)) == size


@pytest.mark.parametrize("cpu, text", [(2.0, "2"), (0.5, "0.5"), (0.25, "0.25"), (1.333, "1.333"), (1.33333, "1.333")])
def test_format_cpu_drops_trailing_zeros(cpu, text):
    assert format_cpu(cpu) == text
