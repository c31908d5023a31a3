"""What the demo (and a user of the API) deploys follows the validation: the fastest file shown non-inferior,
else the pruned model if it is, else the dense model stays in service."""

from pathlib import Path

from medprune.api import choose_shipped

FAST, SLOW = Path("runs/pruned-int8.xml"), Path("runs/pruned-int8.onnx")
PRUNED, DENSE = Path("runs/pruned"), Path("runs/dense")


def test_the_fastest_non_inferior_file_is_shipped():
    verdicts = {FAST.name: "non-inferior", SLOW.name: "non-inferior", "pruned": "non-inferior"}
    assert choose_shipped([FAST, SLOW], verdicts, PRUNED, DENSE)[0] == FAST
    verdicts[FAST.name] = "inconclusive"
    assert choose_shipped([FAST, SLOW], verdicts, PRUNED, DENSE)[0] == SLOW


def test_the_pruned_model_when_no_file_is_shown_safe():
    verdicts = {FAST.name: "inferior", SLOW.name: "inconclusive", "pruned": "non-inferior"}
    shipped, why = choose_shipped([FAST, SLOW], verdicts, PRUNED, DENSE)
    assert shipped == PRUNED and "pruned fp32" in why


def test_the_dense_model_stays_when_nothing_compressed_is_shown_safe():
    verdicts = {FAST.name: "inconclusive", SLOW.name: "inconclusive", "pruned": "inconclusive"}
    shipped, why = choose_shipped([FAST, SLOW], verdicts, PRUNED, DENSE)
    assert shipped == DENSE and "keeping the dense model" in why
