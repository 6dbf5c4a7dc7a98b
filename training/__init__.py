"""Training a RAP model: the dataset builder, LoRA training with the Hugging Face Trainer, and the
evaluation harness (captioning, recognition, QA) measured the way the paper does. Builds on model/
only (docs/architecture.md)."""
