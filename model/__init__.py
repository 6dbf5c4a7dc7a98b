"""The networks of the RAP method: CLIP encoder, YOLO-World detector, RAP generator, the RAP prompt,
weight resolution and conversion, tiny random-weight builds for tests, and the serving engine that
batches concurrent requests (model/engine.py). Bottom layer: knows nothing of storage (no SQL) or
chat, and imports its network libraries (torch, transformers ...) inside the functions that use
them, so importing model/ loads none (docs/architecture.md)."""
