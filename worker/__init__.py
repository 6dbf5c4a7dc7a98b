"""The RAP pipeline (remember, retrieve, generate) joining model/ and memory/, its Celery app and
tasks, and the client interface the frontends call (in-process or Celery)."""
