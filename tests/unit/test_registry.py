import pytest

from medprune.errors import UnknownNameError
from medprune.registry import Registry, RegistryError


def test_get_returns_registered_object_and_lists_names():
    reg = Registry("criterion")
    reg.register("taylor")(1)
    reg.register("magnitude")(2)
    assert reg.get("taylor") == 1
    assert reg.names() == ["magnitude", "taylor"]


def test_unknown_name_suggests_the_closest():
    reg = Registry("model")
    reg.register("resnet18")(object())
    with pytest.raises(UnknownNameError, match="unknown model 'resnet81': did you mean 'resnet18'"):
        reg.get("resnet81")


def test_unknown_name_without_close_match_lists_choices():
    reg = Registry("model")
    reg.register("resnet18")(object())
    with pytest.raises(UnknownNameError, match="choose one of resnet18"):
        reg.get("zzz")


def test_duplicate_registration_is_refused():
    reg = Registry("model")
    reg.register("a")(1)
    with pytest.raises(RegistryError, match="already registered"):
        reg.register("a")(2)
