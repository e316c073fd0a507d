"""The Dagster layer of execution: orders, fills and positions assets and the sensor between them."""

from quant_assets.defs.execution.assets import execution_assets
from quant_assets.defs.execution.resources import (
    BrokerResource,
    ExecutionPolicyResource,
    execution_resources,
)
from quant_assets.defs.execution.sensors import execution_sensors

__all__ = [
    "BrokerResource",
    "ExecutionPolicyResource",
    "execution_assets",
    "execution_resources",
    "execution_sensors",
]
