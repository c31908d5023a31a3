"""validation.json: each candidate's verdict against the reference, with the evidence behind it.

Classification and segmentation share the shape the console and the verdict box read (protocol, reference,
candidates with their endpoints and verdicts); each adds its own evidence. The deep statistical blocks (operating
point, calibration, subgroup rows, Bland-Altman) stay mappings: they are written once, by the judge, and read by
the report's template.
"""

from __future__ import annotations

from typing import Any, Literal

from medprune.records.base import GivenKeysRecord, Section


class Endpoint(Section):
    """One endpoint of one candidate: the paired delta, its interval and the verdict on it."""

    name: str
    margin: float
    reference: float
    candidate: float
    delta: float
    ci_low: float
    ci_high: float
    p_noninferiority: float
    method: str
    verdict: str
    reason: str = ""


class Protocol(Section):
    """What was pre-specified: the split, the error rate, resampling, and each judged endpoint's margin."""

    split: str = "test"
    alpha: float
    confidence_level: float
    n_resamples: int
    seed: int
    margins: dict[str, float]
    endpoints: list[str] = []  # classification: the judged endpoints, the primary first


class ModelEntry(Section):
    name: str = "reference"
    path: str | None = None
    sha256: str = ""
    architecture: str = ""


class Verdict(ModelEntry):
    """A candidate's verdict over all endpoints; the top-level numbers are the primary endpoint's."""

    verdict: str
    verdict_reason: str
    failed_endpoints: list[str] = []
    endpoints: dict[str, Endpoint]
    subgroup_flags: list[str] = []


class RobustnessSummary(Section):
    verdict: str
    reason: str
    worst_corruption: str
    worst_delta: float
    worst_severity_delta: float


class ClassificationVerdict(Verdict):
    metric: str
    margin: float
    delta: float
    ci_low: float
    ci_high: float
    p_adjusted: float
    threshold: float | None = None
    operating_point: dict[str, dict[str, Any]] = {}
    subgroups: dict[str, list[dict[str, Any]]] = {}
    flagged: bool = False
    efficiency: dict[str, Any] | None = None
    robustness: RobustnessSummary | None = None


class ClassificationReference(ModelEntry):
    calibration: dict[str, Any] = {}
    efficiency: dict[str, Any] | None = None


class SegmentationReference(ModelEntry):
    cases: dict[str, list[Any]]  # CaseMetrics.to_dict(): per case (by index) and structure


class SegmentationVerdict(Verdict):
    cases: dict[str, list[Any]]
    volumes: dict[str, dict[str, Any]] = {}  # Bland-Altman per structure
    subgroups: dict[str, list[dict[str, Any]]] = {}


class SegmentationProtocol(Protocol):
    min_cases: int
    segmentation_margins: dict[str, float]
    conventions: dict[str, str] = {"spacing_unit": "mm"}

    @property
    def volume_unit(self) -> str:
        return "mL" if self.conventions.get("spacing_unit", "mm") == "mm" else "1000 px"


class ValidationRecord(GivenKeysRecord):
    """The part every validation.json has: what `medprune validate` prints."""

    protocol: Protocol
    too_few_cases: str = ""
    class_names: list[str]
    reference: ModelEntry
    candidates: list[Verdict]
    data: dict[str, Any] = {}
    versions: dict[str, str] = {}

    @property
    def verdicts(self) -> dict[str, str]:
        return {c.name: c.verdict for c in self.candidates}

    @classmethod
    def read(cls, record: dict[str, Any]) -> ValidationRecord:
        """The typed record of a validation.json of either task."""
        kind = SegmentationValidation if record.get("task") == "segmentation" else ClassificationValidation
        return kind.model_validate(record)


class ClassificationValidation(ValidationRecord):
    threshold: float | None = None
    class_counts: dict[str, int] = {}
    positive_class: str | None = None
    reference: ClassificationReference
    candidates: list[ClassificationVerdict]
    modal_exemplars: list[dict[str, Any]] | None = None  # with several candidates
    robustness: dict[str, Any] | None = None


class SegmentationValidation(ValidationRecord):
    task: Literal["segmentation"] = "segmentation"
    structures: list[str]
    protocol: SegmentationProtocol
    reference: SegmentationReference
    candidates: list[SegmentationVerdict]
