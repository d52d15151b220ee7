"""Helm chart metadata, read from a chart's config blob.

Helm pushes a chart as an OCI manifest whose config (media type
``application/vnd.cncf.helm.config.v1+json``) is the chart's ``Chart.yaml`` as JSON. The
image detail of a chart shows its name, version, appVersion and description from it: a
chart's page has no platforms to show, and these are what a reader looks for. The config
is read like any config (bounded by ``LR_MAX_CONFIG_BYTES``, verified, cached by digest);
anything in it that is not a string of reasonable length is left out, never an error.
"""

from __future__ import annotations

import json

from gateway.models import api
from gateway.models import media_types as mt

# The longest text kept of each field: a description is a sentence or two, not a README.
_MAX_FIELD = 2000


def is_chart(image: api.PlatformImage) -> bool:
    return image.config_media_type == mt.HELM_CONFIG and image.config_digest is not None


def chart_metadata(body: bytes) -> api.ChartMetadata:
    """Name, version, appVersion and description of a chart's config (each None when
    missing or not text)."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        doc = None
    if not isinstance(doc, dict):
        doc = {}

    def text(key: str) -> str | None:
        value = doc.get(key)
        if not isinstance(value, str) or not value.strip():
            return None
        return value.strip()[:_MAX_FIELD]

    return api.ChartMetadata(
        name=text("name"),
        version=text("version"),
        app_version=text("appVersion"),
        description=text("description"),
    )
