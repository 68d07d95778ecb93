"""The shipped dataset loads as the contract says, and its AdaORPO split is the documented one."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from datasets import load_dataset

from trustsim.dataset import assign_splits, data_files, read_records, write_dataset
from trustsim.paths import SHIPPED_DATASET
from trustsim.schema import ATTRIBUTES, COLUMNS, DIMENSIONS


@pytest.fixture(scope="module")
def default_split():
    return load_dataset(str(SHIPPED_DATASET), split="test")


@pytest.fixture(scope="module")
def adaorpo():
    return load_dataset(str(SHIPPED_DATASET), "adaorpo")


def test_default_config_has_every_instance_with_exactly_the_contract_columns(default_split):
    assert default_split.column_names == list(COLUMNS)
    stored = read_records(SHIPPED_DATASET)
    assert len(default_split) == len(stored) > 0
    assert sorted(default_split["id"]) == sorted(r["id"] for r in stored)


def test_default_config_has_only_a_test_split():
    assert list(load_dataset(str(SHIPPED_DATASET))) == ["test"]


def test_adaorpo_config_splits_are_disjoint_and_cover_the_dataset(adaorpo, default_split):
    assert set(adaorpo) == {"train", "test"}
    for split in adaorpo.values():
        assert split.column_names == list(COLUMNS)
    train, test = set(adaorpo["train"]["id"]), set(adaorpo["test"]["id"])
    assert not train & test
    assert train | test == set(default_split["id"])


def test_adaorpo_split_is_one_to_one_within_every_dimension(adaorpo):
    train = Counter(adaorpo["train"]["dimension"])
    test = Counter(adaorpo["test"]["dimension"])
    assert set(train) == set(test)
    for dimension in train:
        assert 0 <= train[dimension] - test[dimension] <= 1, dimension


def test_adaorpo_split_matches_the_documented_assignment(adaorpo, default_split):
    expected = assign_splits(default_split)
    assert all(expected[i] == "train" for i in adaorpo["train"]["id"])
    assert all(expected[i] == "test" for i in adaorpo["test"]["id"])


def test_every_subject_present_has_all_attributes_at_least_six_times(default_split):
    counts = Counter(zip(default_split["dimension"], default_split["attribute"], strict=True))
    dimensions = set(default_split["dimension"])
    assert dimensions <= set(DIMENSIONS)
    for dimension in dimensions:
        assert Counter(default_split["dimension"])[dimension] == 74, dimension
        for attribute in ATTRIBUTES:
            assert counts[(dimension, attribute)] >= 6, (dimension, attribute)


def test_yes_and_no_are_both_common_in_every_subject(default_split):
    for dimension in set(default_split["dimension"]):
        answers = [
            a
            for d, a in zip(default_split["dimension"], default_split["self_report_expected"], strict=True)
            if d == dimension
        ]
        assert 0.3 <= answers.count("Yes") / len(answers) <= 0.7, dimension


def _records(n_per_dimension: int) -> list[dict]:
    return [
        {c: f"{c} {d} {i}" for c in COLUMNS} | {"id": f"{d[:3].lower()}-{i:03d}", "dimension": d}
        for d in DIMENSIONS[:3]
        for i in range(1, n_per_dimension + 1)
    ]


def test_assign_splits_ignores_order_and_balances_each_dimension():
    records = _records(11)
    forward, backward = assign_splits(records), assign_splits(list(reversed(records)))
    assert forward == backward
    for dimension in DIMENSIONS[:3]:
        halves = Counter(forward[r["id"]] for r in records if r["dimension"] == dimension)
        assert halves == {"train": 6, "test": 5}


def test_adding_an_instance_moves_at_most_one_existing_instance():
    records = _records(20)
    before = assign_splits(records)
    extra = dict(records[0], id="psy-999")
    after = assign_splits([*records, extra])
    moved = [i for i in before if before[i] != after[i]]
    assert len(moved) <= 1


def test_write_dataset_stores_each_instance_once_in_its_half(tmp_path):
    records = _records(5)
    write_dataset(tmp_path, records)
    files = data_files(tmp_path)
    assert {f.parent.name for f in files} == {"train", "test"}
    lines = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    assert sorted(r["id"] for r in lines) == sorted(r["id"] for r in records)
    halves = assign_splits(records)
    for f in files:
        for line in f.read_text().splitlines():
            assert halves[json.loads(line)["id"]] == f.parent.name
    assert list(json.loads(files[0].read_text().splitlines()[0])) == list(COLUMNS)


def test_an_edited_instance_is_not_served_stale_from_the_datasets_cache(dataset_copy):
    from trustsim.cli import main

    assert main(["dataset-stats", str(dataset_copy)]) == 0
    before = load_dataset(str(dataset_copy), split="test")
    path = dataset_copy / "data/train/psychology.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[0])
    record["explanation"] = "EDITED" + record["explanation"][6:]  # same length: only the content changes
    lines[0] = json.dumps(record, ensure_ascii=False)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["dataset-stats", str(dataset_copy)]) == 0
    after = load_dataset(str(dataset_copy), split="test")
    assert len(after) == len(before)
    assert dict(zip(after["id"], after["explanation"], strict=True))[record["id"]] == record["explanation"]


def test_a_card_whose_sizes_disagree_with_the_data_fails_to_load(dataset_copy, tmp_path):
    from datasets.exceptions import NonMatchingSplitsSizesError

    path = dataset_copy / "data/test/sociology.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")
    with pytest.raises(NonMatchingSplitsSizesError):
        load_dataset(str(dataset_copy), split="test", cache_dir=str(tmp_path / "cache"))
