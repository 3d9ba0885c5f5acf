"""The CDK app's constructs: one module per concern, assembled by autoscaler_stack.AutoscalerStack."""
