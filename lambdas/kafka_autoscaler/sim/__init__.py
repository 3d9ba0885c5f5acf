"""The simulator: replays a produce-rate trace against modelled MSK, Kafka and ECS.

Our autoscaler runs through the same `engine.tick()` as the Lambda, with simulated
adapters (adapters.py); the baselines (baselines/) are written from their public
documentation. Everything is deterministic for a seed.
"""
