import hashlib
from pathlib import Path

import pytest

from medprune.data import _medmnist_info as info
from medprune.data.fetch import check_md5, locate_medmnist
from medprune.errors import DataError


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def fake_breast(tmp_path, monkeypatch):
    """A stand-in for breastmnist.npz whose md5 the registry is told to accept."""
    path = tmp_path / "mirror" / "breastmnist.npz"
    path.parent.mkdir()
    path.write_bytes(b"medmnist bytes")
    monkeypatch.setitem(info.MEDMNIST_2D["breastmnist"].md5, 28, (_md5(path),))
    return path


def test_data_dir_is_searched_first(fake_breast, tmp_path, monkeypatch):
    other = tmp_path / "env"
    other.mkdir()
    (other / "breastmnist.npz").write_bytes(b"other")
    monkeypatch.setenv("MEDPRUNE_DATA", str(other))
    assert locate_medmnist("breastmnist", 28, fake_breast.parent) == fake_breast


def test_medprune_data_is_searched_before_the_cache(fake_breast, monkeypatch):
    monkeypatch.setenv("MEDPRUNE_DATA", str(fake_breast.parent))
    assert locate_medmnist("breastmnist", 28) == fake_breast


def test_download_from_mirror_is_verified_and_lands_in_cache(fake_breast, monkeypatch, tmp_path):
    monkeypatch.delenv("MEDPRUNE_OFFLINE")
    monkeypatch.setenv("MEDPRUNE_CACHE", str(tmp_path / "cache"))
    got = locate_medmnist("breastmnist", 28, base_url=fake_breast.parent.as_uri())
    assert got == tmp_path / "cache" / "breastmnist.npz"
    assert got.read_bytes() == fake_breast.read_bytes()


def test_download_with_wrong_md5_leaves_no_file(fake_breast, monkeypatch, tmp_path):
    monkeypatch.delenv("MEDPRUNE_OFFLINE")
    monkeypatch.setenv("MEDPRUNE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(info.MEDMNIST_2D["breastmnist"].md5, 28, ("0" * 32,))
    with pytest.raises(DataError, match="download was corrupted"):
        locate_medmnist("breastmnist", 28, base_url=fake_breast.parent.as_uri())
    assert not list((tmp_path / "cache").glob("breastmnist*"))


def test_offline_and_missing_names_file_and_both_remedies(monkeypatch, tmp_path):
    monkeypatch.delenv("MEDPRUNE_DATA", raising=False)
    with pytest.raises(DataError) as err:
        locate_medmnist("dermamnist", 64)
    message = str(err.value)
    assert "dermamnist_64.npz" in message and "MEDPRUNE_DATA" in message and "zenodo.org/records/10519652" in message
    assert "\n" not in message


def test_unreachable_download_gives_one_line(monkeypatch, tmp_path):
    monkeypatch.delenv("MEDPRUNE_OFFLINE")
    monkeypatch.delenv("MEDPRUNE_DATA", raising=False)
    with pytest.raises(DataError, match="could not be downloaded"):
        locate_medmnist("dermamnist", 28, base_url=(tmp_path / "nowhere").as_uri())


def test_corrupt_local_file_fails_md5(fake_breast):
    fake_breast.write_bytes(b"truncated")
    with pytest.raises(DataError, match="corrupt or truncated"):
        check_md5(fake_breast, info.MEDMNIST_2D["breastmnist"].md5[28])


def test_official_urls_point_at_the_zenodo_record():
    assert info.official_url("pneumoniamnist", 64) == \
        "https://zenodo.org/records/10519652/files/pneumoniamnist_64.npz?download=1"
    assert "238a40f8f78b9a61dfdd21e86aac35f9" in info.MEDMNIST_2D["pneumoniamnist"].md5[28]
