"""Reading image files: DICOM (uncompressed and JPEG 2000) gives exactly the PNG's array; rescale, windows,
MONOCHROME1 and 16-bit files are normalised as documented; broken files are one clear error."""

import numpy as np
import pytest
from PIL import Image

from medprune.data.image_files import ImageFiles, scan_images
from medprune.data.images import ImageReading, header_values, read_image
from medprune.errors import ConfigError, DataError
from tests.conftest import write_dicom

RNG = np.random.default_rng(0)
PIXELS = RNG.integers(0, 256, (28, 28), dtype=np.uint8)


@pytest.mark.parametrize("compress", [None, "jpeg2000"])
def test_an_8_bit_dicom_reads_exactly_like_the_same_png(tmp_path, compress):
    Image.fromarray(PIXELS).save(tmp_path / "a.png")
    write_dicom(tmp_path / "a.dcm", PIXELS, compress=compress)
    for size in (28, 16):
        png = read_image(tmp_path / "a.png", ImageReading(), size)
        dcm = read_image(tmp_path / "a.dcm", ImageReading(), size)
        assert png.shape == (1, size, size) and np.array_equal(png, dcm)
    assert np.array_equal(read_image(tmp_path / "a.dcm", ImageReading(), 28)[0], PIXELS)


def test_a_baseline_jpeg_dicom_decodes_close_to_its_source(tmp_path):
    smooth = np.add.outer(np.arange(28), np.arange(28)).astype(np.uint8) * 4
    write_dicom(tmp_path / "j.dcm", smooth, compress="jpeg")
    decoded = read_image(tmp_path / "j.dcm", ImageReading(), 28)[0].astype(int)
    assert np.abs(decoded - smooth).mean() < 3  # lossy, but the same image


def test_rescale_window_and_monochrome1_follow_the_dicom_rules(tmp_path):
    raw = np.linspace(0, 4000, 28 * 28).reshape(28, 28).astype(np.uint16)  # stored values; HU = raw - 1000
    write_dicom(tmp_path / "ct.dcm", raw, RescaleSlope=1, RescaleIntercept=-1000)
    hu = raw.astype(float) - 1000
    windowed = read_image(tmp_path / "ct.dcm", ImageReading(window=(40, 400)), 28)[0]
    expected = np.rint(np.clip((hu - 39.5) / 399 + 0.5, 0, 1) * 255)  # DICOM's linear window
    assert np.array_equal(windowed, expected.astype(np.uint8))
    stretched = read_image(tmp_path / "ct.dcm", ImageReading(), 28)[0]  # no window anywhere: full range
    assert stretched.min() == 0 and stretched.max() == 255
    write_dicom(tmp_path / "own.dcm", raw, RescaleSlope=1, RescaleIntercept=-1000, WindowCenter=40, WindowWidth=400)
    assert np.array_equal(read_image(tmp_path / "own.dcm", ImageReading(), 28)[0], windowed)  # the file's window
    write_dicom(tmp_path / "m1.dcm", PIXELS, PhotometricInterpretation="MONOCHROME1")
    assert np.array_equal(read_image(tmp_path / "m1.dcm", ImageReading(), 28)[0], 255 - PIXELS)


def test_a_16_bit_png_keeps_its_precision_until_normalised(tmp_path):
    deep = (np.arange(28 * 28).reshape(28, 28) * 80).astype(np.uint16)
    Image.fromarray(deep).save(tmp_path / "deep.png")
    out = read_image(tmp_path / "deep.png", ImageReading(), 28)[0]
    assert np.array_equal(out, np.rint(deep / deep.max() * 255).astype(np.uint8))


def test_colour_dicom_and_channel_conversion(tmp_path):
    rgb = RNG.integers(0, 256, (20, 20, 3), dtype=np.uint8)
    write_dicom(tmp_path / "rgb.dcm", rgb)
    assert np.array_equal(read_image(tmp_path / "rgb.dcm", ImageReading(channels=3), 20), rgb.transpose(2, 0, 1))
    grey = read_image(tmp_path / "rgb.dcm", ImageReading(channels=1), 20)
    assert grey.shape == (1, 20, 20)


