"""`rapbot train`: LoRA fine-tuning of a transformers Llava-family model on RAP samples, with the
Hugging Face Trainer and peft, as the RAP release trains (RAP_FACTS "Training").

- LoRA on every Linear layer of the language model only (not the vision tower, not the projector,
  not lm_head); the projector trained fully at its own learning rate (two optimizer groups).
- Loss only on the assistant's tokens (training/dataset.py); bf16 on a GPU, fp32 on CPU; gradient
  checkpointing; periodic eval loss; checkpoints that hold the projector too, so resuming restores it.
- Output: <output_dir>/adapter (adapter_config.json, adapter_model.safetensors, mm_projector.safetensors)
  which model/'s generator loads with RAPBOT_GENERATOR_ADAPTER=<output_dir>/adapter; optionally
  <output_dir>/merged, the base with the adapter merged (a plain Llava checkpoint)."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model.base import pick_device
from model.projector import PROJECTOR_FILE, PROJECTOR_MODULE, find_projector, load_projector, save_projector
from model.prompt import TEMPLATES
from training.dataset import RapCollator, RapDataset
from training.schema import read_samples
from training.settings import TrainConfig

log = logging.getLogger(__name__)

ADAPTER_DIR = "adapter"
MERGED_DIR = "merged"


class TrainingError(RuntimeError):
    """A training run that cannot start or continue; the message says what to fix."""


@dataclass(frozen=True)
class TrainResult:
    adapter_dir: Path
    merged_dir: Path | None
    global_step: int
    train_loss: float | None
    eval_loss: float | None
    samples: int
    skipped_too_long: int
    samples_per_second: float | None = None


def lora_target_modules(model: Any) -> list[str]:
    """Full names of every nn.Linear inside the language model (lm_head, the vision tower and the
    projector are outside it). Full names, not suffixes: a bare "q_proj" would hit CLIP's too."""
    import torch

    return sorted(
        name
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and ".language_model." in f".{name}."
    )


def projector_of(model: Any) -> Any:
    projector = find_projector(model)
    if projector is None:
        raise TrainingError("this model has no multi_modal_projector: train needs a Llava-family model")
    return projector


def _precision(cfg: TrainConfig, on_gpu: bool) -> tuple[bool, bool]:
    """(bf16, fp16) flags: bf16 on GPUs that have it, fp16 on older ones, fp32 on CPU."""
    import torch

    if cfg.precision == "fp32" or (cfg.precision == "auto" and not on_gpu):
        return False, False
    if cfg.precision == "fp16":
        return False, True
    if cfg.precision == "bf16" or torch.cuda.is_bf16_supported():
        return True, False
    return False, True


def _make_trainer_class() -> Any:
    from transformers import Trainer

    class RapTrainer(Trainer):  # type: ignore[misc]
        """Two learning rates (LoRA, projector), and the projector saved into every checkpoint and
        restored on resume (peft's checkpoints hold only the adapter)."""

        projector_lr: float = 2e-5

        def create_optimizer(self, model: Any = None) -> Any:
            if self.optimizer is None:
                model = self.model
                lora: list[Any] = []
                projector: list[Any] = []
                for name, param in model.named_parameters():
                    if param.requires_grad:
                        (projector if PROJECTOR_MODULE in name else lora).append(param)
                groups = [{"params": lora, "lr": self.args.learning_rate, "weight_decay": self.args.weight_decay}]
                if projector:
                    groups.append(
                        {"params": projector, "lr": self.projector_lr, "weight_decay": self.args.weight_decay}
                    )
                optimizer_cls, kwargs = self.get_optimizer_cls_and_kwargs(self.args, model)
                kwargs.pop("lr", None)
                self.optimizer = optimizer_cls(groups, lr=self.args.learning_rate, **kwargs)
            return self.optimizer

        def _save(self, output_dir: str | None = None, state_dict: dict[str, Any] | None = None) -> None:
            super()._save(output_dir, state_dict)
            target = Path(str(output_dir or self.args.output_dir))
            if any(p.requires_grad for p in projector_of(self.model).parameters()):
                save_projector(self.model, target)

        def _load_from_checkpoint(self, resume_from_checkpoint: str, model: Any = None) -> None:
            super()._load_from_checkpoint(resume_from_checkpoint, model)
            path = Path(resume_from_checkpoint) / PROJECTOR_FILE
            if path.is_file():
                load_projector(model or self.model, path)

    return RapTrainer


def _latest_checkpoint(output_dir: Path) -> Path | None:
    from transformers.trainer_utils import get_last_checkpoint

    if not output_dir.is_dir():
        return None
    last = get_last_checkpoint(str(output_dir))
    return Path(last) if last else None


