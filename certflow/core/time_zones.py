"""IANA time zone names (zoneinfo, with the tzdata package as its database wherever the host
has none): one check shared by intake (an unknown zone is a row error) and notify's windows."""

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MAX_TIME_ZONE_LENGTH = 64  # the stored columns; real names are under 40


class UnknownTimeZone(ValueError):
    """Not an IANA time zone name that zoneinfo knows."""


def iana_zone(name: str) -> ZoneInfo:
    """The IANA zone named `name` ("Asia/Tokyo"), or UnknownTimeZone saying why not. Path-like
    names are refused before zoneinfo sees them."""
    if (
        not name
        or len(name) > MAX_TIME_ZONE_LENGTH
        or name != name.strip()
        or name.startswith(("/", "."))
        or ".." in name
        or "\\" in name
    ):
        raise UnknownTimeZone(_not_a_zone(name))
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UnknownTimeZone(_not_a_zone(name)) from exc


def _not_a_zone(name: str) -> str:
    return f"{name[:64]!r} is not an IANA time zone name (e.g. Europe/Berlin, Asia/Tokyo)"
