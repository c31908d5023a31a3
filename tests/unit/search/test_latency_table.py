"""Per-layer latency tables time every layer as the layer it is: a U-Net's up-sampling convolutions included."""

import torch

from medprune.models import create_model
from medprune.pruning.criterion import CRITERIA, CalibrationData
from medprune.search.latency import LatencyTable
from medprune.search.space import SearchSpace


def test_a_unet_table_times_its_transposed_convolutions_as_such(tmp_path):
    shape = (1, 16, 16)
    torch.manual_seed(0)
    model = create_model("unet", input_shape=shape, n_classes=2, modality="image", channels=(8, 16, 32))
    space = SearchSpace(model, CRITERIA.get("magnitude")(), CalibrationData([], shape), n_classes=2)
    table = LatencyTable(space, tmp_path / "table.json")
    deconvs = [key for key in table.table if key.startswith("deconv")]
    assert len(deconvs) == 2  # one per up-sampling step of three levels
    assert all(ms > 0 for ms in table.table.values())
    assert not [key for key in table.table if key.startswith("linear")]  # nothing timed as a stand-in
