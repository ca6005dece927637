"""Reproducibility machinery for srlab.train: which samples form each batch, the seed of each
sample's random crop and flip, and the RNG states a checkpoint keeps.

A training run is a function of its config: batches and sample seeds depend on (seed, step) alone
(`SeededBatches`, `SeededSamples`), so they are the same for any number of DataLoader workers or
processes and after a resume; what else draws random numbers (dropout, noise in the model) reads
the global generators, whose states `rng_state` records for the checkpoint."""

from __future__ import annotations

import random
from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset


def seed_all(seed: int) -> None:
    """Seed python's, numpy's and torch's global generators with `seed`."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def seeded_loader(
    train_set: Dataset,
    *,
    batch_size: int,
    seed: int,
    start: int,
    stop: int,
    rank: int = 0,
    world_size: int = 1,
    num_workers: int = 0,
) -> DataLoader:
    """A DataLoader over the batches of iterations [start, stop) (`SeededBatches`), each sample read
    under its own seed (`SeededSamples`); this process's share of each batch."""
    batches = SeededBatches(len(train_set), batch_size, seed, start, stop, rank, world_size)
    # The loader's own generator: making its iterator then draws no number from the global RNG,
    # which the checkpoint restores for the model's own randomness (dropout, noise).
    return DataLoader(
        SeededSamples(train_set),
        batch_sampler=batches,
        num_workers=num_workers,
        generator=torch.Generator().manual_seed(seed),
    )


class SeededBatches:
    """The batches of iterations [start, stop), as a DataLoader batch_sampler.

    Sample number p = step * batch_size + j (j < batch_size) is entry p % n of epoch p // n. Each
    epoch is a fresh permutation of the n dataset indices (every sample once per epoch; a batch may
    straddle two epochs), drawn with a torch.Generator seeded from (seed, epoch), together with one
    seed per sample for its random crop and flip. So a batch is a function of (seed, step) alone:
    nothing to save in a checkpoint, and the same for any number of workers or processes.
    Process `rank` of `world_size` takes its contiguous share of each batch: items are
    (dataset index, sample seed) pairs for `SeededSamples`."""

    def __init__(
        self, n: int, batch_size: int, seed: int, start: int, stop: int, rank=0, world_size=1
    ):
        if n <= 0:
            raise ValueError("the training set is empty")
        if batch_size % world_size:
            raise ValueError(
                f"batch_size={batch_size} (the total batch) must be divisible by the number of "
                f"processes, {world_size}"
            )
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.start, self.stop = start, stop
        self.per_rank = batch_size // world_size
        self.rank = rank
        self._epochs: dict[int, tuple[Tensor, Tensor]] = {}  # the epochs the current batch needs

    def epoch(self, epoch: int) -> tuple[Tensor, Tensor]:
        """(permutation of range(n), n sample seeds) of one epoch."""
        if epoch not in self._epochs:
            # SeedSequence mixes (seed, epoch) into one well-spread 64-bit number, so runs with
            # seeds 0 and 1 share no epoch (seed + epoch would make them shifted copies).
            mixed = np.random.SeedSequence([self.seed, epoch]).generate_state(1, np.uint64)[0]
            g = torch.Generator().manual_seed(int(mixed))
            self._epochs = {e: v for e, v in self._epochs.items() if e >= epoch - 1}
            self._epochs[epoch] = (
                torch.randperm(self.n, generator=g),
                torch.randint(0, 2**31, (self.n,), generator=g),
            )
        return self._epochs[epoch]

    def global_batch(self, step: int) -> list[tuple[int, int]]:
        """The (dataset index, sample seed) pairs of step `step`, over all processes."""
        batch = []
        for p in range(step * self.batch_size, (step + 1) * self.batch_size):
            order, seeds = self.epoch(p // self.n)
            batch.append((int(order[p % self.n]), int(seeds[p % self.n])))
        return batch

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        lo = self.rank * self.per_rank
        for step in range(self.start, self.stop):
            yield self.global_batch(step)[lo : lo + self.per_rank]

    def __len__(self) -> int:
        return self.stop - self.start


class SeededSamples(Dataset):
    """dataset[index], read after seeding python, numpy and torch with the sample's own seed, so
    its random crop and flip depend on that seed only, not on the worker or process that reads it.
    Keys are (index, seed) pairs, as `SeededBatches` yields them. The three generators are put
    back afterwards: with num_workers=0 they are the training loop's own."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]):
        index, seed = key
        py_state, np_state = random.getstate(), np.random.get_state()
        with torch.random.fork_rng(devices=[]):  # restores the CPU generator, the one seeded
            random.seed(seed)
            np.random.seed(seed)
            torch.default_generator.manual_seed(seed)
            try:
                return self.dataset[index]
            finally:
                random.setstate(py_state)
                np.random.set_state(np_state)


def rng_state() -> dict:
    """python, numpy and torch RNG states as tensors and numbers (torch.load(weights_only=True))."""
    _, py_words, py_gauss = random.getstate()  # (version 3, 625 ints, cached gaussian or None)
    _, np_words, np_pos, np_has_gauss, np_gauss = np.random.get_state()  # MT19937: 624 words
    return {
        "python": torch.tensor(py_words, dtype=torch.int64),
        "python_gauss": py_gauss,
        "numpy": torch.from_numpy(np_words.astype(np.int64)),
        "numpy_pos": int(np_pos),
        "numpy_gauss": (int(np_has_gauss), float(np_gauss)),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict) -> None:
    """Put back the generators rng_state() recorded."""
    random.setstate((3, tuple(state["python"].tolist()), state["python_gauss"]))
    has_gauss, gauss = state["numpy_gauss"]
    np_words = state["numpy"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", np_words, state["numpy_pos"], has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if state["cuda"]:
        torch.cuda.set_rng_state_all(state["cuda"])
