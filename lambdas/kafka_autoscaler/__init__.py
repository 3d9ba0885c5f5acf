"""kafka_autoscaler: an explainable autoscaler for Amazon MSK clusters and their ECS consumers."""

__version__ = "0.1.0"
