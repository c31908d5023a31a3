"""How well does the input check tell cases unlike the training data from cases like it? Its AUROC on each real
shift this machine's data allows, against the model's own clean test images (which it should leave alone):

- pydicom's CT and MR test files (DICOM, other modalities) fed to a chest X-ray model, read as `predict` reads them;
- RetinaMNIST fundus photographs (turned grey) fed to the same PneumoniaMNIST model;
- PneumoniaMNIST test images under each corruption at severity 5 (the most severe).

The score is the input check's own: the feature distance relative to its threshold, above every unflagged case when
a rule (DICOM modality, aspect ratio, intensity) flags the case. Also printed: the share of each set flagged, which
is what `predict` reports.

    MEDPRUNE_DATA=../shared/data .venv/bin/python benchmarks/ood.py [--model runs/dense] [--smoke]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from _smoke import synthetic_npz, workdir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="a PneumoniaMNIST run (default: train smallcnn)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--smoke", action="store_true", help="synthetic data and a tiny model: checks that it runs")
    args = parser.parse_args()

    from sklearn.metrics import roc_auc_score

    from medprune import api
    from medprune.data.corruptions import choose, corrupt, kind_of
    from medprune.data.images import ImageReading, acquisition_fields, read_image
    from medprune.evaluation.input_profile import DICOM_FIELDS, check_cases, detector_score

    root = workdir(args.out, "ood")
    data = str(synthetic_npz(root / "smoke.npz")) if args.smoke else "pneumoniamnist"
    run = args.model
    if run is None:
        run = root / "dense"
        api.train(api.load_data(data), "smallcnn", api.TrainConfig(epochs=2 if args.smoke else 6, batch_size=16 if
                                                                    args.smoke else 128), run, progress=False,
                  overwrite=True, latency_repeats=1)
    checkpoint = api.load_model(run)
    dataset = api.load_data_for(checkpoint)
    profile = checkpoint.spec.input_profile
    if not profile:
        raise SystemExit(f"{run} records no input profile: train it with this medprune version")
    side = checkpoint.input_shape[-1]
    n_classes = len(checkpoint.class_names)

    def scores(x, **context):
        relative, reasons = check_cases(profile, checkpoint.model, np.asarray(x), dataset.preprocessing, n_classes,
                                        **context)
        return detector_score(relative, reasons), np.mean([bool(r) for r in reasons])

    clean_x = np.asarray(dataset.split("test").x)
    clean, clean_share = scores(clean_x)
    shifts: dict[str, tuple[np.ndarray, float]] = {}
    if not args.smoke:
        import pydicom.data

        files = [Path(pydicom.data.get_testdata_file(name)) for name in ("CT_small.dcm", "MR_small.dcm")]
        reading = ImageReading(side, 1, None)
        dicom_x = np.stack([read_image(f, reading, side) for f in files])
        shifts["pydicom CT + MR (2 files)"] = scores(dicom_x, dicom=[acquisition_fields(f, DICOM_FIELDS)
                                                                    for f in files])
        retina = api.load_data("retinamnist").split("test").x
        grey = np.asarray(retina, dtype=np.float64).mean(axis=1, keepdims=True).round().astype(np.uint8)
        shifts[f"RetinaMNIST test, grey ({len(grey)})"] = scores(grey)
    else:
        rng = np.random.default_rng(1)
        shifts["uniform noise (smoke)"] = scores(rng.integers(0, 256, clean_x.shape, dtype=np.uint8))
    for corruption in choose(kind_of(tuple(clean_x.shape[1:])), None):
        shifts[f"{corruption.name}, severity 5"] = scores(corrupt(clean_x, corruption, 5, seed=0))

    print(f"model {run} ({checkpoint.name}); clean test images flagged: {100 * clean_share:.1f} % of {len(clean)}")
    print(f"{'shift':<36} {'AUROC vs clean test':>20} {'flagged':>9}")
    for name, (shifted, share) in shifts.items():
        labels = np.r_[np.zeros(len(clean)), np.ones(len(shifted))]
        auroc = roc_auc_score(labels, np.r_[clean, shifted])
        print(f"{name:<36} {auroc:>20.3f} {100 * share:>8.1f}%")
    if os.environ.get("MEDPRUNE_DATA") is None and not args.smoke:
        print("(MEDPRUNE_DATA was not set: the data came from the cache)")


if __name__ == "__main__":
    main()
