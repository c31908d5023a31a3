import subprocess
import sys


def test_import_is_quiet_and_light():
    # Dependencies add their own filters on import; medprune must add none of its own.
    code = ("import sys, warnings, torch, numpy, scipy.stats, sklearn.metrics, pandas, typer, rich; "
            "filters = list(warnings.filters); import medprune, medprune.api, medprune.cli; "
            "heavy = [m for m in ('onnxruntime', 'optuna', 'torch_pruning') if m in sys.modules]; "
            "assert warnings.filters == filters, 'warning filters changed'; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert out.stderr == ""
