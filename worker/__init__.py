"""The worker: runs the RAP pipeline for every frontend. Three wings (docs/architecture.md):
`worker.domain` (remember, retrieve, generate), `worker.transport` (the clients, Celery tasks, wire
format, presence, dead letters) and `worker.ops` (metrics, health, logs, CLI). The package root
holds what every wing and every frontend shares: the operation table (`worker.client`), the request
and result types (`worker.schemas`), the errors users read (`worker.errors`) and the settings."""
