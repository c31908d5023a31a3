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


def test_every_lazy_export_is_declared_for_type_checkers():
    import ast
    from pathlib import Path

    import medprune

    tree = ast.parse(Path(medprune.__file__).read_text())
    guarded = next(node for node in tree.body if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test))
    declared = {alias.asname or alias.name for node in guarded.body for alias in node.names}
    lazy = set(medprune.__all__) - {"__version__"}
    assert declared == lazy
    assert all(getattr(medprune, name) is not None for name in lazy)


def test_all_lists_exactly_the_lazy_exports():
    import medprune

    assert set(medprune.__all__) == {"__version__", *medprune._EXPORTS}
