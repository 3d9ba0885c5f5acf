"""`python -m kafka_autoscaler` is the `kafka-autoscaler` command."""

from kafka_autoscaler.cli import main

raise SystemExit(main())
