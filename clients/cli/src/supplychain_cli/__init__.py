"""`supplychain`: the platform's command line for departments and operators."""

import sys

# httpx imports its own command line (rich, pygments, click) when that is installed; the CLI
# never uses it and every command would start ~0.3 s later. httpx falls back without it.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
