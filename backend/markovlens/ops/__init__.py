"""Operations: Prometheus metrics and structured logs (scale-out deployments)."""
