"""The real Lambda handlers (infra_templates/lambda/), run in this process as Lambda would run them.

Each handler is imported from its source file with ``common/`` importable beside it (the zip
layout of infra_templates/lambda/README.md) and invoked with the environment Lambda would give
it in that region: AWS_REGION, TABLE_NAME, EVENT_BUS_NAME, WINDOW_SECONDS, SHARDS,
AGGREGATES_TABLE_NAME, and AWS_ENDPOINT_URL pointing at the sandbox. The handlers read their
configuration from ``os.environ``, which is per process, so invocations are serialised by one
lock that sets the region's variables and restores the previous values afterwards (boto3
clients they create are cached per region and endpoint by the handlers themselves). One lock
is fine here: moto serves one request at a time anyway.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
from pathlib import Path
from types import ModuleType

from .config import ENV_LOCK, DataPlaneConfig

LAMBDA_DIR = Path(__file__).resolve().parents[2] / "infra_templates" / "lambda"
FUNCTIONS = ("transaction", "webhook", "aggregates")
_IMPORT_LOCK = threading.Lock()


def handler_module(function: str) -> ModuleType:
    """``infra_templates/lambda/<function>/handler.py`` as the packaged zip lays it out."""
    if function not in FUNCTIONS:
        raise ValueError(f"unknown Lambda function {function!r}; known: {', '.join(FUNCTIONS)}")
    name = f"lambda_{function}_handler"  # the same names the Lambda tests use: one module each
    with _IMPORT_LOCK:
        if name not in sys.modules:
            if str(LAMBDA_DIR) not in sys.path:
                sys.path.insert(0, str(LAMBDA_DIR))  # zip root stand-in: `from common import ledger`
            spec = importlib.util.spec_from_file_location(name, LAMBDA_DIR / function / "handler.py")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
        return sys.modules[name]


class LambdaRuntime:
    """Invokes the handlers of one environment with each region's Lambda environment."""

    def __init__(self, config: DataPlaneConfig):
        self.config = config
        self.invocations = 0

    def environment_for(self, region: str) -> dict[str, str]:
        c = self.config
        return {
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_ENDPOINT_URL": c.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "TABLE_NAME": c.transactions_table,
            "EVENT_BUS_NAME": c.event_buses[region],
            "AGGREGATES_TABLE_NAME": c.aggregates_table,
            "WINDOW_SECONDS": str(c.window_seconds),
            "SHARDS": str(c.shards),
        }

    def invoke(self, function: str, region: str, event: dict) -> dict:
        module = handler_module(function)
        variables = self.environment_for(region)
        with ENV_LOCK:
            saved = {name: os.environ.get(name) for name in [*variables, "AWS_SESSION_TOKEN", "AWS_PROFILE"]}
            try:
                os.environ.pop("AWS_SESSION_TOKEN", None)
                os.environ.pop("AWS_PROFILE", None)
                os.environ.update(variables)
                self.invocations += 1
                return module.handler(event, None)
            finally:
                for name, value in saved.items():
                    if value is None:
                        os.environ.pop(name, None)
                    else:
                        os.environ[name] = value
