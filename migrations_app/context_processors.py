def alerts(request):
    """Open alerts, as a banner on every page of a person with a role."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.roles:
        return {"active_alerts": []}
    from migrations_app.models import Alert

    return {"active_alerts": list(Alert.objects.filter(resolved_at=None).select_related("environment")[:5])}
