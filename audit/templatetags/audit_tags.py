import json

from django import template

register = template.Library()


@register.filter
def as_json(value) -> str:
    """Compact JSON for before/after values on audit pages (escaped by the template engine)."""
    if not value:
        return ""
    return json.dumps(value, sort_keys=True, separators=(", ", ": "), default=str)
