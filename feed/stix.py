"""STIX 2.1 objects: the organisations' identities and the checks every posted object passes.
The one module that imports stix2; pure (no I/O)."""

import warnings
from datetime import datetime
from typing import Any

import stix2
from stix2.exceptions import STIXError
from stix2.utils import is_marking, is_sco

from feed.errors import FeedError, InvalidObject
from feed.taxii import normalise_version

SPEC_VERSION = "2.1"


def organisation_identity(organisation_id: str, name: str, created: datetime) -> str:
    """The STIX identity of an organisation, as JSON. Its id reuses the organisation's UUID."""
    identity = stix2.v21.Identity(
        id=f"identity--{organisation_id}",
        name=name,
        identity_class="organization",
        created=created,
        modified=created,
    )
    text: str = identity.serialize()
    return text


def object_version(value: dict[str, Any]) -> str | None:
    """The version of an object: its `modified`, else `created`, normalised; None if neither."""
    stamp = value.get("modified", value.get("created"))
    return None if stamp is None else normalise_version(str(stamp), field="modified")


def check_object(value: Any, author_identity: str) -> None:
    """Raise InvalidObject, saying why, unless `value` is a valid STIX 2.1 object that the
    holder of `author_identity` may publish."""
    if not isinstance(value, dict):
        raise InvalidObject(f"is a JSON {type(value).__name__}, not a STIX object")
    object_type, object_id = value.get("type"), value.get("id")
    if not isinstance(object_type, str) or not isinstance(object_id, str):
        raise InvalidObject("has no string `type` and `id`")
    if not object_id.startswith(object_type + "--"):
        raise InvalidObject(f"id {object_id!r} does not start with its type {object_type!r}--")
    sco = is_sco(object_type, SPEC_VERSION)
    spec_version = value.get("spec_version", SPEC_VERSION if sco else None)
    if spec_version != SPEC_VERSION:
        raise InvalidObject(f"spec_version is {spec_version!r}; this server stores STIX 2.1")
    try:
        with warnings.catch_warnings():
            # stix2 warns about custom content it cannot check; allow_custom accepts it.
            warnings.simplefilter("ignore")
            stix2.parse(value, allow_custom=True, version=SPEC_VERSION)
        created = value.get("created")
        modified = value.get("modified")
        if (
            created is not None
            and modified is not None
            and normalise_version(str(modified)) < normalise_version(str(created))
        ):
            raise InvalidObject(f"modified {modified} is earlier than created {created}")
        object_version(value)
    except InvalidObject:
        raise
    except FeedError as error:
        raise InvalidObject(error.description) from None
    except STIXError as error:
        raise InvalidObject(str(error)) from None
    except Exception as error:  # stix2 raises plain ValueError, TypeError... on bad input
        raise InvalidObject(f"{type(error).__name__}: {error}") from None
    _check_author(value, object_type, object_id, author_identity, sco=sco)


def _check_author(
    value: dict[str, Any], object_type: str, object_id: str, author: str, *, sco: bool
) -> None:
    """SDOs, SROs and other SMOs must name the poster as `created_by_ref`; SCOs, marking
    definitions and the poster's own identity carry no author."""
    if sco or is_marking(object_type, SPEC_VERSION) or object_id == author:
        return
    created_by = value.get("created_by_ref")
    if created_by is None:
        raise InvalidObject(f"has no created_by_ref; objects you publish need {author}")
    if created_by != author:
        raise InvalidObject(f"created_by_ref {created_by} is not your identity {author}")
