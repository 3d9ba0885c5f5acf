"""Lambda entry points: parse the event, call tick(), return a summary."""
