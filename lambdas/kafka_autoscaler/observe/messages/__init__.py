"""Kafka's own message definitions (from kafka-clients 4.1.2) for requests kafka-python 3.0.12 lacks."""
