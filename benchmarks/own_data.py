"""PneumoniaMNIST as a hospital would hand it over: PNG files and DICOM files with a manifest, end to end.

Writes every PneumoniaMNIST image as a PNG and as a DICOM file (synthetic PatientIDs, two images per patient,
two Manufacturer values, every third file JPEG 2000 lossless), with a manifest keeping the official splits.
Then, with the same model and settings: trains on the .npz, the PNG manifest and the DICOM manifest (the
arrays are identical, so the test AUROC must agree within 1e-6); prunes the DICOM model and validates it with
`--subgroup dicom:Manufacturer`; audits a copy of the manifest whose splits put one patient in two splits;
exports the model to int8 ONNX and runs `predict` on a folder of the test images with the checkpoint and the
ONNX file (agreement of decisions) and compares the checkpoint's probabilities with `evaluate`'s.

    MEDPRUNE_DATA=../shared/data .venv/bin/python benchmarks/own_data.py [--workdir /tmp/medprune-own] [--epochs 3] [--smoke]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from _smoke import synthetic_npz, workdir

CLASSES = ("normal", "pneumonia")
MANUFACTURERS = ("ACME", "Globex")


def medprune(*args) -> None:
    command = [str(Path(sys.executable).parent / "medprune"), *map(str, args)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command[1:3])} failed: {result.stderr[-1500:]}")


def write_dicom(path: Path, pixels: np.ndarray, jpeg2000: bool, **header) -> None:
    from PIL import Image
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless, SecondaryCaptureImageStorage, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = JPEG2000Lossless if jpeg2000 else ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = SecondaryCaptureImageStorage, generate_uid()
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    for key, value in header.items():
        setattr(ds, key, value)
    if jpeg2000:
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "JPEG2000", irreversible=False, num_resolutions=2, no_jp2=True)
        ds.PixelData = encapsulate([buffer.getvalue()])
        ds["PixelData"].VR = "OB"
    else:
        ds.PixelData = pixels.tobytes()
    ds.save_as(path, enforce_file_format=True)


def write_copies(npz: Path, root: Path) -> Path:
    from PIL import Image

    arrays = np.load(npz)
    rows = []
    for split in ("train", "val", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"][:, 0]
        for i, (image, label) in enumerate(zip(images, labels)):
            name = f"{split}/{CLASSES[label]}/{i:05d}"
            png, dcm = root / "png" / f"{name}.png", root / "dcm" / f"{name}.dcm"
            patient = f"{split[:2].upper()}{i // 2:05d}"
            if not dcm.is_file():
                png.parent.mkdir(parents=True, exist_ok=True)
                dcm.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(image).save(png)
                write_dicom(dcm, image, jpeg2000=i % 3 == 0, PatientID=patient, PatientName=f"Doe^{patient}",
                            Manufacturer=MANUFACTURERS[(i // 2) % 2])
            rows.append({"png": f"png/{name}.png", "dicom": f"dcm/{name}.dcm", "label": CLASSES[label],
                         "split": split, "patient": patient})
    manifest = root / "labels.csv"
    with manifest.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/medprune-own-data"))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--model", default="smallcnn")
    parser.add_argument("--smoke", action="store_true", help="a tiny run that checks the script works")
    args = parser.parse_args()
    npz = Path(os.environ.get("MEDPRUNE_DATA", "../shared/data")) / "pneumoniamnist.npz"
    root = args.workdir
    if args.smoke:  # a tiny synthetic stand-in for PneumoniaMNIST, one epoch
        root = workdir(None, "own-data")
        npz, args.epochs = synthetic_npz(root / "smoke.npz", size=28, counts=(96, 48, 48)), 1
    for old in ("validation", "model-int8.onnx", "audit.json"):  # outputs of an earlier run of this script
        shutil.rmtree(root / old, ignore_errors=True) if (root / old).is_dir() else (root / old).unlink(missing_ok=True)
    began = time.perf_counter()
    manifest = write_copies(npz, root)
    print(f"wrote {sum(1 for _ in manifest.open()) - 1} images as PNG and DICOM in {time.perf_counter() - began:.0f} s")
    train = ["--model", args.model, "--epochs", args.epochs, "--no-progress", "--overwrite"]
    manifest_args = ["--label-column", "label", "--split-column", "split", "--group-column", "patient",
                     "--positive-class", "pneumonia"]
    auroc = {}
    for name, data in (("npz", ["--data", npz]), ("png", ["--data", manifest, "--image-column", "png", *manifest_args]),
                       ("dicom", ["--data", manifest, "--image-column", "dicom", *manifest_args])):
        began = time.perf_counter()
        medprune("train", *data, *train, "--out", root / f"run-{name}")
        auroc[name] = json.loads((root / f"run-{name}" / "metrics.json").read_text())["auroc"]
        print(f"train {args.model} on {name:<5}: test AUROC {auroc[name]:.6f} ({time.perf_counter() - began:.0f} s)")
    print(f"|PNG - npz| = {abs(auroc['png'] - auroc['npz']):.2e}, |DICOM - npz| = {abs(auroc['dicom'] - auroc['npz']):.2e}")

    run = root / "run-dicom"
    medprune("prune", "--model", run, "--criterion", "magnitude", "--structured", "--target", "macs=0.5",
             "--finetune-epochs", 1, "--no-progress", "--overwrite", "--out", root / "pruned")
    medprune("validate", "--reference", run, "--candidate", root / "pruned", "--subgroup", "dicom:Manufacturer",
             "--out", root / "validation")
    record = json.loads((root / "validation" / "validation.json").read_text())
    candidate = record["candidates"][0]
    groups = ", ".join(f"{g['group']} n={g['n']} delta {g['delta']:+.4f}"
                       for g in candidate["subgroups"]["dicom:Manufacturer"])
    shared = (root / "validation" / "validation.json").read_text() + (root / "validation" / "report.html").read_text()
    print(f"validate pruned vs dense: {candidate['verdict']}; by Manufacturer: {groups}; patient ids or names in the "
          f"report: {'yes' if 'Doe^' in shared or 'TR00000' in shared else 'none'}")

    leaky = root / "leaky.csv"
    lines = manifest.read_text().splitlines()
    first_train = next(i for i, line in enumerate(lines) if ",train," in line)
    lines[first_train] = lines[first_train].replace(",train,", ",test,")  # one image of patient TR00000 moved
    leaky.write_text("\n".join(lines) + "\n")
    medprune("data", "audit", "--data", leaky, "--image-column", "png", *manifest_args, "--json", root / "audit.json")
    leakage = json.loads((root / "audit.json").read_text())["group_leakage"]
    print(f"data audit of a manifest with one patient in train and test: {leakage['train-test']}")

    onnx = root / "model-int8.onnx"
    medprune("export", "--model", run, "--int8", "--out", onnx)
    test_folder = root / "png" / "test"
    for name, model in (("checkpoint", run), ("onnx-int8", onnx)):
        medprune("predict", "--model", model, "--data", test_folder, "--out", root / f"predict-{name}.csv",
                 "--no-progress")
    rows = {name: list(csv.DictReader((root / f"predict-{name}.csv").open())) for name in ("checkpoint", "onnx-int8")}
    agree = np.mean([a["prediction"] == b["prediction"] for a, b in zip(rows["checkpoint"], rows["onnx-int8"])])
    print(f"predict on {len(rows['checkpoint'])} test images: checkpoint and int8 ONNX decisions agree on {agree:.4f}")

    from medprune import api
    from medprune.evaluation.predict import predict_proba

    checkpoint = api.load_model(run)
    dataset = api.load_data_for(checkpoint)
    test = dataset.split("test")
    evaluated = predict_proba(checkpoint.model, test, dataset.preprocessing)[:, 1]
    by_file = {r["case"]: float(r["p_pneumonia"]) for r in rows["checkpoint"]}
    predicted = np.array([by_file[str(Path(f).relative_to(test_folder))] for f in
                          (root / p for p in _test_paths(manifest))])
    print(f"checkpoint predict vs evaluate probabilities on the same test images: max |diff| "
          f"{np.abs(predicted - evaluated).max():.2e} (predict writes 6 decimals)")


def _test_paths(manifest: Path) -> list[str]:
    return [r["png"] for r in csv.DictReader(manifest.open()) if r["split"] == "test"]


if __name__ == "__main__":
    main()
