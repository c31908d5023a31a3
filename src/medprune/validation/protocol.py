"""The pre-specified validation protocol: fixed before any number is seen, recorded with the results."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from pydantic import AliasChoices, Field, field_validator

from medprune.errors import ConfigError
from medprune.schema import Settings, checked
from medprune.validation.endpoints import BOOTSTRAP_METHOD, METHODS
from medprune.validation.noninferiority import MIN_CASES_PER_CLASS, RULE
from medprune.validation.paired_metrics import BINARY_ONLY, PAIRED_METRICS
from medprune.validation.segmentation import MIN_SEGMENTATION_CASES

# The operating point is judged by default: a deployed classifier is used at its threshold.
DEFAULT_ENDPOINT_MARGINS = {"sensitivity": 0.05, "specificity": 0.05}
THRESHOLD_RULES = {
    "reference": "the reference model's threshold chosen on the validation split, applied unchanged to every "
                 "candidate",
    "match-sensitivity": "each candidate's own threshold, chosen on the validation split as the highest threshold "
                         "whose validation sensitivity reaches the reference's validation sensitivity (never on test)",
}


class ProtocolOptions(Settings):
    """The settings of a validation protocol that `medprune validate`, a recipe's `validation:` and
    `medprune.validate_predictions` share, declared once (margins and endpoints have their own spellings:
    `--margin auroc=0.01,sensitivity=0.05`, a recipe's `margin:` and `margins:`)."""

    metric: str = Field(default="auroc", description="Primary metric: auroc, sensitivity, specificity, ppv, npv, "
                                                     "accuracy, balanced_accuracy.")
    alpha: float = Field(default=0.05, gt=0, lt=0.5, description="Error rate; intervals are (1 - alpha) two-sided.")
    # a recipe's `resamples:` and the --resamples flag are the older spellings, read for one release
    n_resamples: int = Field(default=2000, ge=1000, validation_alias=AliasChoices("n_resamples", "resamples"),
                             description="Bootstrap resamples (multi-class AUROC and the other metrics).",
                             json_schema_extra={"aliases": ["--resamples"]})
    min_cases_per_class: int = Field(default=MIN_CASES_PER_CLASS, ge=1, description=(
        "Fewest test cases per class for a verdict other than inconclusive (segmentation: fewest test cases, "
        f"default {MIN_SEGMENTATION_CASES})."),
        json_schema_extra={"aliases": ["--min-cases"]})
    candidate_threshold: str = Field(default="reference", description=(
        "'reference' (the reference's threshold, unchanged) or 'match-sensitivity' (each candidate's own threshold "
        "matching the reference's validation sensitivity)."))
    robustness: str | None = Field(default=None, description=(
        "Also judge every model on corrupted test images: all, or corruptions comma-separated (medprune list "
        "corruptions); per corruption the AUROC delta averaged over 5 severities, with the AUROC margin."))

    _metric = field_validator("metric", check_fields=False)(lambda v: checked(PAIRED_METRICS.get, v))

    @field_validator("candidate_threshold", check_fields=False)
    @classmethod
    def _rule(cls, value: str) -> str:
        if value not in THRESHOLD_RULES:
            raise ValueError(f"unknown candidate threshold rule '{value}': choose one of {', '.join(THRESHOLD_RULES)}")
        return value


@dataclass(frozen=True)
class Protocol:
    """Endpoints, margins and error rate of the non-inferiority comparison, and how it is computed.

    `metric` is the primary endpoint and `margin` its margin; `endpoints` (default: the primary metric,
    sensitivity and specificity) are all co-primary, with margins from `margins` (default 0.05 for
    sensitivity and specificity).
    """

    metric: str
    margin: float
    endpoints: tuple[str, ...] | None = None
    margins: dict[str, float] = field(default_factory=dict)
    alpha: float = 0.05
    n_resamples: int = 2000
    seed: int = 0
    split: str = "test"
    subgroups: list[str] = field(default_factory=list)
    recalibrate: bool = False
    min_cases_per_class: int = MIN_CASES_PER_CLASS
    candidate_threshold: str = "reference"
    robustness: str | None = None  # corruptions to audit: "all" or "name,name" (None: clean images only)

    @property
    def judged(self) -> list[str]:
        """The co-primary endpoints, primary first."""
        names = list(self.endpoints) if self.endpoints else [self.metric, *DEFAULT_ENDPOINT_MARGINS]
        if self.metric not in names:
            names.insert(0, self.metric)
        return list(dict.fromkeys([self.metric, *names]))

    def margin_for(self, endpoint: str) -> float:
        if endpoint == self.metric:
            return self.margin
        return self.margins.get(endpoint, DEFAULT_ENDPOINT_MARGINS.get(endpoint, self.margin))

    def check(self, n_classes: int) -> Protocol:
        for name in [*self.judged, *self.margins]:
            PAIRED_METRICS.get(name)
        unjudged = [name for name in self.margins if name not in self.judged]
        if unjudged:
            raise ConfigError(f"--margin gives {unjudged[0]} a margin but {unjudged[0]} is not judged (endpoints: "
                              f"{', '.join(self.judged)}): add it with --endpoints "
                              f"{','.join([*self.judged, *unjudged])}, or drop its margin")
            if name in BINARY_ONLY and n_classes != 2:
                raise ConfigError(f"endpoint {name} needs a binary task: use auroc, sensitivity, specificity or "
                                  "balanced_accuracy for multi-class")
        for name in self.judged:
            margin = self.margin_for(name)
            if not 0 < margin < 1:
                raise ConfigError(f"margin of {name} must be in (0, 1), got {margin:g}: pass the largest acceptable "
                                  f"loss in {name}, such as {DEFAULT_ENDPOINT_MARGINS.get(name, 0.01)}")
        if not 0 < self.alpha < 0.5:
            raise ConfigError(f"alpha must be in (0, 0.5), got {self.alpha:g}: 0.05 gives 95% intervals")
        if self.n_resamples < 1000:
            raise ConfigError(f"use at least 1000 bootstrap resamples (2000 recommended), got {self.n_resamples}")
        if self.min_cases_per_class < 1:
            raise ConfigError(f"the minimum number of test cases per class must be at least 1, got "
                              f"{self.min_cases_per_class}: {MIN_CASES_PER_CLASS} keeps the error rate near nominal")
        if self.candidate_threshold not in THRESHOLD_RULES:
            raise ConfigError(f"unknown candidate threshold rule '{self.candidate_threshold}': choose one of "
                              f"{', '.join(THRESHOLD_RULES)}")
        if self.candidate_threshold != "reference" and n_classes != 2:
            raise ConfigError("--candidate-threshold match-sensitivity needs a binary task (multi-class models "
                              "decide by the largest probability)")
        return self

    def to_dict(self) -> dict[str, Any]:
        margins = {name: self.margin_for(name) for name in self.judged}
        return {**asdict(self), "endpoints": self.judged, "margins": margins, "confidence_level": 1 - self.alpha,
                "rule": RULE,
                "ci_method": {name: METHODS.get(name, BOOTSTRAP_METHOD) for name in self.judged},
                "bootstrap": "paired, resampled within each class, percentile interval",
                "auroc_test": "paired DeLong test (DeLong et al. 1988); the binary verdict inverts it on the logit scale",
                "multiplicity": "intersection-union across endpoints (no correction needed); Holm (1979) across "
                                "candidates",
                "threshold": THRESHOLD_RULES[self.candidate_threshold]}


def parse_margins(text: str) -> tuple[float | None, dict[str, float]]:
    """`0.01` (the primary margin) or `auroc=0.01,sensitivity=0.05` (margins by endpoint)."""
    text = str(text).strip()
    try:
        return float(text), {}
    except ValueError:
        pass
    margins = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        try:
            if not sep:
                raise ValueError
            margins[name.strip()] = float(value)
        except ValueError:
            raise ConfigError(f"cannot read margin '{part}': write a number such as 0.01, or "
                              "auroc=0.01,sensitivity=0.05,specificity=0.05") from None
    if not margins:
        raise ConfigError("--margin is empty: write a number such as 0.01, or auroc=0.01,sensitivity=0.05")
    return None, margins


def build_protocol(*, metric: str, margin: str | float, endpoints: str | None = None, **settings: Any) -> Protocol:
    """A protocol from the command-line spelling of its margins and endpoints."""
    primary, margins = parse_margins(str(margin))
    if primary is None:
        primary = margins.pop(metric, 0.01)
    judged = tuple(e.strip() for e in endpoints.split(",") if e.strip()) if endpoints else None
    if judged is not None and not judged:
        raise ConfigError("--endpoints is empty: name at least one, such as auroc")
    if judged and metric not in judged:
        metric = judged[0]
        primary = margins.pop(metric, primary)
    return Protocol(metric=metric, margin=primary, endpoints=judged, margins=margins, **settings)
