"""Service metrics: counted in process, read as Prometheus text (/metrics) or CloudWatch EMF lines."""
