"""The OpenAPI schema and its documentation pages (Swagger UI, Redoc), served from the
vendored sidecar (no CDN). Their errors use the API's JSON error body like every endpoint.

Content-Security-Policy: Swagger UI's init script is served from its own address (the split
view), never inline. Both UIs set inline styles from their JavaScript (Redoc through
styled-components), so these two pages alone allow inline *styles*; scripts stay 'self' only.
"""

from __future__ import annotations

from csp.decorators import csp_update
from django.utils.decorators import method_decorator
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView
from rest_framework.renderers import JSONRenderer

_DOCS_CSP = method_decorator(csp_update({"style-src": ["'unsafe-inline'"]}), name="dispatch")


class _JsonErrors:
    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response


class SchemaApi(_JsonErrors, SpectacularAPIView):
    pass


@_DOCS_CSP
class SwaggerDocs(_JsonErrors, SpectacularSwaggerSplitView):
    pass


@_DOCS_CSP
class RedocDocs(_JsonErrors, SpectacularRedocView):
    pass
