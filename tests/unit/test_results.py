"""A verb's result reads like its JSON record, cannot be changed in place, and copies out with to_dict()."""

import dataclasses
import json

import pytest

from medprune.results import RunResult, returns_result


def test_a_result_is_a_read_only_mapping_of_the_record():
    result = returns_result(lambda: {"auroc": 0.97, "data": {"n": {"test": 624}}})()
    assert isinstance(result, RunResult) and result["auroc"] == 0.97 and result.get("missing") is None
    assert dict(result) == {"auroc": 0.97, "data": {"n": {"test": 624}}} and len(result) == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.record = {}
    with pytest.raises(TypeError):
        result["auroc"] = 0.5
    copied = result.to_dict()
    copied["data"]["n"]["test"] = 0
    assert result["data"]["n"]["test"] == 624 and json.loads(json.dumps(copied))["auroc"] == 0.97
