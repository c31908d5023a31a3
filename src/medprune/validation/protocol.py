"""The pre-specified validation protocol: fixed before any number is seen, recorded with the results."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from medprune.errors import ConfigError
from medprune.validation.noninferiority import RULE
from medprune.validation.paired_metrics import BINARY_ONLY, PAIRED_METRICS


@dataclass(frozen=True)
class Protocol:
    """Metric, margin and error rate of the non-inferiority comparison, and how it is computed."""

    metric: str
    margin: float
    alpha: float = 0.05
    n_resamples: int = 2000
    seed: int = 0
    split: str = "test"
    subgroups: list[str] = field(default_factory=list)
    recalibrate: bool = False

    def check(self, n_classes: int) -> Protocol:
        PAIRED_METRICS.get(self.metric)
        if self.metric in BINARY_ONLY and n_classes != 2:
            raise ConfigError(f"metric {self.metric} needs a binary task: use auroc, sensitivity or "
                              "balanced_accuracy for multi-class")
        if not 0 < self.margin < 1:
            raise ConfigError(f"margin must be in (0, 1), got {self.margin:g}: pass the largest acceptable "
                              f"loss in {self.metric}, such as 0.01")
        if not 0 < self.alpha < 0.5:
            raise ConfigError(f"alpha must be in (0, 0.5), got {self.alpha:g}: 0.05 gives 95% intervals")
        if self.n_resamples < 1000:
            raise ConfigError(f"use at least 1000 bootstrap resamples (2000 recommended), got {self.n_resamples}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "confidence_level": 1 - self.alpha, "rule": RULE,
                "ci_method": "paired bootstrap, resampled within each class, percentile interval",
                "auroc_test": "paired DeLong test (DeLong et al. 1988) reported beside the bootstrap",
                "multiplicity": "Holm (1979) across candidates",
                "threshold": "the reference model's threshold chosen on the validation split, applied unchanged "
                             "to every candidate"}
