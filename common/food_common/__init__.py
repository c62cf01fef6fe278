"""Cross-cutting code shared by every food-ordering service.

Only infrastructure lives here (settings helpers, request ids and logging, JWT verification, the error
format, health checks, the service HTTP client); never a model or a rule of one domain.
"""
