"""Convert a RAP checkpoint from the ORIGINAL LLaVA code layout (`llava_llama`: RAP-LLaVA-13b,
`llava_phi`: RAP-Phi3-mini) into transformers' Llava format, loadable by RapLlavaGenerator.

Original layout: LM weights at `model.layers.*`, `model.embed_tokens`, `model.norm`, `lm_head`; the
projector at `model.mm_projector.0/2`; the CLIP tower optionally at
`model.vision_tower.vision_tower.vision_model.*` (RAP ships without it: it comes from
openai/clip-vit-large-patch14-336); a config.json with `mm_*` fields.

Tensors are streamed shard by shard (never the whole model in memory), keep their dtype, and are
written as safetensors shards with an index; the `<image>` token (and a pad token when the
tokenizer has none) are added, with new embedding rows set to the mean of the existing ones."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from model.settings import ModelSettings
from model.weights import WeightsMissing, resolve_checkpoint

log = logging.getLogger(__name__)

IMAGE_TOKEN = "<image>"
PAD_TOKEN = "<pad>"
DEFAULT_VISION_TOWER = "openai/clip-vit-large-patch14-336"
MAX_SHARD_BYTES = 4 * 1024**3

# CLIP ViT-L/14 at 336 px, what every LLaVA-1.5 and so every RAP model uses.
CLIP_L_336: dict[str, Any] = {
    "hidden_size": 1024,
    "intermediate_size": 4096,
    "num_hidden_layers": 24,
    "num_attention_heads": 16,
    "image_size": 336,
    "patch_size": 14,
    "projection_dim": 768,
    "hidden_act": "quick_gelu",
}
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]

_ORIGINAL_VISION = "model.vision_tower.vision_tower.vision_model."
_PROJECTOR = {
    "model.mm_projector.0.": "multi_modal_projector.linear_1.",
    "model.mm_projector.2.": "multi_modal_projector.linear_2.",
}
_EMBED_KEYS = ("model.embed_tokens.weight", "lm_head.weight")


class ConversionError(ValueError):
    """The source is not a checkpoint this converter understands; the message says why."""


def is_original_llava(config: dict[str, Any]) -> bool:
    """True for a config.json of the original LLaVA code (mm_* fields, no nested text_config)."""
    return "text_config" not in config and any(key.startswith("mm_") for key in config)


# ---- reading ---------------------------------------------------------------------------------


def _safetensors_files(directory: Path) -> list[Path]:
    index = directory / "model.safetensors.index.json"
    if index.is_file():
        weight_map: dict[str, str] = json.loads(index.read_text())["weight_map"]
        return [directory / name for name in sorted(set(weight_map.values()))]
    return sorted(directory.glob("*.safetensors"))


def _iter_tensors(files: list[Path]) -> Iterator[tuple[str, Any]]:
    from safetensors import safe_open

    for file in files:
        with safe_open(str(file), framework="pt") as handle:
            for key in handle.keys():  # noqa: SIM118 - safe_open is not a mapping
                yield key, handle.get_tensor(key)


def _vision_tensors(directory: Path) -> Iterator[tuple[str, Any]]:
    """CLIP vision weights (keys without the `vision_model.` prefix) from a CLIPModel or
    CLIPVisionModel checkpoint: safetensors, or the .bin the OpenAI repo ships."""
    files = _safetensors_files(directory)
    if files:
        tensors: Iterator[tuple[str, Any]] = _iter_tensors(files)
    else:
        import torch

        bins = sorted(directory.glob("pytorch_model*.bin"))
        if not bins:
            raise ConversionError(f"No CLIP weights (*.safetensors or pytorch_model.bin) in {directory}.")
        tensors = (item for b in bins for item in torch.load(b, map_location="cpu", weights_only=True).items())
    for key, tensor in tensors:
        if key.startswith("vision_model."):
            yield key[len("vision_model.") :], tensor
        elif not key.startswith(("text_model.", "visual_projection", "text_projection", "logit_scale")):
            yield key, tensor


def _language_type(config: dict[str, Any], files: list[Path]) -> str:
    """'llama' or 'phi3' (the LM under the LLaVA wrapper)."""
    model_type = str(config.get("model_type", ""))
    architectures = " ".join(config.get("architectures") or []).lower()
    if "phi" in model_type or "phi" in architectures:
        return "phi3"
    if model_type in ("llava", "llava_llama") or "llama" in architectures:
        return "llama"
    from safetensors import safe_open

    with safe_open(str(files[0]), framework="pt") as handle:
        if any("qkv_proj" in key for key in handle.keys()):  # noqa: SIM118
            return "phi3"
    return "llama"


# ---- configs -------------------------------------------------------------------------------------


def _text_config(config: dict[str, Any], language: str, vocab_size: int, pad_token_id: int | None) -> Any:
    from transformers import CONFIG_MAPPING

    config_class = CONFIG_MAPPING[language]
    known = set(config_class().to_dict())
    fields = {
        k: v
        for k, v in config.items()
        if k in known and k not in ("model_type", "architectures", "transformers_version")
    }
    fields.update(vocab_size=vocab_size, pad_token_id=pad_token_id)
    return config_class(**fields)


def _vision_config(vision_dir: Path | None) -> Any:
    from transformers import CLIPVisionConfig

    if vision_dir is not None and (vision_dir / "config.json").is_file():
        return CLIPVisionConfig.from_pretrained(str(vision_dir))
    return CLIPVisionConfig(**CLIP_L_336)


def _image_processor(vision_dir: Path | None, image_size: int) -> Any:
    from transformers import CLIPImageProcessor

    if vision_dir is not None and (vision_dir / "preprocessor_config.json").is_file():
        return CLIPImageProcessor.from_pretrained(str(vision_dir))
    return CLIPImageProcessor(
        size={"shortest_edge": image_size},
        crop_size={"height": image_size, "width": image_size},
        image_mean=CLIP_MEAN,
        image_std=CLIP_STD,
    )


def _tokenizer_with_image_token(src: Path) -> Any:
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(src))
    except (OSError, ValueError, ImportError) as error:
        # LLaVA-1.5 checkpoints ship only a SentencePiece tokenizer.model.
        raise ConversionError(
            f"Could not load the tokenizer in {src} ({error}). A tokenizer.model needs the `sentencepiece` package."
        ) from error
    if IMAGE_TOKEN not in tokenizer.get_vocab():
        tokenizer.add_tokens([IMAGE_TOKEN], special_tokens=True)
    if tokenizer.pad_token is None:
        tokenizer.add_special_tokens({"pad_token": PAD_TOKEN})
    return tokenizer


# ---- writing -------------------------------------------------------------------------------------


class _ShardWriter:
    """Write tensors into safetensors shards of at most MAX_SHARD_BYTES, then the index."""

    def __init__(self, directory: Path, max_bytes: int = MAX_SHARD_BYTES) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.current: dict[str, Any] = {}
        self.current_bytes = 0
        self.shards: list[dict[str, Any]] = []
        self.total = 0

    def add(self, key: str, tensor: Any) -> None:
        size = tensor.numel() * tensor.element_size()
        if self.current and self.current_bytes + size > self.max_bytes:
            self._flush()
        self.current[key] = tensor.contiguous()
        self.current_bytes += size
        self.total += size

    def _flush(self) -> None:
        self.shards.append(self.current)
        from safetensors.torch import save_file

        save_file(
            self.current, str(self.directory / f"part-{len(self.shards):05d}.safetensors"), metadata={"format": "pt"}
        )
        self.current, self.current_bytes = {}, 0

    def close(self) -> None:
        if self.current:
            self._flush()
        count = len(self.shards)
        weight_map: dict[str, str] = {}
        for number, shard in enumerate(self.shards, start=1):
            name = f"model-{number:05d}-of-{count:05d}.safetensors"
            (self.directory / f"part-{number:05d}.safetensors").rename(self.directory / name)
            weight_map.update(dict.fromkeys(shard, name))
        index = {"metadata": {"total_size": self.total}, "weight_map": weight_map}
        (self.directory / "model.safetensors.index.json").write_text(json.dumps(index, indent=2, sort_keys=True))


def _grow_rows(tensor: Any, rows: int) -> Any:
    """`tensor` with rows appended up to `rows`, each the mean of the existing ones (LLaVA's choice)."""
    import torch

    missing = rows - tensor.shape[0]
    if missing <= 0:
        return tensor
    mean = tensor.float().mean(dim=0, keepdim=True).to(tensor.dtype)
    return torch.cat([tensor, mean.expand(missing, -1)], dim=0)


def _rename(key: str) -> str | None:
    """The Llava-format key of an original-layout LM/projector key (None for vision keys)."""
    if key.startswith(_ORIGINAL_VISION):
        return None
    for old, new in _PROJECTOR.items():
        if key.startswith(old):
            return new + key[len(old) :]
    if key == "lm_head.weight":
        return "language_model.lm_head.weight"
    if key.startswith("model."):
        return "language_model." + key
    raise ConversionError(f"Unexpected weight {key!r}: not an original LLaVA-layout checkpoint.")


# ---- the conversion ------------------------------------------------------------------------------


def convert_rap(
    src: Path | str,
    dst: Path | str,
    vision_tower: str | None = None,
    *,
    settings: ModelSettings | None = None,
) -> Path:
    """Convert `src` (a dir or hub id; original LLaVA layout, safetensors) into `dst` (transformers'
    Llava format).
    `vision_tower` is a CLIP checkpoint dir or hub id (default: the config's mm_vision_tower); it is
    only read when `src` does not carry the tower's weights itself. Returns `dst`."""
    from transformers import LlavaConfig, LlavaProcessor

    src, dst = _resolve_source(str(src), settings), Path(dst)
    config_file = src / "config.json"
    if not config_file.is_file():
        raise ConversionError(f"{src} has no config.json: not a checkpoint directory.")
    config = json.loads(config_file.read_text())
    if not is_original_llava(config):
        raise ConversionError(f"{src} is not in the original LLaVA layout (no mm_* fields in config.json).")
    if config.get("mm_projector_type", "mlp2x_gelu") != "mlp2x_gelu":
        raise ConversionError(f"Projector {config['mm_projector_type']!r} is not supported (only mlp2x_gelu).")
    files = _safetensors_files(src)
    if not files:
        raise ConversionError(f"No *.safetensors in {src} (convert .bin checkpoints to safetensors first).")

    language = _language_type(config, files)
    tokenizer = _tokenizer_with_image_token(src)
    has_vision = _has_vision_weights(files)
    vision_dir = _resolve_vision_tower(
        vision_tower or config.get("mm_vision_tower") or DEFAULT_VISION_TOWER, settings, required=not has_vision
    )
    vision_config = _vision_config(vision_dir)
    patch_grid = vision_config.image_size // vision_config.patch_size

    dst.mkdir(parents=True, exist_ok=True)
    writer = _ShardWriter(dst)
    rows = len(tokenizer)
    dtype = None
    for key, tensor in _iter_tensors(files):
        dtype = dtype or tensor.dtype
        if key.startswith(_ORIGINAL_VISION):
            writer.add("vision_tower." + key[len(_ORIGINAL_VISION) :], tensor)
            continue
        new_key = _rename(key)
        if new_key is None:
            continue
        if key in _EMBED_KEYS:
            rows = max(rows, tensor.shape[0])
            tensor = _grow_rows(tensor, len(tokenizer))
        writer.add(new_key, tensor)
    if not has_vision:
        assert vision_dir is not None  # required above
        for key, tensor in _vision_tensors(vision_dir):
            writer.add("vision_tower." + key, tensor.to(dtype) if dtype is not None else tensor)
    writer.close()

    select = config.get("mm_vision_select_feature", "patch")
    llava_config = LlavaConfig(
        vision_config=vision_config,
        text_config=_text_config(config, language, rows, tokenizer.pad_token_id),
        image_token_index=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
        projector_hidden_act="gelu",
        vision_feature_layer=int(config.get("mm_vision_select_layer", -2)),
        vision_feature_select_strategy="default" if select == "patch" else "full",
        image_seq_length=patch_grid**2,
        multimodal_projector_bias=True,
    )
    if dtype is not None:
        llava_config.dtype = str(dtype).removeprefix("torch.")
    llava_config.save_pretrained(str(dst))
    processor = LlavaProcessor(
        image_processor=_image_processor(vision_dir, vision_config.image_size),
        tokenizer=tokenizer,
        patch_size=vision_config.patch_size,
        vision_feature_select_strategy=llava_config.vision_feature_select_strategy,
        num_additional_image_tokens=1,
        image_token=IMAGE_TOKEN,
    )
    processor.save_pretrained(str(dst))
    (dst / "rapbot_converted.json").write_text(json.dumps({"source": str(src), "language_model": language}))
    log.info("converted %s (%s) to %s", src, language, dst)
    return dst


def _resolve_source(src: str, settings: ModelSettings | None) -> Path:
    """A local dir as is; a hub id (e.g. Hoar012/RAP-Phi3-mini) through the model dir / hub."""
    as_path = Path(src).expanduser()
    if as_path.exists() or src.startswith(("/", ".", "~")) or src.count("/") != 1:
        return as_path
    return resolve_checkpoint(src, settings or ModelSettings())


def _has_vision_weights(files: list[Path]) -> bool:
    from safetensors import safe_open

    for file in files:
        with safe_open(str(file), framework="pt") as handle:
            if any(key.startswith(_ORIGINAL_VISION) for key in handle.keys()):  # noqa: SIM118
                return True
    return False


def _resolve_vision_tower(ref: str, settings: ModelSettings | None, *, required: bool) -> Path | None:
    """The CLIP checkpoint dir: `ref` when it is a dir, else the model dir / hub. When the source
    carries the tower's weights, a missing CLIP dir only means default CLIP-L/336 configs."""
    as_path = Path(ref).expanduser()
    if as_path.is_dir():
        return as_path
    try:
        return resolve_checkpoint(ref, settings or ModelSettings())
    except WeightsMissing:
        if required:
            raise
        return None
