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
    if name == "cnn3d":
        layers, c = [], 1
        for w in (16, 32):
            layers += [nn.Conv3d(c, w, 3, padding=1), nn.ReLU(), nn.Conv3d(w, w, 3, padding=1),
                       nn.ReLU(), nn.MaxPool3d(2)]
            c = w
        return nn.Sequential(*layers, nn.AdaptiveAvgPool3d(1), nn.Flatten(),
                             nn.Linear(32, num_classes))
    if name == "vgg_small":
        layers, c = [], 3
        for w in (32, 64, 128):
            layers += [nn.Conv2d(c, w, 3, padding=1), nn.ReLU(), nn.Conv2d(w, w, 3, padding=1),
                       nn.ReLU(), nn.MaxPool2d(2)]
            c = w
        return nn.Sequential(*layers, nn.Flatten(), nn.Linear(128 * 4 * 4, 256), nn.ReLU(),
                             nn.Dropout(0.3), nn.Linear(256, num_classes))
    if name == "resnet20":
        return _torch_resnet20(nn, num_classes)
    if name == "unet":
        return _torch_unet(nn, num_classes)
    raise ValueError(name)


def _torch_resnet20(nn, num_classes):
    """jaxconv.models.resnet20 in PyTorch: BN after every conv, option-A shortcuts."""
    F = nn.functional

    class Block(nn.Module):
        def __init__(self, c_in, c_out, stride):
            super().__init__()
            self.c1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
            self.b1 = nn.BatchNorm2d(c_out)
            self.c2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
            self.b2 = nn.BatchNorm2d(c_out)
            self.stride, self.pad = stride, c_out - c_in

        def forward(self, x):
            y = self.b2(self.c2(F.relu(self.b1(self.c1(x)))))
            s = x[:, :, ::self.stride, ::self.stride] if self.stride > 1 else x
            if self.pad:
                s = F.pad(s, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
            return F.relu(y + s)

    layers, c = [nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()], 16
    for stage, w in enumerate((16, 32, 64)):
        for block in range(3):
            layers.append(Block(c, w, 2 if stage and not block else 1))
            c = w
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(64, num_classes))


def _torch_unet(nn, num_classes, widths=(16, 32, 64)):
    """jaxconv.models.unet in PyTorch: conv-BN-ReLU pairs, bilinear up-sampling, skips."""
    import torch

    def block(c_in, c_out):
        return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                             nn.BatchNorm2d(c_out), nn.ReLU(),
                             nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
                             nn.BatchNorm2d(c_out), nn.ReLU())

    class Level(nn.Module):
        def __init__(self, c_in, i):
            super().__init__()
            self.enc = block(c_in, widths[i])
            self.inner = Level(widths[i], i + 1) if i + 1 < len(widths) else None
            if self.inner is not None:
                self.up = nn.Conv2d(widths[i + 1], widths[i], 1)
                self.dec = block(2 * widths[i], widths[i])

        def forward(self, x):
            x = self.enc(x)
            if self.inner is None:
                return x
            u = self.inner(nn.functional.max_pool2d(x, 2))
            u = self.up(nn.functional.interpolate(u, scale_factor=2, mode="bilinear"))
            return self.dec(torch.cat([x, u], 1))

    return nn.Sequential(Level(1, 0), nn.Conv2d(widths[0], num_classes, 1),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten())


def torch_version() -> str | None:
    """The installed PyTorch version, found without importing it: importing torch into this
    process slows JAX here by a third (its thread pools), so only child processes import it."""
    import importlib.metadata
    import importlib.util
    if importlib.util.find_spec("torch") is None:
        return None
    return importlib.metadata.version("torch")
