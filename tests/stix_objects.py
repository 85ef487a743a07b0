"""Valid STIX 2.1 objects for tests, built by hand so tests do not depend on feed.stix."""

import uuid
from typing import Any


def indicator(
    author: str,
    *,
    number: int = 0,
    object_id: str | None = None,
    modified: str = "2025-01-01T00:00:00.000Z",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": object_id or f"indicator--{uuid.uuid4()}",
        "created": "2025-01-01T00:00:00.000Z",
        "modified": modified,
        "created_by_ref": author,
        "name": f"flagged wallet {number}",
        "indicator_types": ["malicious-activity"],
        "pattern": f"[cryptocurrency-wallet:value = 'wallet{number}']",
        "pattern_type": "stix",
        "valid_from": "2025-01-01T00:00:00Z",
        **extra,
    }


def envelope(*objects: dict[str, Any]) -> dict[str, Any]:
    return {"objects": list(objects)}
