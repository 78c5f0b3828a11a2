from django.apps import AppConfig


class SandboxConfig(AppConfig):
    """The embedded AWS (moto server) and IdP (oidc-provider) for the demo and the tests."""

    name = "sandbox"
    verbose_name = "Sandbox"
