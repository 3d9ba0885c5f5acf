"""Partition placement (pure) and its execution: Kafka reassignments or Cruise Control."""
