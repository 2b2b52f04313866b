"""HTTP: a service's FastAPI app and what every route shares.

The app factory (`app`: health, metrics, docs and the service's routers), problem+json
errors (`problems`), the guards on what a request may carry (`inputs`, `strict_body`,
`params`, `paths`), who calls (`auth`) and how often (`rate_limit`), file downloads,
request telemetry (`asgi`), the generated documents (`openapi`, `asyncapi` and its page)
and the operator routes over the messaging parts (`operator_api`). Nothing here consumes
or publishes a record itself. The package is imported by its modules' absolute names
(`supplychain_kit.http.app`), so its name shadows no standard library module.
"""
