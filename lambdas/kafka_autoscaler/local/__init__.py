"""The embedded default: the autoscaler against a real Apache Kafka cluster on loopback."""
