"""The packages label of an environment image (written by `mlops-hub build`), read for the spawn form."""

import json

import pytest

from mlops_hub.policy.image_labels import PACKAGES_LABEL, packages_from_labels


def labels(value: str) -> dict[str, str]:
    return {"org.opencontainers.image.title": "lab", PACKAGES_LABEL: value}


def test_the_label_key_is_the_one_build_writes():
    assert PACKAGES_LABEL == "org.mlops-hub.packages"


def test_packages_come_in_the_labels_order():
    value = json.dumps({"pandas": "3.1.1", "numpy": "2.5.5", "r-base-core": "4.2.2"})
    assert packages_from_labels(labels(value)) == (("pandas", "3.1.1"), ("numpy", "2.5.5"), ("r-base-core", "4.2.2"))


@pytest.mark.parametrize("given", [None, {}, {"other": "x"}, {PACKAGES_LABEL: None}])
def test_no_label_is_no_packages(given):
    assert packages_from_labels(given) == ()


@pytest.mark.parametrize("value", ["", "not json", "{\"pandas\": ", "[" * 100_000])
def test_a_label_that_is_not_json_is_no_packages(value):
    assert packages_from_labels(labels(value)) == ()


@pytest.mark.parametrize("value", ['["pandas", "numpy"]', '"pandas 3.1.1"', "42", "null", "true"])
def test_a_label_that_is_not_an_object_is_no_packages(value):
    assert packages_from_labels(labels(value)) == ()


def test_entries_whose_version_is_not_a_string_are_left_out():
    value = json.dumps({"pandas": "3.1.1", "numpy": 2.5, "torch": None, "scipy": ["1"], "polars": {"v": "1"},
                        "": "1", "empty": " ", "scikit-learn": "1.9.1"})
    assert packages_from_labels(labels(value)) == (("pandas", "3.1.1"), ("scikit-learn", "1.9.1"))
