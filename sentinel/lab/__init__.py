"""A three-host lab in network namespaces (`hasentinel lab`, docs/lab.md)."""
