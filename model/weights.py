"""Where each network's weights come from: a local directory first (RAPBOT_MODEL_DIR), then the hub.

Layout inside the model dir: `hf/` is a Hugging Face hub cache (open_clip and transformers
checkpoints), `ultralytics/` holds YOLO-World `.pt` files. `pull` fills both; `check` reports,
offline, what is present."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from model.settings import ModelSettings
from model.specs import network_specs
from model.tiny import RANDOM_TAG
from model.types import NetworkSpecs
from model.ultralytics_offline import import_ultralytics_offline

log = logging.getLogger(__name__)

WeightKind = Literal["open_clip", "ultralytics", "hf"]

# open_clip stores these names on the hub; the safetensors one is preferred when both exist.
OPEN_CLIP_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
RAP_KINDS = ("rap-llava", "rap-phi3")
RAP_VISION_TOWER = "openai/clip-vit-large-patch14-336"
ULTRALYTICS_ASSETS = "https://github.com"  # where ultralytics' release assets (yolov8*-worldv2.pt) come from


def rapbot_command() -> str:
    """The rapbot command as the user types it: `scripts/rapbot` when run through it (the script
    sets RAPBOT_INVOKED_AS), else `rapbot` (an installed one, a container)."""
    return os.environ.get("RAPBOT_INVOKED_AS", "").strip() or "rapbot"


def pull_command(profile: str | None) -> str:
    """The exact command that fetches a profile's weights, e.g. `scripts/rapbot models pull cpu`."""
    return f"{rapbot_command()} models pull {profile or '<profile>'}"


class WeightsMissing(RuntimeError):
    """A network's weights are not on this machine and cannot be fetched now (offline or failed)."""

    def __init__(self, weight: str, profile: str | None = None, reason: str | None = None) -> None:
        self.weight = weight
        self.profile = profile
        message = (
            f"Model weights for {weight} are not available on this machine. Fetch them with `{pull_command(profile)}`"
        )
        message += " (on a machine with internet; set RAPBOT_MODEL_DIR to where they are)."
        if reason:
            message += f" Cause: {_one_line(reason)}"
        super().__init__(message)


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


_told: set[tuple[str, str]] = set()  # (profile, weight) already named in full in this process
_told_lock = threading.Lock()


def missing_weights_message(error: WeightsMissing, settings: ModelSettings | None = None) -> str:
    """What a request that needs missing weights is told. The first time in this process that a
    weight is found missing: EVERY weight the profile misses (checked on disk, the CLIP text encoder
    included), and the exact command that fetches them. After that, one short line with the command
    (the full list was said already; the log has it too)."""
    settings = settings or ModelSettings()
    profile = error.profile or settings.profile
    try:
        missing = [w.name for w in weights_for(settings, network_specs(settings)) if not w.present]
    except Exception:  # a malformed spec: name the one weight the error is about
        missing = []
    if error.weight not in missing and not any(error.weight in name or name in error.weight for name in missing):
        missing.append(error.weight)
    with _told_lock:
        new = [name for name in missing if (profile, name) not in _told]
        _told.update((profile, name) for name in missing)
    command = pull_command(profile)
    if not new:
        return f"The networks' weights are still missing on this machine: run `{command}`, then restart."
    listed = ", ".join(missing)
    message = (
        f"{len(missing)} model weight(s) of profile {profile} are not on this machine: {listed}. "
        f"Fetch them with `{command}` on a machine with internet (or set RAPBOT_MODEL_DIR to where they are), "
        "then restart."
    )
    log.error("%s", message)
    return message


