"""Datasets: MedMNIST files (found, downloaded, verified), CSV tables, splits and subgroup columns."""

from medprune.data.dataset import SPLITS, Dataset, Split
from medprune.data.fetch import cache_dir, locate_medmnist
from medprune.data.load import DATASETS, load_data, parse_dataset_name
from medprune.data.medmnist import load_medmnist_npz
from medprune.data.options import DataOptions
from medprune.data.table import load_table

__all__ = ["DATASETS", "SPLITS", "DataOptions", "Dataset", "Split", "cache_dir", "load_data", "load_medmnist_npz",
           "load_table", "locate_medmnist", "parse_dataset_name"]
