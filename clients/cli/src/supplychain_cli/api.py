"""The services' HTTP APIs as the CLI calls them: a refusal or an outage becomes an exit code."""

from __future__ import annotations

from typing import Any

import httpx

from supplychain_cli.config import Config
from supplychain_cli.output import Exit, fail

TIMEOUT_S = 10.0


def problem_message(response: httpx.Response) -> tuple[str, dict[str, Any]]:
    """`title: detail (field: message)` of a problem+json answer, and the document itself."""
    try:
        document = response.json()
    except ValueError:
        document = {}
    if not isinstance(document, dict):
        document = {"detail": str(document)}
    document.setdefault("status", response.status_code)
    title = document.get("title") or response.reason_phrase
    detail = document.get("detail") or response.text[:300]
    fields = [
        f"{item.get('field')}: {item.get('message')}"
        for item in document.get("errors") or ()
        if isinstance(item, dict)
    ]
    if not fields and document.get("field"):
        fields = [str(document["field"])]
    message = f"{response.status_code} {title}: {detail}"
    if fields:
        message += " (" + "; ".join(fields) + ")"
    return message, document


class Api:
    """Calls to the four services with the caller's key; one connection pool per command."""

    def __init__(self, config: Config, *, as_json: bool = False) -> None:
        self.config = config
        self.as_json = as_json
        self._client = httpx.Client(timeout=TIMEOUT_S)

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *_: object) -> None:
        self._client.close()

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        if not self.config.api_key:
            fail(
                Exit.USAGE,
                "set SUPPLYCHAIN_API_KEY (or --api-key) to a department or admin key "
                "(make run accepts dev-<department>-1, e.g. dev-assembly-1)",
            )
        return {"Authorization": f"Bearer {self.config.api_key}", **(extra or {})}

    def send(
        self,
        service: str,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        allow: tuple[int, ...] = (),
    ) -> httpx.Response:
        """The answer of a 2xx (or a status in `allow`); a 4xx stops the command with
        Exit.REFUSED, an unreachable service or a 5xx with Exit.UNREACHABLE."""
        base = self.config.urls()[service]
        try:
            response = self._client.request(
                method,
                f"{base}{path}",
                json=json,
                params={k: v for k, v in (params or {}).items() if v is not None},
                headers=self._headers(headers),
            )
        except httpx.TransportError as exc:
            fail(Exit.UNREACHABLE, f"{service} at {base} is unreachable: {exc!r}")
        if response.is_success or response.status_code in allow:
            return response
        message, document = problem_message(response)
        if response.status_code >= 500:
            fail(Exit.UNREACHABLE, f"{service}: {message}", data=document, as_json=self.as_json)
        fail(Exit.REFUSED, message, data=document, as_json=self.as_json)

    def get(self, service: str, path: str, **params: Any) -> Any:
        return self.send(service, "GET", path, params=params).json()

    def get_or_none(self, service: str, path: str) -> Any:
        """The document, or None while it does not exist (404) yet."""
        response = self.send(service, "GET", path, allow=(404,))
        return None if response.status_code == 404 else response.json()

    def post(
        self, service: str, path: str, body: Any = None, *, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return self.send(service, "POST", path, json=body, headers=headers)