def network_unreachable(urls: Sequence[str], timeout_s: float = 3.0) -> str | None:
    """The first of `urls` whose host cannot be reached within `timeout_s` (DNS included), or None.
    Lets `models pull` on a machine without network fail in seconds instead of retrying for a
    minute. Through a proxy (HTTPS_PROXY) nothing is probed: the proxy decides."""
    if any(os.environ.get(name) for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return None
    for url in urls:
        parsed = urlsplit(url)
        host, port = parsed.hostname, parsed.port or (443 if parsed.scheme == "https" else 80)
        if not host:
            continue
        outcome: list[BaseException | None] = []

        def connect(host: str = host, port: int = port, outcome: list[BaseException | None] = outcome) -> None:
            try:
                socket.create_connection((host, port), timeout=timeout_s).close()
                outcome.append(None)
            except OSError as error:
                outcome.append(error)

        probe = threading.Thread(target=connect, name="rapbot-network-probe", daemon=True)
        probe.start()
        probe.join(timeout_s + 0.5)
        if not outcome or outcome[0] is not None:
            return host
    return None


@dataclass(frozen=True)
class WeightSpec:
    """One weight a profile needs: `name` as the user sees it, `kind` says how it is fetched,
    `source` is a hub repo id (hf, open_clip: "repo::file") or an ultralytics asset name, and
    `local_path` is where it is (or would be) on this machine (None: built in code)."""

    name: str
    kind: WeightKind
    source: str
    local_path: Path | None
    present: bool


def hub_offline() -> bool:
    """True when the hub must not be reached (HF_HUB_OFFLINE, read by huggingface_hub itself)."""
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


# ---- open_clip -----------------------------------------------------------------------------


def parse_clip_spec(spec: str) -> tuple[str, str]:
    """'open_clip:ViT-L-14-336/openai' -> ('ViT-L-14-336', 'openai'). The tag may also be 'random'
    (seeded random weights) or a path to a local checkpoint file."""
    prefix = "open_clip:"
    if not spec.startswith(prefix) or "/" not in spec[len(prefix) :]:
        raise ValueError(f"Encoder spec {spec!r} is not of the form 'open_clip:<model>/<pretrained tag>'.")
    model_name, tag = spec[len(prefix) :].split("/", 1)
    if not model_name or not tag:
        raise ValueError(f"Encoder spec {spec!r} is not of the form 'open_clip:<model>/<pretrained tag>'.")
    return model_name, tag


def open_clip_hub_repo(model_name: str, tag: str) -> str:
    """The hub repo open_clip downloads `model_name`/`tag` from."""
    from open_clip.pretrained import get_pretrained_cfg

    hub = str(get_pretrained_cfg(model_name, tag).get("hf_hub", "")).strip("/")
    if not hub:
        raise ValueError(f"open_clip knows no hub checkpoint for {model_name}/{tag}.")
    return hub


def _cached_file(repo_id: str, filename: str, cache_dir: Path) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, filename, cache_dir=str(cache_dir))
    return Path(found) if isinstance(found, str) else None


def local_open_clip_file(model_name: str, tag: str, settings: ModelSettings) -> Path | None:
    """The checkpoint file of an open_clip spec when it is on this machine, else None."""
    if Path(tag).is_file():
        return Path(tag)
    repo = open_clip_hub_repo(model_name, tag)
    for filename in OPEN_CLIP_FILES:
        found = _cached_file(repo, filename, settings.hf_cache_dir)
        if found is not None:
            return found
    return None


def pull_open_clip(model_name: str, tag: str, settings: ModelSettings) -> Path:
    from huggingface_hub import hf_hub_download

    repo = open_clip_hub_repo(model_name, tag)
    errors: list[str] = []
    for filename in OPEN_CLIP_FILES:
        try:
            return Path(hf_hub_download(repo, filename, cache_dir=str(settings.hf_cache_dir)))
        except Exception as error:  # try the next file name; report all if none works
            errors.append(f"{filename}: {error}")
    raise WeightsMissing(f"open_clip {model_name}/{tag} ({repo})", settings.profile, "; ".join(errors))


# ---- ultralytics ---------------------------------------------------------------------------


def is_ultralytics_config(spec: str) -> bool:
    """A .yaml spec builds the graph with random weights; nothing to fetch."""
    return spec.endswith((".yaml", ".yml"))


