"""Objectives, requirements and BatchNorm recalibration."""

import numpy as np
import pytest
import torch
from torch import nn

from medprune.errors import ConfigError
from medprune.training.batchnorm import recalibrate_batchnorm
from medprune.search.finish import operating_point_shift
from medprune.search.scoring import Objective, Requirement


def test_sensitivity_at_specificity():
    y = np.array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1])
    scores = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.85, 0.97, 0.99, 0.3])
    # specificity >= 0.9 allows one false positive (0.95): threshold 0.95 catches 0.97 and 0.99 -> 2 of 4
    assert Objective.parse("sens@spec=0.9")(y, scores) == pytest.approx(0.5)
    assert Objective.parse("auroc")(y, scores) == pytest.approx((8 + 10 + 10 + 2.5) / 40)  # tie counts half


def test_requirements_parse_and_check():
    r = Requirement.parse("sensitivity>=0.95")
    assert r.met({"sensitivity": 0.96}) and not r.met({"sensitivity": 0.9})
    for bad in ("sensitivity>0.95", "recall>=0.9", "sens@spec=2"):
        with pytest.raises(ConfigError):
            Requirement.parse(bad) if "@" not in bad else Objective.parse(bad)


def test_recalibrated_batchnorm_holds_the_statistics_of_the_batches():
    bn = nn.BatchNorm2d(3)
    bn.running_mean.fill_(5.0)
    batches = [torch.randn(8, 3, 4, 4) * 2 + 1 for _ in range(3)]
    recalibrate_batchnorm(nn.Sequential(bn), batches)
    allx = torch.cat(batches)
    assert torch.allclose(bn.running_mean, allx.mean((0, 2, 3)), atol=1e-5)
    assert not bn.training


def test_the_final_drift_warning_uses_the_studys_operating_margin():
    dense = {"sensitivity": 0.90, "specificity": 0.80}
    searched = {"sensitivity": 0.83, "specificity": 0.79}  # sensitivity down 0.07, specificity 0.01
    assert set(operating_point_shift(dense, searched, 0.05)) == {"sensitivity"}
    assert operating_point_shift(dense, searched, 0.05)["sensitivity"] == {"dense": 0.90, "searched": 0.83}
    assert operating_point_shift(dense, searched, 0.10) == {}  # the user's --operating-margin 0.1 reaches it
