"""`search`: run a study (one process, several, or Ray tasks), then fine-tune the best candidates."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from pydantic import Field

from medprune.errors import ConfigError
from medprune.schema import Settings
from medprune.search.evaluator import Evaluator
from medprune.search.finish import finish
from medprune.search.learners import LEARNERS
from medprune.hardware.options import AcceleratorOptions
from medprune.search.study import (NOT_AN_OPTION, STUDY_NAME, SearchConfig, count_states, default_storage, fail_stale_trials,
                                   finished_trials, make_storage, names, run_worker, worker_process)


class RunOptions(Settings):
    """How the study is run and finished (not part of the study's identity), declared once for `medprune search`
    and Python."""

    workers: int = Field(default=1, description="Parallel trial workers.")
    backend: str = Field(default="local", description="local (processes) or ray.")
    address: str | None = Field(default=None, json_schema_extra={"flag": "--ray-address", "aliases": ["--address"]},
                                description="Join this Ray cluster (ray://host:10001 or auto; default: start a local "
                                            "Ray).")
    cpus_per_trial: float = Field(default=1.0, description="CPUs each Ray trial worker asks for.")
    gpus_per_trial: float = Field(default=0.0, description="GPUs each Ray trial worker asks for (fractions share "
                                                           "one); its trials score there.")
    device: str = Field(default="auto", json_schema_extra=NOT_AN_OPTION)  # where the chosen candidates fine-tune
    precision: str = Field(default="32", json_schema_extra=NOT_AN_OPTION)  # both from AcceleratorOptions
    finetune_top: int = Field(default=3, description="Top candidates given a short fine-tune before choosing.")
    short_epochs: int = Field(default=1, ge=1, json_schema_extra=NOT_AN_OPTION)
    finetune_epochs: int | None = Field(default=None, description=(
        "Fine-tuning epochs of the chosen candidate (default: the fine-tuning step budget, with early stopping)."))
    lr: float = Field(default=5e-4, gt=0, json_schema_extra=NOT_AN_OPTION)
    train_batch_size: int = Field(default=128, ge=1, json_schema_extra=NOT_AN_OPTION)
    warm_start: str | None = Field(default=None, description="Seed the search with the best candidates of an "
                                                             "earlier search folder.")
    warm_start_count: int = Field(default=5, ge=1, json_schema_extra=NOT_AN_OPTION)
    progress: bool = Field(default=True, json_schema_extra=NOT_AN_OPTION)

    def check(self) -> RunOptions:
        if self.workers < 1:
            raise ConfigError(f"--workers must be >= 1, got {self.workers}")
        if self.backend not in ("local", "ray"):
            raise ConfigError(f"backend must be local or ray, got '{self.backend}'")
        if self.cpus_per_trial <= 0 or self.gpus_per_trial < 0:
            raise ConfigError(f"--cpus-per-trial must be > 0 and --gpus-per-trial >= 0, got {self.cpus_per_trial} "
                              f"and {self.gpus_per_trial}")
        if self.gpus_per_trial and self.backend != "ray":
            raise ConfigError("--gpus-per-trial asks Ray for GPUs: add --backend ray (local workers use the GPU "
                              "--device names)")
        AcceleratorOptions(device=self.device, precision=self.precision)  # the same checks as train's
        if self.finetune_top < 1 or (self.finetune_epochs is not None and self.finetune_epochs < self.short_epochs):
            raise ConfigError("--finetune-top must be >= 1 and --finetune-epochs at least the short fine-tune")
        return self


def _check_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("--backend ray needs Ray, which is not installed: pip install 'medprune[ray]' "
                          "(or use the default --backend local)") from None
    return ray


def _prepare_study(config: SearchConfig, out: Path, resume: bool, overwrite: bool):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    local_db = out / "study.db"
    if config.storage == default_storage(out) and local_db.exists() and not resume:
        if not overwrite:
            raise ConfigError(f"{out} already holds a search: pass --resume to continue it, --overwrite to start "
                              "again, or choose another --out")
        local_db.unlink()
        shutil.rmtree(out / "best", ignore_errors=True)
    storage = make_storage(config.storage)
    try:
        study = optuna.create_study(study_name=STUDY_NAME, storage=storage, direction="maximize", load_if_exists=True)
    except Exception as err:
        raise ConfigError(f"cannot use the study storage '{config.storage}' ({str(err)[:140]}): check the URL "
                          "and the database") from None
    recorded, current = study.user_attrs.get("config"), json.loads(json.dumps(config.identity()))
    if recorded is None:
        study.set_user_attr("config", current)
    elif recorded != current:
        changed = sorted(k for k in set(recorded) | set(current) if recorded.get(k) != current.get(k))
        raise ConfigError(f"the study in {config.storage} was run with other settings ({', '.join(changed)}): "
                          "resume with the same options, or start a new --out")
    return storage, study


def _warm_start(study, space_names: list[str], floors: list[float], source: str, count: int) -> int:
    """Enqueue the best vectors of an earlier search, matched by layer name (others: their mean)."""
    path = Path(source)
    path = path / "search.json" if path.is_dir() else path
    if not path.is_file():
        raise ConfigError(f"--warm-start {source} holds no search.json: pass the folder of an earlier search")
    try:
        earlier = json.loads(path.read_text())["top"]
    except (ValueError, KeyError):
        raise ConfigError(f"{path} is not a medprune search.json: pass the folder of an earlier search") from None
    for entry in earlier[:count]:
        ratios = entry["ratios"]
        fallback = float(np.mean(list(ratios.values())))
        vector = [min(1.0, max(f, ratios.get(n, fallback))) for n, f in zip(space_names, floors)]
        study.enqueue_trial(dict(zip(names(len(vector)), vector)), user_attrs={"warm_start": True})
    return min(count, len(earlier))


def _run_trials(config: SearchConfig, options: RunOptions, study, progress_label: str, evaluator: Any) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeRemainingColumn(), TextColumn("{task.fields[status]}"))
    with Progress(*columns, disable=not options.progress) as bar:
        task = bar.add_task(progress_label, total=config.trials, status="")

        def refresh(_: Any = None) -> None:
            done = finished_trials(study)
            best = max((t.value for t in done), default=float("nan"))
            bar.update(task, completed=len(done), status=f"best {best:.4f}" if done else "")

        refresh()
        threads = max(1, (os.cpu_count() or 1) // options.workers)
        if options.workers == 1 and options.backend == "local":
            run_worker(config, on_trial=refresh, evaluator=evaluator)
            refresh()
            return
        if options.backend == "ray":
            ray = _check_ray()
            started = not ray.is_initialized()
            if started:
                ray.init(address=options.address, num_cpus=None if options.address else options.workers,
                         include_dashboard=False, log_to_driver=False)
            try:
                task_fn = ray.remote(num_cpus=options.cpus_per_trial, num_gpus=options.gpus_per_trial)(worker_process)
                pending = [task_fn.remote(config, w, threads) for w in range(options.workers)]
                while pending:
                    _, pending = ray.wait(pending, timeout=2.0)
                    refresh()
            finally:
                if started:  # a Ray started here ends here: its threads must not outlive the search
                    ray.shutdown()
            return
        # Workers 1..N-1 are processes; worker 0 runs here. Where fork exists the children inherit the
        # evaluator already built (no second import and setup); elsewhere they are spawned and build their own.
        forking = "fork" in multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if forking else "spawn")
        processes = [context.Process(target=worker_process, args=(config, w, threads, evaluator if forking else None))
                     for w in range(1, options.workers)]
        for p in processes:
            p.start()
        run_worker(config, 0, threads, on_trial=refresh, evaluator=evaluator)
        while any(p.is_alive() for p in processes):
            time.sleep(1.0)
            refresh()
        if any(p.exitcode != 0 for p in processes):
            raise ConfigError("a search worker failed (see the messages above); finished trials are kept: fix the "
                              "cause and run again with --resume")
        refresh()


def search(config: SearchConfig, out: str | Path, options: RunOptions, *, resume: bool = False,
           overwrite: bool = False) -> dict[str, Any]:
    """Run (or resume) the study in `out`, fine-tune the best candidate into `out/best`; returns search.json."""
    out = Path(out)
    if not config.model:
        raise ConfigError("SearchConfig has no model: give model= (a run directory or model.pt of the dense model)")
    options.check()
    LEARNERS.get(config.sampler)
    if config.trials < 1:
        raise ConfigError(f"--trials must be >= 1, got {config.trials}")
    if config.budget_policy not in ("repair", "reject"):
        raise ConfigError(f"budget policy must be repair or reject, got '{config.budget_policy}'")
    if options.backend == "ray":
        _check_ray()
    out.mkdir(parents=True, exist_ok=True)
    config = config.replace(storage=config.storage or default_storage(out),
                            latency_table=config.latency_table or str(out / "latency_table.json"))
    evaluator = Evaluator.build(config)  # bad settings fail here, before any worker starts
    storage, study = _prepare_study(config, out, resume, overwrite)
    stale = fail_stale_trials(storage, study)
    warm = 0
    if options.warm_start and not study.trials:
        warm = _warm_start(study, evaluator.space.names, evaluator.space.floors, options.warm_start,
                           options.warm_start_count)
    if evaluator.latency is not None:
        evaluator.latency.save()  # workers start from the dense timings already measured
    began = time.perf_counter()
    _run_trials(config, options, study, f"search ({config.sampler})", evaluator)
    wall = time.perf_counter() - began
    return finish(config, options, evaluator, study, out, wall_time_s=wall, stale=stale, warm_started=warm,
                  counts=count_states(study))
