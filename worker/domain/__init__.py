"""The RAP domain: remember, retrieve and generate over model/ and memory/, and what they use
(faces, learning from yes/no, matching boxes to subjects, mentions, grounding, safe image decoding,
re-embedding, pending choices). Knows nothing of Celery, Redis or prometheus: the transport wing
carries requests to it and the operations wing watches it (docs/architecture.md)."""
