"""Facts about the official MedMNIST v2 datasets, 2D and 3D (Zenodo record 10519652, medmnist 3.x info)."""

from __future__ import annotations

from dataclasses import dataclass

ZENODO_RECORD = "10519652"
SIZES = (28, 64, 128, 224)
SIZES_3D = (28, 64)


@dataclass(frozen=True)
class MedMNISTInfo:
    flag: str
    task: str  # as MedMNIST names it
    class_names: tuple[str, ...]
    n_channels: int
    md5: dict[int, tuple[str, ...]]  # image size -> accepted md5 values
    volumes: bool = False  # (N, D, H, W) volumes instead of 2D images


def _info(flag, task, classes, channels, md5_28, md5_64, md5_128, md5_224, extra_28=()):
    md5 = {28: (md5_28, *extra_28), 64: (md5_64,), 128: (md5_128,), 224: (md5_224,)}
    return MedMNISTInfo(flag, task, tuple(classes), channels, md5)


_ORGANS = ("bladder", "femur-left", "femur-right", "heart", "kidney-left", "kidney-right", "liver",
           "lung-left", "lung-right", "pancreas", "spleen")

MEDMNIST_2D: dict[str, MedMNISTInfo] = {i.flag: i for i in (
    _info("pathmnist", "multi-class",
          ("adipose", "background", "debris", "lymphocytes", "mucus", "smooth muscle",
           "normal colon mucosa", "cancer-associated stroma", "colorectal adenocarcinoma epithelium"),
          3, "a8b06965200029087d5bd730944a56c1", "55aa9c1e0525abe5a6b9d8343a507616",
          "ac42d08fb904d92c244187169d1fd1d9", "2c51a510bcdc9cf8ddb2af93af1eadec"),
    _info("chestmnist", "multi-label, binary-class",
          ("atelectasis", "cardiomegaly", "effusion", "infiltration", "mass", "nodule", "pneumonia",
           "pneumothorax", "consolidation", "edema", "emphysema", "fibrosis", "pleural", "hernia"),
          1, "02c8a6516a18b556561a56cbdd36c4a8", "9de6cd0b934ebb5b7426cfba5efbae16",
          "db107e5590b27930b62dbaf558aebee3", "45bd33e6f06c3e8cdb481c74a89152aa"),
    _info("dermamnist", "multi-class",
          ("actinic keratoses and intraepithelial carcinoma", "basal cell carcinoma",
           "benign keratosis-like lesions", "dermatofibroma", "melanoma", "melanocytic nevi",
           "vascular lesions"),
          3, "0744692d530f8e62ec473284d019b0c7", "b70a2f5635c6199aeaa28c31d7202e1f",
          "2defd784463fa5243564e855ed717de1", "8974907d8e169bef5f5b96bc506ae45d"),
    _info("octmnist", "multi-class",
          ("choroidal neovascularization", "diabetic macular edema", "drusen", "normal"),
          1, "c68d92d5b585d8d81f7112f81e2d0842", "e229e9440236b774d9f0dfef9d07bdaf",
          "0a97e76651ace45c5d943ee3f65b63ae", "abc493b6d529d5de7569faaef2773ba3"),
    # The shared copy of pneumoniamnist.npz holds the official images in another training order.
    _info("pneumoniamnist", "binary-class", ("normal", "pneumonia"),
          1, "28209eda62fecd6e6a2d98b1501bb15f", "8f4eceb4ccffa70c672198ea285246c6",
          "05b46931834c231683c68f40c47b2971", "d6a3c71de1b945ea11211b03746c1fe1",
          extra_28=("238a40f8f78b9a61dfdd21e86aac35f9",)),
    _info("retinamnist", "ordinal-regression", ("0", "1", "2", "3", "4"),
          3, "bd4c0672f1bba3e3a89f0e4e876791e4", "afda852cc34dcda56f86ad2b2457dbcc",
          "e48e916a24454daf90583d4e6efb1a18", "eae7e3b6f3fcbda4ae613ebdcbe35348"),
    _info("breastmnist", "binary-class", ("malignant", "normal, benign"),
          1, "750601b1f35ba3300ea97c75c52ff8f6", "742edef2a1fd1524b2efff4bd7ba9364",
          "363e4b3f8d712e9b5de15470a2aaadf1", "b56378a6eefa9fed602bb16d192d4c8b"),
    _info("bloodmnist", "multi-class",
          ("basophil", "eosinophil", "erythroblast", "immature granulocytes", "lymphocyte",
           "monocyte", "neutrophil", "platelet"),
          3, "7053d0359d879ad8a5505303e11de1dc", "2b94928a2ae4916078ca51e05b6b800b",
          "adace1e0ed228fccda1f39692059dd4c", "b718ff6835fcbdb22ba9eacccd7b2601"),
    _info("tissuemnist", "multi-class",
          ("Collecting Duct, Connecting Tubule", "Distal Convoluted Tubule",
           "Glomerular endothelial cells", "Interstitial endothelial cells", "Leukocytes",
           "Podocytes", "Proximal Tubule Segments", "Thick Ascending Limb"),
          1, "ebe78ee8b05294063de985d821c1c34b", "123ece2eba09d0aa5d698fda57103344",
          "61b955355d7425a89687b06cca3ce0c2", "b077128c4a949f0a4eb01517f9037b9c"),
    _info("organamnist", "multi-class", _ORGANS,
          1, "68e3f8846a6bd62f0c9bf841c0d9eacc", "2dcccc29b88e6da5a01161ef20cda288",
          "eeae80d0a227a8d099027e1b3cfd3b60", "50747347e05c87dd3aaf92c49f9f3170"),
    _info("organcmnist", "multi-class", _ORGANS,
          1, "b9ceb9546e10131b32923c5bbeaea2b1", "3ce34a8724ea6f548e6db4744d03b6a9",
          "773c1f009daa3fe5d9a2a201b2a7ed94", "050f5e875dc056f6768abf94ec9995d1"),
    _info("organsmnist", "multi-class", _ORGANS,
          1, "9ab87b696fb54e2a387ebe992d6ed5f1", "53a6d115339d874c25e309a994ff46d3",
          "ded0c5fa01a95dc4978b956f613e9b8e", "b354719e553fbbb2513d5533f52a4cb1"),
)}



