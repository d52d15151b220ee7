"""ASGI middleware, one per module (outermost first, as ``gateway.main`` adds them):

- ``request_log``: request ids, one log line and the request metrics per request;
- ``csrf``: the CSRF check of state-changing requests (and foreign-origin /v2 writes);
- ``body_limit``: small bodies under /api, refused with 413 past their limit;
- ``deadline``: every /api and /v2 request's deadline and its 504 safety net;
- ``api_headers``: the headers every /api and /v2 answer carries;

The HTML answers' headers are ``gateway.web.html_headers``; the warm lane, which answers
before routing, is ``gateway.routers.warm``.
"""

from gateway.middleware.api_headers import ApiHeadersMiddleware
from gateway.middleware.body_limit import BodyLimitMiddleware
from gateway.middleware.csrf import CsrfMiddleware
from gateway.middleware.deadline import DeadlineMiddleware
from gateway.middleware.request_log import RequestLogMiddleware, route_template

__all__ = [
    "ApiHeadersMiddleware",
    "BodyLimitMiddleware",
    "CsrfMiddleware",
    "DeadlineMiddleware",
    "RequestLogMiddleware",
    "route_template",
]
