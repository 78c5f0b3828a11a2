"""The OpenAPI schema and its documentation pages (Swagger UI, Redoc), served from the
vendored sidecar (no CDN). Their errors use the API's JSON error body like every endpoint."""

from __future__ import annotations

from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.renderers import JSONRenderer


class _JsonErrors:
    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response


class SchemaApi(_JsonErrors, SpectacularAPIView):
    pass


class SwaggerDocs(_JsonErrors, SpectacularSwaggerView):
    pass


class RedocDocs(_JsonErrors, SpectacularRedocView):
    pass
