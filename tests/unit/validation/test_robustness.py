"""The robustness endpoint: a candidate that collapses under one corruption is inferior, and that corruption is
named as the worst; a candidate identical to the reference is non-inferior everywhere."""

from types import SimpleNamespace

import numpy as np
import torch
from torch import nn

from medprune.data.dataset import Split
from medprune.validation.robustness import Model, audit_robustness


class CentreScore(nn.Module):
    """P(positive) from the centre's brightness: its mean (robust to noise) or its maximum (not)."""

    def __init__(self, reduce: str) -> None:
        super().__init__()
        self.reduce = reduce

    def forward(self, x):
        centre = x[:, 0, 6:10, 6:10].flatten(1)
        value = centre.mean(1) if self.reduce == "mean" else centre.amax(1)
        logit = 8 * (value - 0.3)
        return torch.stack([-logit, logit], 1)


def _test_split(n=300):
    rng = np.random.default_rng(0)
    y = np.arange(n) % 2
    x = rng.normal(0.3, 0.05, (n, 1, 16, 16))
    x[y == 1, :, 6:10, 6:10] += 0.2
    return Split((np.clip(x, 0, 1) * 255).astype(np.uint8), y)


def _audit(candidate):
    wrap = lambda m: SimpleNamespace(model=m)  # noqa: E731
    pre = {"scale": 1 / 255, "mean": 0.0, "std": 1.0}
    return audit_robustness(Model("reference", wrap(CentreScore("mean")), 0.5), [Model("c", wrap(candidate), 0.5)],
                            _test_split(), pre, input_shape=(1, 16, 16),
                            corruptions="impulse_noise,brightness_up,gaussian_blur", margin=0.05, alpha=0.05,
                            n_resamples=1000, seed=0)


def test_a_candidate_that_collapses_under_impulse_noise_is_inferior_and_named():
    record = _audit(CentreScore("max"))
    result = record["candidates"][0]
    assert result["verdict"] == "inferior" and result["worst_corruption"] == "impulse_noise"
    assert result["per_corruption"]["impulse_noise"]["verdict"] == "inferior"
    assert result["per_corruption"]["impulse_noise"]["ci_high"] < -0.05
    assert len(record["conditions"]) == 15  # 3 corruptions x 5 severities
    first = record["conditions"][0]["candidates"]["c"]
    assert {"delta", "ci_low", "ci_high", "sensitivity_delta", "specificity_ci_low"} <= set(first)


def test_the_same_model_is_non_inferior_under_every_corruption():
    result = _audit(CentreScore("mean"))["candidates"][0]
    assert result["verdict"] == "non-inferior"
    assert all(e["delta"] == 0 and e["ci_low"] == 0 for e in result["per_corruption"].values())


def test_the_python_api_takes_plain_modules_and_arrays():
    import medprune

    split = _test_split()
    record = medprune.judge_robustness(CentreScore("mean"), {"max": CentreScore("max")}, split.x, split.y,
                                       threshold=0.5, corruptions="impulse_noise", margin=0.05, n_resamples=1000,
                                       preprocessing={"scale": 1 / 255, "mean": 0.0, "std": 1.0})
    assert record["candidates"][0]["verdict"] == "inferior" and len(record["conditions"]) == 5


def test_a_collapse_at_the_worst_severity_is_not_averaged_away():
    """AUROC unchanged at severities 1-4 and 0.20 lower at 5: the average (-0.04) is within the 0.05 margin, the
    worst severity is not, so the corruption and the candidate are inferior and the report shows both figures."""
    from medprune.data.corruptions import SEVERITIES
    from medprune.validation.robustness import _endpoint

    rng = np.random.default_rng(0)
    drop = {s: (0.2 if s == SEVERITIES[-1] else 0.0) for s in SEVERITIES}
    deltas = {("fog", s): -drop[s] + rng.normal(0, 0.003, 2000) for s in SEVERITIES}  # bootstrap deltas
    conditions = [{"corruption": "fog", "severity": s,
                   "candidates": {"c": {"delta": -drop[s], "ci_low": -drop[s] - 0.006, "ci_high": -drop[s] + 0.006}}}
                  for s in SEVERITIES]
    result = _endpoint("c", [SimpleNamespace(name="fog")], conditions, deltas, np.zeros(10), 0.05, 0.05)
    fog = result["per_corruption"]["fog"]
    assert fog["average_verdict"] == "non-inferior" and abs(fog["delta"] + 0.04) < 1e-9
    assert fog["worst_severity"]["verdict"] == "inferior" and fog["worst_severity"]["delta"] == -0.2
    assert fog["verdict"] == "inferior" and "severity 5" in fog["reason"]
    assert result["verdict"] == "inferior" and result["worst_severity_delta"] == -0.2
