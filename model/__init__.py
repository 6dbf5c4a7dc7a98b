"""The networks of the RAP method: CLIP encoder, YOLO-World detector, RAP generator, the RAP prompt,
weight resolution and conversion, and tiny random-weight builds for tests. Knows nothing of storage
or chat."""
