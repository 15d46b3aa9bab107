"""Data: datasets, the DataLoader, the spirals generator, the shipped digits, file readers."""

from .dataset import Split, TensorDataset, split_dataset
from .digits import digits
from .loader import DataLoader
from .readers import DataFileError, cifar10, mnist, read_idx
from .spirals import spirals

__all__ = [
    "DataFileError",
    "DataLoader",
    "Split",
    "TensorDataset",
    "cifar10",
    "digits",
    "mnist",
    "read_idx",
    "spirals",
    "split_dataset",
]