def test_unreadable_files_are_one_line_errors_or_skipped(tmp_path):
    write_dicom(tmp_path / "ok.dcm", PIXELS)
    (tmp_path / "bad.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"garbage")
    with pytest.raises(DataError, match="bad.dcm"):
        scan_images([tmp_path / "ok.dcm", tmp_path / "bad.dcm"], ImageReading(size=28))
    with pytest.warns(UserWarning, match="skipped 1 unreadable"):
        kept, size, dims = scan_images([tmp_path / "ok.dcm", tmp_path / "bad.dcm"], ImageReading(skip_unreadable=True))
    assert kept.tolist() == [0] and size == 28 and dims == 2
    frames = np.stack([PIXELS, PIXELS])
    write_dicom(tmp_path / "multi.dcm", PIXELS, NumberOfFrames=2)
    from pydicom import dcmread
    ds = dcmread(tmp_path / "multi.dcm")
    ds.PixelData = frames.tobytes()
    ds.save_as(tmp_path / "multi.dcm")
    with pytest.raises(DataError, match="multi-frame DICOM .2 frames.: a 2D model"):
        read_image(tmp_path / "multi.dcm", ImageReading(), 28)
    write_dicom(tmp_path / "jls.dcm", PIXELS)
    ds = dcmread(tmp_path / "jls.dcm")  # claims JPEG-LS, for which no decoder is installed
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEGLSLossless
    ds.file_meta.TransferSyntaxUID = JPEGLSLossless
    ds.PixelData = encapsulate([b"\xff\xd8\xff\xd9"])
    ds["PixelData"].VR = "OB"
    ds.save_as(tmp_path / "jls.dcm")
    with pytest.raises(DataError, match="JPEG-LS Lossless.*cannot be decoded.*install"):
        read_image(tmp_path / "jls.dcm", ImageReading(), 28)


def test_subgroups_come_from_scanner_and_demographic_headers_only(tmp_path):
    files = [write_dicom(tmp_path / f"{i}.dcm", PIXELS, Manufacturer=m, PatientAge=age, PatientID=f"P{i}")
             for i, (m, age) in enumerate([("ACME", "045Y"), ("Globex", "081Y"), ("ACME", "006M")])]
    write_dicom(tmp_path / "none.dcm", PIXELS)
    files.append(tmp_path / "none.dcm")
    assert header_values(files, "Manufacturer").tolist() == ["ACME", "Globex", "ACME", "unknown"]
    assert header_values(files, "PatientAge").tolist() == ["40-59", "80+", "0-17", "unknown"]
    with pytest.raises(ConfigError, match="may not carry identifiers"):
        header_values(files, "PatientID")


def test_mixed_sizes_and_settings_out_of_range(tmp_path):
    write_dicom(tmp_path / "a.dcm", PIXELS)
    Image.fromarray(PIXELS[:20, :20]).save(tmp_path / "b.png")
    with pytest.raises(DataError, match="more than one size .28x28 in a.dcm, 20x20 in b.png"):
        scan_images([tmp_path / "a.dcm", tmp_path / "b.png"], ImageReading())
    Image.fromarray(PIXELS[:20]).save(tmp_path / "c.png")
    with pytest.raises(DataError, match="not square"):
        scan_images([tmp_path / "c.png"], ImageReading())
    with pytest.raises(ConfigError, match="positive width"):
        ImageReading(window=(40, 0))


def test_image_files_read_on_demand_and_the_cache_gives_the_same_arrays(tmp_path):
    files = [write_dicom(tmp_path / f"{i}.dcm", np.roll(PIXELS, i)) for i in range(5)]
    plain = ImageFiles(files, ImageReading(), 28)
    cached = ImageFiles(files, ImageReading(), 28, cache=tmp_path / "cache")
    assert plain.shape == (5, 1, 28, 28) and np.array_equal(plain[[1, 3]], np.stack([plain[1], plain[3]]))
    first = np.asarray(cached)
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 5
    assert np.array_equal(first, np.asarray(plain)) and np.array_equal(np.asarray(cached), first)
    assert np.array_equal(np.asarray(plain.take(np.array([4, 0]))), first[[4, 0]])
    windowed = ImageFiles(files, ImageReading(window=(100, 50)), 28, cache=tmp_path / "cache")
    np.asarray(windowed)  # other reading settings: other cache entries, never the stale ones
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 10


def test_a_file_failing_in_a_reader_worker_is_the_same_one_line_error(tmp_path):
    from pydicom import dcmread

    from medprune.data.batches import read_batches

    files = [write_dicom(tmp_path / f"{i}.dcm", PIXELS) for i in range(4)]
    ds = dcmread(files[2])
    ds.PixelData = ds.PixelData[:100]  # the header is fine, the pixels are cut short
    ds.save_as(files[2])
    images = ImageFiles(files, ImageReading(), 28, workers=1)
    with pytest.raises(DataError, match=r"^\S*2.dcm: pixel data .* cannot be decoded") as caught:
        list(read_batches(images, [np.array([0, 1]), np.array([2, 3])]))
    assert "\n" not in str(caught.value) and "Traceback" not in str(caught.value)


def test_an_rle_compressed_dicom_reads_exactly(tmp_path):
    from pydicom import dcmread
    from pydicom.uid import RLELossless

    write_dicom(tmp_path / "r.dcm", PIXELS)
    ds = dcmread(tmp_path / "r.dcm")
    ds.compress(RLELossless, PIXELS)
    ds.save_as(tmp_path / "r.dcm")
    assert dcmread(tmp_path / "r.dcm").file_meta.TransferSyntaxUID == RLELossless
    assert np.array_equal(read_image(tmp_path / "r.dcm", ImageReading(), 28)[0], PIXELS)


def test_a_float_tiff_with_one_nan_pixel_is_refused_not_read_as_black(tmp_path):
    from PIL import Image

    from medprune.data.images import ImageReading, read_image
    from medprune.errors import DataError

    values = np.linspace(0, 1000, 32 * 32, dtype=np.float32).reshape(32, 32)
    values[5, 7] = np.nan
    path = tmp_path / "scan.tif"
    Image.fromarray(values, mode="F").save(path)
    with pytest.raises(DataError, match="1 NaN or infinite pixel values"):
        read_image(path, ImageReading(None, 1, None, False), 16)
