"""The CDK app: `cdk deploy -c config=my-autoscaler.yaml` puts the whole autoscaler into an AWS account.

The configuration is validated with the Lambda's own schema (kafka_autoscaler.config), so a bad file
fails `cdk synth` with the same message and nothing is deployed. Synth needs no AWS account and no
Docker: the account and region come from the cluster ARN, and the code is bundled with local pip.

Context (-c name=value):
- config (required): the YAML configuration file;
- stack_name: default KafkaAutoscaler-<cluster name>;
- bundle_dependencies=false: leave the third-party packages out of the code asset (tests only).
"""

from __future__ import annotations

import sys
from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks
from kafka_autoscaler.config import ConfigError, load_config

from stacks.autoscaler_stack import AutoscalerStack, default_stack_name
from stacks.bundling import bundled_code


def build(app: cdk.App) -> AutoscalerStack:
    """The autoscaler stack from the app's context, checked by cdk-nag's AWS Solutions rules."""
    config_file = app.node.try_get_context("config")
    if not config_file:
        raise ConfigError("cdk context", ["config: missing; name the configuration file: cdk deploy -c config=FILE"])
    config = load_config(config_file)
    with_dependencies = str(app.node.try_get_context("bundle_dependencies")).lower() != "false"
    stack = AutoscalerStack(
        app,
        app.node.try_get_context("stack_name") or default_stack_name(config),
        config=config,
        config_source=str(config_file),
        code=bundled_code(Path(config_file), with_dependencies=with_dependencies),
    )
    cdk.Validations.of(app).add_plugins(
        AwsSolutionsChecks(app, verbose=True, write_suppressions_to_cloud_formation=True)
    )
    return stack


def main() -> int:
    app = cdk.App()
    try:
        build(app)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 1
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