def _info_3d(flag, task, classes, md5_28, md5_64):
    return MedMNISTInfo(flag, task, tuple(classes), 1, {28: (md5_28,), 64: (md5_64,)}, volumes=True)


MEDMNIST_3D: dict[str, MedMNISTInfo] = {i.flag: i for i in (
    _info_3d("organmnist3d", "multi-class",
             ("liver", "kidney-right", "kidney-left", "femur-right", "femur-left", "bladder", "heart", "lung-right",
              "lung-left", "spleen", "pancreas"),
             "a0c5a1ff56af4f155c46d46fbb45a2fe", "58a2205adf14a9d0a189cb06dc78bf10"),
    _info_3d("nodulemnist3d", "binary-class", ("benign", "malignant"),
             "8755a7e9e05a4d9ce80a24c3e7a256f3", "c47c5b7d457bf6332200d2ea6d64ecd8"),
    _info_3d("adrenalmnist3d", "binary-class", ("normal", "hyperplasia"),
             "bbd3c5a5576322bc4cdfea780653b1ce", "17721accfe9fb005146a47d33bc54b2f"),
    _info_3d("fracturemnist3d", "multi-class",
             ("buckle rib fracture", "nondisplaced rib fracture", "displaced rib fracture"),
             "6aa7b0143a6b42da40027a9dda61302f", "f01d7e6316aedf4210da0da5b7437b42"),
    _info_3d("vesselmnist3d", "binary-class", ("vessel", "aneurysm"),
             "b41fd4f7e7e2feedddb201585ecafa1b", "6bb274a8846e1097066dcd64e2c4520f"),
    _info_3d("synapsemnist3d", "binary-class", ("inhibitory synapse", "excitatory synapse"),
             "1235b78a3cd6280881dd7850a78eadb6", "43bd14ebf3af9d3dd072446fedc14d5e"),
)}
MEDMNIST: dict[str, MedMNISTInfo] = {**MEDMNIST_2D, **MEDMNIST_3D}


def identify_official(md5: str) -> tuple[str, int] | None:
    """(flag, size) of the official MedMNIST file with this md5, or None: a file read by path keeps its dataset's
    class names and positive class."""
    for flag, info in MEDMNIST.items():
        for size, accepted in info.md5.items():
            if md5 in accepted:
                return flag, size
    return None


def file_name(flag: str, size: int) -> str:
    return f"{flag}.npz" if size == 28 else f"{flag}_{size}.npz"


def official_url(flag: str, size: int) -> str:
    return f"https://zenodo.org/records/{ZENODO_RECORD}/files/{file_name(flag, size)}?download=1"
