"""gluon.data (MXNet 1.x): datasets, samplers and the DataLoader."""
from .dataset import Dataset, SimpleDataset, ArrayDataset  # noqa: F401
from .sampler import Sampler, SequentialSampler, RandomSampler, BatchSampler, IntervalSampler  # noqa: F401
from .dataloader import DataLoader, default_batchify_fn  # noqa: F401
from . import vision  # noqa: F401
