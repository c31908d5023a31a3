"""The base of every run record: versioned, JSON in and out, tolerant of keys a later version added."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


def set_fields(model: BaseModel, **values: Any) -> None:
    """Fill in fields of a record section (declared or not); each counts as given, so it is written."""
    for key, value in values.items():
        setattr(model, key, value)


class Record(BaseModel):
    # Keys this version does not declare (added by a later one, or by the verb: training, pruning) are kept.
    model_config = ConfigDict(extra="allow")

    schema_version: int = 1

    def to_json_dict(self) -> dict[str, Any]:
        """The plain form written to the run directory. Python mode keeps NaN and infinities (pydantic's JSON mode
        turns those inside untyped mappings into null); optional sections never given are left out."""
        out = self.model_dump()
        return {k: v for k, v in out.items() if v is not None or k in self.model_fields_set}


class Section(BaseModel):
    """A part of a record; keys this version does not declare ride along unchanged."""

    model_config = ConfigDict(extra="allow")


class GivenKeysRecord(Record):
    """A record written as it was given: a section or key never set (a binary task's per-class block, a dense
    model's pruning) is left out of the file, at every depth."""

    def to_json_dict(self) -> dict[str, Any]:
        return {**self.model_dump(exclude_unset=True), "schema_version": self.schema_version}
