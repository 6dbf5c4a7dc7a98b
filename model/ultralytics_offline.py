"""Importing ultralytics so that it never reaches the network at run time and leaves torch every
CPU core. Its own module: the detector, the tiny builds and weight pulls all need it."""

from __future__ import annotations

import os
from types import ModuleType


def import_ultralytics_offline() -> ModuleType:
    """Import ultralytics so that it never reaches the network at run time (fonts, pip installs,
    analytics, update checks). Weights are fetched only by `rapbot models pull`."""
    # ultralytics reads these once, at import.
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "0"
    threads_chosen = "OMP_NUM_THREADS" in os.environ
    import ultralytics
    import ultralytics.utils as yolo_utils
    from ultralytics.utils import checks, events

    if not threads_chosen:
        # ultralytics sets OMP_NUM_THREADS=1 at import (for its training loop): that would run every
        # network of this process, CLIP and the generator too, on one core. Nobody asked for that.
        os.environ.pop("OMP_NUM_THREADS", None)
        keep_all_cores()

    # When something imported ultralytics before us, its module-level flags are already set.
    for module in (yolo_utils, checks, events):
        if getattr(module, "ONLINE", False):
            module.ONLINE = False  # type: ignore[attr-defined]
    checks.AUTOINSTALL = False  # type: ignore[attr-defined]
    return ultralytics


def keep_all_cores() -> None:
    """Undo ultralytics' CPU thread cap (its predictor setup calls torch.set_num_threads(cores - 1),
    and its import sets OMP_NUM_THREADS=1) unless the user set OMP_NUM_THREADS themselves."""
    if "OMP_NUM_THREADS" in os.environ:
        return
    import torch

    cores = os.cpu_count() or 1
    if torch.get_num_threads() != cores:
        torch.set_num_threads(cores)
