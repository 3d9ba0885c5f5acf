"""Pure lag arithmetic: offset-sample history, rates, time lag and partition health."""
