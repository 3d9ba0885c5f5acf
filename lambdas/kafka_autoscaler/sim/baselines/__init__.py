"""The autoscalers we compare against, each written from its public documentation."""
