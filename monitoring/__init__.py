"""What operators watch: `/metrics` in Prometheus' text format (monitoring/README.md). It reads
the audit log and the features' models; nothing of the product imports it."""
