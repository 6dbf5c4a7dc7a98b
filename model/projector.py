"""The Llava projector's weights saved beside a LoRA adapter (`mm_projector.safetensors`): training
writes them (RAP trains the projector fully), the generator loads them with the adapter, and a
resumed training run restores them. One format, written once here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

PROJECTOR_FILE = "mm_projector.safetensors"
PROJECTOR_MODULE = "multi_modal_projector"


def find_projector(model: Any) -> Any | None:
    """The model's multi_modal_projector module (inside a peft wrapper too), or None."""
    return next((m for name, m in model.named_modules() if name.endswith(PROJECTOR_MODULE)), None)


def save_projector(model: Any, directory: Path) -> Path:
    """Write the projector's state dict (on the CPU, keys relative to the projector) into `directory`."""
    from safetensors.torch import save_file

    projector = _projector(model, Path(directory) / PROJECTOR_FILE)
    state = {k: v.detach().to("cpu").contiguous() for k, v in projector.state_dict().items()}
    path = Path(directory) / PROJECTOR_FILE
    save_file(state, str(path))
    return path


def load_projector(model: Any, path: Path) -> None:
    """Load a saved projector into `model`, in the projector's dtype. Keys may carry the module path
    ("model.multi_modal_projector.linear_1.weight"). ValueError when it does not fit the model."""
    from safetensors.torch import load_file

    projector = _projector(model, path)
    dtype = next(projector.parameters()).dtype
    state = {key.rsplit(f"{PROJECTOR_MODULE}.", 1)[-1]: value.to(dtype) for key, value in load_file(str(path)).items()}
    try:
        projector.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise ValueError(f"The projector in {path} does not fit this model: {error}") from error


def _projector(model: Any, path: Path) -> Any:
    projector = find_projector(model)
    if projector is None:
        raise ValueError(f"{path}: this model has no {PROJECTOR_MODULE} (a Llava-family model has one).")
    return projector
