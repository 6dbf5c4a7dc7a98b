"""The transport: how a frontend's call reaches the RAP domain and its answer comes back. The
operation table (worker.client) and the clients derived from it: in-process (`LocalClient`) and
over Celery + Redis (`CeleryClient`), the tasks, the wire format, worker presence and dead letters
(docs/architecture.md)."""
