"""The PyTorch baselines: the same models in ``torch.nn``, and PyTorch itself, optional.

PyTorch is imported only where a baseline runs (a child process of ``jaxconv bench``): importing
it into the process that times JAX slows JAX here by a third (its thread pools).
"""

from __future__ import annotations

import os

_TORCH = []


def torch_or_none():
    """PyTorch if importable (optional), set to the thread count JAX uses; else None."""
    if not _TORCH:
        try:
            import torch
            torch.set_num_threads(os.cpu_count() or 1)
            _TORCH.append(torch)
        except ImportError:
            _TORCH.append(None)
    return _TORCH[0]


def torch_model(name, num_classes=10):
    torch = torch_or_none()
    nn = torch.nn
    if name == "lenet5":
        return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                             nn.Linear(84, num_classes))
    if name == "cnn1d":
        return nn.Sequential(nn.Conv1d(1, 25, 5, 2, 1), nn.ReLU(), nn.Conv1d(25, 25, 3, 2, 1),
                             nn.ReLU(), nn.Conv1d(25, 25, 3, 2, 1), nn.ReLU(), nn.Flatten(),
                             nn.Linear(125, num_classes))
    if name == "vgg_small":
        layers, c = [], 3
        for w in (32, 64, 128):
            layers += [nn.Conv2d(c, w, 3, padding=1), nn.ReLU(), nn.Conv2d(w, w, 3, padding=1),
                       nn.ReLU(), nn.MaxPool2d(2)]
            c = w
        return nn.Sequential(*layers, nn.Flatten(), nn.Linear(128 * 4 * 4, 256), nn.ReLU(),
                             nn.Dropout(0.3), nn.Linear(256, num_classes))
    raise ValueError(name)


def torch_version() -> str | None:
    """The installed PyTorch version, found without importing it: importing torch into this
    process slows JAX here by a third (its thread pools), so only child processes import it."""
    import importlib.metadata
    import importlib.util
    if importlib.util.find_spec("torch") is None:
        return None
    return importlib.metadata.version("torch")
