"""Operations: metrics, health checks, request logs and the command line that starts workers
(`rapbot worker`, `rapbot deadletters`, `rapbot memory reembed`). Watches the domain and the
transport; neither imports it (docs/architecture.md)."""