def local_ultralytics_path(spec: str, settings: ModelSettings) -> Path:
    """Where an ultralytics weight is (or will be put): the spec itself when it is a path that
    exists, else `<model_dir>/ultralytics/<name>`."""
    as_path = Path(spec).expanduser()
    if as_path.is_file():
        return as_path
    return settings.ultralytics_dir / as_path.name


def pull_ultralytics(spec: str, settings: ModelSettings) -> Path:
    """Download an ultralytics release asset (e.g. yolov8x-worldv2.pt) into the model dir."""
    import_ultralytics_offline()  # no update checks or analytics; the asset download itself still runs
    from ultralytics.utils.downloads import attempt_download_asset

    target = local_ultralytics_path(spec, settings)
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        attempt_download_asset(str(target))
    except Exception as error:
        raise WeightsMissing(spec, settings.profile, str(error)) from error
    if not target.is_file():
        raise WeightsMissing(spec, settings.profile, "the download produced no file")
    return target


# ---- transformers checkpoints (generators) ------------------------------------------------


def local_hf_snapshot(repo_or_dir: str, settings: ModelSettings) -> Path | None:
    """A checkpoint directory: the spec itself when it is a local dir, else the cached snapshot of
    the hub repo in the model dir, else None."""
    as_path = Path(repo_or_dir).expanduser()
    if as_path.is_dir():
        return as_path
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_or_dir, cache_dir=str(settings.hf_cache_dir), local_files_only=True))
    except Exception:  # not cached (LocalEntryNotFoundError) or not a valid repo id
        return None


def resolve_hf_snapshot(repo_or_dir: str, settings: ModelSettings) -> Path:
    """Local first, then the hub (unless offline); WeightsMissing when neither works."""
    local = local_hf_snapshot(repo_or_dir, settings)
    if local is not None:
        return local
    if hub_offline():
        raise WeightsMissing(repo_or_dir, settings.profile, "offline (HF_HUB_OFFLINE=1) and not in the model dir")
    return pull_hf(repo_or_dir, settings)


def resolve_checkpoint(source: str, settings: ModelSettings) -> Path:
    """A checkpoint directory: `source` itself when it is one, else RAPBOT_MODEL_DIR/<name> (the
    full id or its last part), else the hub cache / a download. WeightsMissing when none works."""
    as_path = Path(source).expanduser()
    if as_path.is_dir():
        return as_path
    for candidate in (settings.model_dir / source, settings.model_dir / source.rsplit("/", 1)[-1]):
        if (candidate / "config.json").is_file():
            return candidate
    if source.startswith(("/", ".", "~")):
        raise WeightsMissing(source, settings.profile, "no such directory")
    return resolve_hf_snapshot(source, settings)


# Other frameworks' copies of the same weights: never needed, often as large as the torch ones.
HF_IGNORE_PATTERNS = ["*.h5", "*.msgpack", "*.ot", "*.onnx", "*.onnx_data", "*.tflite", "flax_model*", "tf_model*"]


def pull_hf(repo_id: str, settings: ModelSettings) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(
            snapshot_download(repo_id, cache_dir=str(settings.hf_cache_dir), ignore_patterns=HF_IGNORE_PATTERNS)
        )
    except Exception as error:
        raise WeightsMissing(repo_id, settings.profile, str(error)) from error


# ---- per profile ---------------------------------------------------------------------------


def _encoder_weight(spec: str, name: str, settings: ModelSettings) -> WeightSpec | None:
    model_name, tag = parse_clip_spec(spec)
    if tag == RANDOM_TAG:
        return None
    if Path(tag).is_file():
        return WeightSpec(f"{name} {model_name}", "open_clip", tag, Path(tag), True)
    repo = open_clip_hub_repo(model_name, tag)
    local = local_open_clip_file(model_name, tag, settings)
    where = local or settings.hf_cache_dir / f"models--{repo.replace('/', '--')}"
    return WeightSpec(f"{name} {model_name}/{tag}", "open_clip", repo, where, local is not None)


