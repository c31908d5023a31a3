import pytest

from medprune.errors import ConfigError
from medprune.pruning import Schedule, Target


def test_targets_parse():
    assert Target.parse("macs=0.25") == Target("macs", 0.25)
    assert Target.parse(" sparsity = 0.9 ") == Target("sparsity", 0.9)


@pytest.mark.parametrize("text, match", [
    ("macs=1.5", r"outside \(0, 1\]"), ("sparsity=0", r"outside \(0, 1\]"), ("flops=0.5", "not understood"),
    ("macs", "not understood"), ("macs=abc", "not understood"),
])
def test_bad_targets(text, match):
    with pytest.raises(ConfigError, match=match):
        Target.parse(text)


def test_schedules_parse_and_ramp():
    linear = Schedule.parse("iterative:4")
    assert (linear.kind, linear.steps, linear.ramp) == ("iterative", 4, "linear")
    assert [linear.progress(k) for k in range(1, 5)] == [0.25, 0.5, 0.75, 1.0]
    cubic = Schedule.parse("iterative:4:cubic")
    assert cubic.progress(1) == pytest.approx(1 - 0.75 ** 3) and cubic.progress(4) == 1.0
    assert Schedule.parse("oneshot").kind == "oneshot"
    assert Schedule.parse("until-tolerance").kind == "until-tolerance"
    with pytest.raises(ConfigError, match="iterative:K"):
        Schedule.parse("iterative")


def test_intermediate_targets_move_from_dense():
    assert Target("macs", 0.25).at_fraction(0.5) == Target("macs", 0.625)
    assert Target("sparsity", 0.9).at_fraction(0.5) == Target("sparsity", 0.45)