def prepare_model(cfg: TrainConfig, device: str, dtype: Any = None) -> tuple[Any, Any]:
    """(peft model ready to train, processor). The frozen base in `dtype` (bf16 on a GPU halves its
    memory); LoRA weights and the trainable projector in fp32, as mixed-precision training wants."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    try:
        model = LlavaForConditionalGeneration.from_pretrained(cfg.base_model, dtype=dtype or torch.float32)
        processor = AutoProcessor.from_pretrained(cfg.base_model)
    except OSError as exc:
        raise TrainingError(
            f"cannot load the base model {cfg.base_model!r}: {exc}. Use a local transformers Llava directory "
            "(see `rapbot models pull` / model/convert.py) or a hub id reachable from here."
        ) from None
    targets = lora_target_modules(model)
    if not targets:
        raise TrainingError(f"{cfg.base_model}: found no Linear layer in a language_model to put LoRA on")
    lora = LoraConfig(
        r=cfg.lora.r,
        lora_alpha=cfg.lora.alpha,
        lora_dropout=cfg.lora.dropout,
        target_modules=targets,
        bias="none",
        task_type="CAUSAL_LM",
    )
    peft_model = get_peft_model(model, lora)  # adapter weights are created in fp32 (autocast_adapter_dtype)
    projector = projector_of(peft_model)
    if cfg.projector_learning_rate > 0:
        projector.to(torch.float32)
    for param in projector.parameters():
        param.requires_grad = cfg.projector_learning_rate > 0
    if device.startswith("cuda"):
        peft_model = peft_model.to(device)
    return peft_model, processor


def train(cfg: TrainConfig, callbacks: Sequence[Any] = ()) -> TrainResult:
    """Run (or resume) a training run as the config says; return where the adapter went.
    `callbacks`: transformers TrainerCallback objects (progress reporting, early stopping, ...)."""
    import torch
    from transformers import TrainingArguments

    device = pick_device(cfg.device)
    on_gpu = device.startswith("cuda")
    bf16, fp16 = _precision(cfg, on_gpu)
    template = TEMPLATES[cfg.template]
    try:
        samples = read_samples(cfg.data)
        eval_samples = read_samples(cfg.eval_data) if cfg.eval_data else []
    except ValueError as exc:
        raise TrainingError(str(exc)) from None
    resume: str | bool = False
    if cfg.resume is True:
        last = _latest_checkpoint(cfg.output_dir)
        if last is None:
            raise TrainingError(f"resume: no checkpoint-* folder in {cfg.output_dir} to resume from")
        resume = str(last)
    elif isinstance(cfg.resume, Path):
        if not cfg.resume.is_dir():
            raise TrainingError(f"resume: checkpoint {cfg.resume} not found")
        resume = str(cfg.resume)

    base_dtype = torch.bfloat16 if bf16 else torch.float16 if fp16 else torch.float32
    model, processor = prepare_model(cfg, device, base_dtype)
    root = cfg.image_root or cfg.data.parent
    train_set = RapDataset(samples, root, processor, template, cfg.max_length)
    eval_set = (
        RapDataset(eval_samples, cfg.image_root or cfg.eval_data.parent, processor, template, cfg.max_length)
        if cfg.eval_data and eval_samples
        else None
    )
    args = TrainingArguments(
        output_dir=str(cfg.output_dir),
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation,
        learning_rate=cfg.learning_rate,
        weight_decay=cfg.weight_decay,
        lr_scheduler_type=cfg.lr_scheduler,
        warmup_steps=cfg.warmup_ratio,  # a float in [0, 1) is a ratio of the total steps
        activation_checkpointing=cfg.gradient_checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False},
        bf16=bf16,
        fp16=fp16,
        use_cpu=not on_gpu,
        logging_steps=cfg.logging_steps,
        eval_strategy="steps" if eval_set is not None else "no",
        eval_steps=cfg.eval_steps,
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=cfg.save_total_limit,
        remove_unused_columns=False,
        dataloader_num_workers=cfg.dataloader_workers,
        report_to=cfg.report_to or "none",
        seed=cfg.seed,
        data_seed=cfg.seed,
    )
    trainer_cls = _make_trainer_class()
    trainer_cls.projector_lr = cfg.projector_learning_rate
    trainer = trainer_cls(
        model=model,
        args=args,
        train_dataset=train_set,
        eval_dataset=eval_set,
        data_collator=RapCollator(processor.tokenizer.pad_token_id),
        callbacks=list(callbacks) or None,
    )
    output = trainer.train(resume_from_checkpoint=resume or None)
    eval_loss = trainer.evaluate()["eval_loss"] if eval_set is not None else None

    adapter_dir = cfg.output_dir / ADAPTER_DIR
    model.save_pretrained(str(adapter_dir))
    save_projector(model, adapter_dir)
    (cfg.output_dir / "train_config.json").write_text(cfg.model_dump_json(indent=1))
    merged_dir = None
    if cfg.merge:
        merged_dir = cfg.output_dir / MERGED_DIR
        merged = model.merge_and_unload()
        merged.to(torch.float32).save_pretrained(str(merged_dir))
        processor.save_pretrained(str(merged_dir))
    train_loss = output.metrics.get("train_loss")
    result = TrainResult(
        adapter_dir=adapter_dir,
        merged_dir=merged_dir,
        global_step=trainer.state.global_step,
        train_loss=float(train_loss) if train_loss is not None else None,
        eval_loss=float(eval_loss) if eval_loss is not None else None,
        samples=len(train_set),
        skipped_too_long=train_set.skipped_too_long,
        samples_per_second=output.metrics.get("train_samples_per_second"),
    )
    summary = {k: str(v) if isinstance(v, Path) else v for k, v in result.__dict__.items()}
    (cfg.output_dir / "train_result.json").write_text(json.dumps(summary, indent=1))
    return result