def _generator_weights(spec: str, settings: ModelSettings) -> list[WeightSpec]:
    kind, _, target = spec.partition(":")
    if kind == "tiny" or not target:
        return []
    local = local_hf_snapshot(target, settings)
    where = local or settings.hf_cache_dir / f"models--{target.replace('/', '--')}"
    weights = [WeightSpec(f"generator {target}", "hf", target, where, local is not None)]
    if kind in RAP_KINDS and local is None:
        # The released RAP checkpoints keep the vision tower out: conversion reads it from here.
        tower = local_hf_snapshot(RAP_VISION_TOWER, settings)
        tower_where = tower or settings.hf_cache_dir / f"models--{RAP_VISION_TOWER.replace('/', '--')}"
        weights.append(
            WeightSpec(f"vision tower {RAP_VISION_TOWER}", "hf", RAP_VISION_TOWER, tower_where, tower is not None)
        )
    return weights


def weights_for(settings: ModelSettings, specs: NetworkSpecs) -> list[WeightSpec]:
    """Every weight the networks `specs` (model.specs.network_specs(settings)) need, with whether
    each is present. The specs come from the caller: profiles builds on this module, not under it."""
    weights: list[WeightSpec] = []
    for spec, name in ((specs.encoder, "encoder"), (specs.detector_text, "detector text encoder")):
        weight = _encoder_weight(spec, name, settings)
        if weight is not None:
            weights.append(weight)
    if not is_ultralytics_config(specs.detector):
        path = local_ultralytics_path(specs.detector, settings)
        weights.append(
            WeightSpec(f"detector {Path(specs.detector).name}", "ultralytics", specs.detector, path, path.is_file())
        )
    weights.extend(_generator_weights(specs.generator, settings))
    unique: dict[tuple[str, str], WeightSpec] = {}
    for weight in weights:  # the cpu profile's encoder and detector text encoder are one checkpoint
        unique.setdefault((weight.kind, weight.source), weight)
    return list(unique.values())


def check(settings: ModelSettings, specs: NetworkSpecs) -> list[WeightSpec]:
    """Offline: the weights of `specs` and whether each is present (never downloads)."""
    return weights_for(settings, specs)


def pull(settings: ModelSettings, specs: NetworkSpecs, starting: Callable[[], None] | None = None) -> list[Path]:
    """Download every missing weight of `specs` into the model dir; returns their paths. Offline or
    without network it fails at once (WeightsMissing), before `starting` is called."""
    missing = [weight for weight in weights_for(settings, specs) if not weight.present]
    names = ", ".join(weight.name for weight in missing)
    if missing and hub_offline():
        raise WeightsMissing(names, settings.profile, "HF_HUB_OFFLINE=1 is set: unset it to download")
    if missing:
        from huggingface_hub import constants

        urls = [constants.ENDPOINT] if any(weight.kind != "ultralytics" for weight in missing) else []
        urls += [ULTRALYTICS_ASSETS] if any(weight.kind == "ultralytics" for weight in missing) else []
        host = network_unreachable(urls)
        if host is not None:
            raise WeightsMissing(names, settings.profile, f"no network: {host} cannot be reached from this machine")
    if starting is not None:
        starting()
    paths: list[Path] = []
    for spec in (specs.encoder, specs.detector_text):
        model_name, tag = parse_clip_spec(spec)
        if tag != RANDOM_TAG and not Path(tag).is_file():
            paths.append(local_open_clip_file(model_name, tag, settings) or pull_open_clip(model_name, tag, settings))
    if not is_ultralytics_config(specs.detector):
        paths.append(pull_ultralytics(specs.detector, settings))
    for weight in _generator_weights(specs.generator, settings):
        paths.append(local_hf_snapshot(weight.source, settings) or pull_hf(weight.source, settings))
    return list(dict.fromkeys(paths))
