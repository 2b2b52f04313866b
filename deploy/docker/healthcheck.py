"""Container healthcheck: GET /health/live (or the path given) on this service's port.

The image has no curl, so this uses the standard library. The port is HTTP_PORT when set,
else the default of the service's own settings class (the same value the service listens on).
Exit 0 when the route answers 2xx.
"""

import importlib
import os
import sys
import urllib.request


def http_port() -> str:
    if os.environ.get("HTTP_PORT"):
        return os.environ["HTTP_PORT"]
    module = os.environ.get("SUPPLYCHAIN_SERVICE", "").replace("-", "_")
    from supplychain_kit.settings import ServiceSettings

    config = importlib.import_module(f"{module}.config")
    for value in vars(config).values():
        if isinstance(value, type) and issubclass(value, ServiceSettings):
            if value is ServiceSettings:
                continue
            return str(value.model_fields["http_port"].default)
    raise SystemExit(f"no settings class in {module}.config")


path = sys.argv[1] if len(sys.argv) > 1 else "/health/live"
url = f"http://127.0.0.1:{http_port()}{path}"
try:
    with urllib.request.urlopen(url, timeout=4) as response:
        sys.exit(0 if 200 <= response.status < 300 else 1)
except Exception as error:
    print(f"unhealthy: {url}: {error}", file=sys.stderr)
    sys.exit(1)
