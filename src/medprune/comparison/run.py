"""Run every technique of a recipe against one reference; each finished row is kept for `--resume`.

Layout of the output folder:
    reference/            the dense model (trained here if the recipe says how)
    entries/<name>/       model.pt or model.onnx, entry.json (steps, settings, wall time)
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from pydantic import ValidationError

from medprune.records.comparison import EntryRecord
from medprune._atomic import write_json_atomic
from medprune.comparison.recipe import Entry, Recipe, slug
from medprune.compress import TECHNIQUES, Context, run_chain
from medprune.data.dataset import Dataset
from medprune.runs import train
from medprune.training import TrainConfig
from medprune.errors import ConfigError
from medprune.hardware.distributed import launched_rank, wait_for_all
from medprune.models.checkpoint import Checkpoint, load_checkpoint, runtime_of, save_checkpoint


def prepare_out(out: Path, resume: bool, overwrite: bool) -> None:
    if out.exists() and any(out.iterdir()) and not (resume or overwrite):
        raise ConfigError(f"{out} already holds a comparison: pass --resume to reuse its finished rows, "
                          "--overwrite to start again, or choose another --out")
    if overwrite and not resume and (out / "entries").exists():
        shutil.rmtree(out / "entries")
    out.mkdir(parents=True, exist_ok=True)


def prepare_reference(recipe: Recipe, dataset: Dataset, out: Path, progress: bool,
                      device: torch.device | None = None) -> Checkpoint:
    """Load the reference, or train it into `out/reference` (reused when already there)."""
    ref = recipe.reference
    if ref.path is not None:
        return load_checkpoint(Path(ref.path))
    folder = out / "reference"
    if (folder / "model.pt").is_file() and not (folder / "train_state.pt").exists():
        return load_checkpoint(folder)
    t = ref.train
    # a segmentation network takes the batch and epochs of its data (medprune train's) unless the recipe sets them
    given = t.model_dump(include={"epochs", "lr", "batch_size", "seed"}, exclude_unset=dataset.task == "segmentation")
    config = TrainConfig(**given, **recipe.budget.accelerator())
    train(dataset, t.model_for(dataset.task), config, folder, resume=(folder / "train_state.pt").exists(),
          progress=progress, model_kwargs=t.model_kwargs)
    wait_for_all(device)  # under torchrun: rank 0 has written the model the others read
    return load_checkpoint(folder)


def _finished(folder: Path, entry: Entry) -> EntryRecord | None:
    """The stored result of this row, if it finished with the same settings."""
    record_path = folder / "entry.json"
    if not record_path.is_file():
        return None
    try:
        stored = EntryRecord.model_validate_json(record_path.read_text())
    except ValidationError:  # damaged: run the row again
        return None
    if stored.settings != entry.model_dump() or not Path(stored.model_path).is_file():
        return None
    return stored.model_copy(update={"reused": True})


def run_entry(entry: Entry, reference: Checkpoint, dataset: Dataset, recipe: Recipe, out: Path, *,
              resume: bool, progress: bool, log: Callable[[str], None]) -> EntryRecord | None:
    """Run one row into `out/entries/NAME`; under torchrun the processes other than rank 0 run it alongside (their
    fine-tuning is data-parallel with rank 0's) in a scratch folder, write nothing and return None."""
    folder = out / "entries" / slug(entry.label)
    if resume and (done := _finished(folder, entry)) is not None:
        log(f"{entry.label}: finished earlier, reused")
        return done
    if launched_rank() != 0:
        # only the training steps need every process; an export (the last step, if any) is rank 0's alone
        steps = [s for s in entry.chain if not TECHNIQUES.get(s.technique).produces_onnx]
        if steps:
            with tempfile.TemporaryDirectory() as scratch:
                run_chain(steps, reference, Context(reference, dataset, recipe.budget, Path(scratch), progress=False))
        return None
    folder.mkdir(parents=True, exist_ok=True)
    ctx = Context(reference, dataset, recipe.budget, folder, progress=progress,
                  log=lambda text: log(f"{entry.label}: {text}"))
    began = time.perf_counter()
    model, steps = run_chain(list(entry.chain), reference, ctx)
    if runtime_of(model.model) == "pytorch":
        model_path = save_checkpoint(folder / "model.pt", model.model, model.spec)
        for exported in ("model.onnx", "model.xml", "model.bin"):
            (folder / exported).unlink(missing_ok=True)
    else:
        model_path = model.path
        (folder / "model.pt").unlink(missing_ok=True)
    result = EntryRecord(name=entry.label, folder=str(folder), model_path=str(model_path), steps=steps,
                         wall_time_s=time.perf_counter() - began, settings=entry.model_dump())
    write_json_atomic(folder / "entry.json", result.to_json_dict())
    return result
