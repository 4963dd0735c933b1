"""What every benchmark prints first: the device and the versions it ran with."""

from __future__ import annotations

import os
import platform

import torch


def describe_device(device: str = "cpu") -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
    else:
        name = platform.processor() or platform.machine()
        try:
            with open("/proc/cpuinfo") as f:
                for line in f:
                    if line.startswith("model name"):
                        name = line.split(":", 1)[1].strip()
                        break
        except OSError:
            pass
        name = f"CPU {name}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}"
    return name


def header(title: str, device: str = "cpu") -> str:
    import numpy

    lines = [
        f"# {title}",
        f"device: {describe_device(device)}",
        f"python {platform.python_version()}, torch {torch.__version__}, numpy {numpy.__version__}",
    ]
    try:
        import optuna
        import thop  # noqa: F401

        lines.append(f"optuna {optuna.__version__}, thop installed")
    except ImportError:
        pass
    return "\n".join(lines)
