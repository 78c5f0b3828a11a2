from django.utils.functional import SimpleLazyObject


def alerts(request):
    """Open alerts, as a banner on every page of a person with a role. Lazy: read only by a
    template that shows the banner (full pages), not by the htmx partials polled every few
    seconds."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.roles:
        return {"active_alerts": []}
    from migrations_app.models import Alert

    return {
        "active_alerts": SimpleLazyObject(
            lambda: list(Alert.objects.filter(resolved_at=None).select_related("environment")[:5])
        )
    }
