"""The wizard's two forms, their defaults and their validation (before anything is made)."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

from kubeha_tui.ceph.images import parse_size, validate_name
from kubeha_tui.errors import ServiceError

LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DIGITS = re.compile(r"[0-9]+")  # ASCII only: int() also reads '٣' (an Arabic-Indic digit)
# Ceph pool names: letters, digits, '.', '_' and '-' (what `ceph osd pool create` takes and
# `rbd` can address; no '/' or '@', which mean namespace and snapshot).
POOL = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
RBD_MAX_SIZE = 2**64 - 1  # librbd stores the size as an unsigned 64-bit number


class FormError(ServiceError):
    """Bad input in one field of a form."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def check_label(field: str, value: str) -> str:
    if not value:
        raise FormError(field, "required")
    if len(value) > 63 or not LABEL.match(value):
        raise FormError(
            field,
            f"{value!r} is not a valid name: lower-case letters, digits and '-', starting and "
            "ending with a letter or digit, at most 63 characters",
        )
    return value


def check_int(field: str, value: str, low: int, high: int) -> int:
    if not DIGITS.fullmatch(value):
        raise FormError(field, f"{value!r} is not a whole number (digits 0-9)")
    number = int(value)
    if not low <= number <= high:
        raise FormError(field, f"{number} is not between {low} and {high}")
    return number


def check_pool(value: str) -> str:
    if not value:
        raise FormError("pool", "required")
    if len(value) > 255 or not POOL.match(value):
        raise FormError(
            "pool",
            f"{value!r} is not a Ceph pool name: letters, digits, '.', '_' and '-', "
            "at most 255 characters",
        )
    return value


def check_size(value: str) -> str:
    try:
        size = parse_size(value)
    except ServiceError as exc:
        raise FormError("size", str(exc).removeprefix("size ")) from None
    if size > RBD_MAX_SIZE:
        raise FormError("size", f"{value!r} is more than librbd can make (under 16 EiB)")
    return value


@dataclass(frozen=True)
class NginxForm:
    namespace: str = "default"
    name: str = "nginx"
    image: str = "nginx:1.25"
    replicas: int = 1
    port: int = 80

    @classmethod
    def check(cls, values: dict[str, str]) -> NginxForm:
        image = values.get("image", "").strip()
        if not image or " " in image:
            raise FormError("image", "an image reference such as nginx:1.25 is required")
        return cls(
            check_label("namespace", values.get("namespace", "").strip()),
            check_label("name", values.get("name", "").strip()),
            image,
            check_int("replicas", values.get("replicas", "").strip(), 1, 50),
            check_int("port", values.get("port", "").strip(), 1, 65535),
        )


@dataclass(frozen=True)
class MariaDBForm:
    namespace: str = "default"
    name: str = "mariadb"
    volume: str = "db"  # the RBD image
    size: str = "10G"
    pool: str = "rbd"
    image: str = "mariadb:10.11"
    reuse_volume: bool = False  # an existing RBD image is used only when the operator says so

    @property
    def size_bytes(self) -> int:
        return parse_size(self.size)

    @classmethod
    def check(cls, values: dict[str, str], reuse_volume: bool = False) -> MariaDBForm:
        size = check_size(values.get("size", "").strip())
        volume = check_label("volume", values.get("volume", "").strip())
        try:
            validate_name(volume)
        except ServiceError as exc:
            raise FormError("volume", str(exc)) from None
        image = values.get("image", "").strip()
        if not image or " " in image:
            raise FormError("image", "an image reference such as mariadb:10.11 is required")
        return cls(
            check_label("namespace", values.get("namespace", "").strip()),
            check_label("name", values.get("name", "").strip()),
            volume,
            size,
            check_pool(values.get("pool", "").strip()),
            image,
            reuse_volume,
        )


def defaults(form: type[NginxForm] | type[MariaDBForm]) -> dict[str, str]:
    """The form's fields and default values, as the screen's inputs show them."""
    return {f.name: str(f.default) for f in fields(form) if not isinstance(f.default, bool)}
