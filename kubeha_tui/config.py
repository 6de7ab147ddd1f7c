"""Settings: one table of options feeds the flags, the environment and the profiles.

Precedence is flags > environment > profile > defaults. Profiles live in
``$XDG_CONFIG_HOME/kubeha-tui/profiles.toml``, one ``[profiles.NAME]`` table per
cluster; an unknown key is an error that names it.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCREENS = ("cluster", "fleet", "kube", "ceph", "wizard", "doctor")
DEFAULT_FLEET_ENDPOINT = "unix:///var/run/fleet.sock"
DEFAULT_CEPH_CONF = "/etc/ceph/ceph.conf"
DEFAULT_SSH_USER = "core"


class ConfigError(ValueError):
    """A setting is wrong; the message says which and how to fix it.

    The parsers below say what is wrong with a value; the caller names where it came from
    (``--ssh``, ``$FLEETCTL_TUNNEL``, a profile's key), once."""


@dataclass(frozen=True)
class SSHTarget:
    """Where ``--ssh`` points. ``user``/``port`` are None when not given."""

    host: str
    user: str | None = None
    port: int | None = None

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        user = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        return f"{user}{host}{port}"


_SSH_RE = re.compile(
    r"^(?:(?P<user>[^@\s]+)@)?(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:@\s\[\]]+))(?::(?P<port>\d+))?$"
)


def parse_ssh_target(text: str) -> SSHTarget:
    m = _SSH_RE.match(text.strip())
    if not m:
        raise ConfigError(f"{text!r}: expected USER@HOST[:PORT], e.g. core@84.39.36.87")
    port = int(m["port"]) if m["port"] else None
    if port is not None and not 0 < port < 65536:
        raise ConfigError(f"{text!r}: port {port} is out of range 1-65535")
    return SSHTarget(host=m["v6"] or m["host"], user=m["user"], port=port)


def parse_fleet_endpoint(text: str) -> str:
    """fleetctl accepts a comma-separated list; we use the first endpoint."""
    first = text.split(",", maxsplit=1)[0].strip()
    if re.fullmatch(r"unix://(/\S+)", first) or re.fullmatch(r"https?://[^/\s]+/?", first):
        return first.rstrip("/")
    raise ConfigError(f"{text!r}: expected unix:///var/run/fleet.sock or http://HOST:PORT")


def parse_url(text: str) -> str:
    if not re.fullmatch(r"https?://[^/\s]+(/\S*)?", text.strip()):
        raise ConfigError(f"{text!r}: expected http(s)://HOST[:PORT]")
    return text.strip().rstrip("/")


CEPH_VIA = ("auto", "rados", "pod")


def parse_ceph_via(text: str) -> str:
    if text not in CEPH_VIA:
        raise ConfigError(f"ceph-via {text!r}: expected one of {', '.join(CEPH_VIA)}")
    return text


def parse_ceph_pod(text: str) -> str:
    if not re.fullmatch(
        r"[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-.a-z0-9]*[a-z0-9])?", text.strip()
    ):
        raise ConfigError(f"ceph-pod {text!r}: expected NAMESPACE/POD, e.g. ceph/ceph-mon-abc12")
    return text.strip()


def parse_screen(text: str) -> str:
    if text not in SCREENS:
        raise ConfigError(f"{text!r}: expected one of {', '.join(SCREENS)}")
    return text


def _expand(text: str) -> str:
    return os.path.expanduser(os.path.expandvars(text))


@dataclass(frozen=True)
class Option:
    """One setting: its profile key (also the flag's name) and where else it comes from."""

    key: str
    help: str
    env: str | None = None
    is_flag: bool = False  # a boolean switch
    parse: Callable[[str], Any] = str
    metavar: str | None = None


OPTIONS: tuple[Option, ...] = (
    Option(
        "ssh",
        "reach the cluster through this node over SSH",
        "FLEETCTL_TUNNEL",
        parse=parse_ssh_target,
        metavar="USER@HOST[:PORT]",
    ),
    Option("identity", "SSH private key file", parse=_expand, metavar="FILE"),
    Option(
        "known_hosts",
        "known_hosts file for host-key checks (default ~/.ssh/known_hosts)",
        parse=_expand,
        metavar="FILE",
    ),
    Option(
        "ssh_config",
        "OpenSSH client config read for every host, instead of ~/.ssh/config",
        "KUBEHA_SSH_CONFIG",
        parse=_expand,
        metavar="FILE",
    ),
    Option(
        "accept_new_host_key",
        "record an unknown SSH host key (a changed key is never accepted)",
        is_flag=True,
    ),
    Option(
        "fleet_endpoint",
        f"fleet API endpoint (default {DEFAULT_FLEET_ENDPOINT})",
        "FLEETCTL_ENDPOINT",
        parse=parse_fleet_endpoint,
        metavar="URL",
    ),
    Option(
        "kubeconfig",
        "kubeconfig file(s), ':'-separated (default ~/.kube/config)",
        "KUBECONFIG",
        metavar="FILE",
    ),
    Option("context", "kubeconfig context", metavar="NAME"),
    Option(
        "kube_server",
        "Kubernetes API server URL, instead of a kubeconfig",
        parse=parse_url,
        metavar="URL",
    ),
    Option(
        "ceph_conf",
        f"ceph.conf (default {DEFAULT_CEPH_CONF})",
        "CEPH_CONF",
        parse=_expand,
        metavar="FILE",
    ),
    Option("ceph_id", "Ceph client name without 'client.' (default admin)", metavar="NAME"),
    Option(
        "ceph_via",
        "Ceph through librados here, or a Ceph pod's exec (default auto: librados with the "
        "conf, else a Ceph pod; with --ssh the pod)",
        parse=parse_ceph_via,
        metavar="|".join(CEPH_VIA),
    ),
    Option(
        "ceph_pod",
        "the Ceph pod to exec into (default: a mon pod, else Rook's toolbox)",
        parse=parse_ceph_pod,
        metavar="NS/NAME",
    ),
    Option("read_only", "hide every destructive action", is_flag=True),
    Option("screen", "screen to open first", parse=parse_screen, metavar="|".join(SCREENS)),
)
OPTION_KEYS = {o.key for o in OPTIONS}


@dataclass(frozen=True)
class Settings:
    ssh: SSHTarget | None = None
    identity: str | None = None
    known_hosts: str | None = None
    ssh_config: str | None = None
    accept_new_host_key: bool = False
    fleet_endpoint: str = DEFAULT_FLEET_ENDPOINT
    kubeconfig: str | None = None
    context: str | None = None
    kube_server: str | None = None
    ceph_conf: str = DEFAULT_CEPH_CONF
    ceph_id: str = "admin"
    ceph_via: str = "auto"
    ceph_pod: str | None = None
    read_only: bool = False
    screen: str = "cluster"
    profile: str | None = None
    # Where each non-default value came from: "flag", "env:NAME" or "profile:NAME".
    sources: Mapping[str, str] = field(default_factory=dict)


def xdg_dir(kind: str) -> Path:
    """``config`` or ``state`` directory of kubeha-tui, per the XDG base-dir spec."""
    var, fallback = {
        "config": ("XDG_CONFIG_HOME", ".config"),
        "state": ("XDG_STATE_HOME", ".local/state"),
    }[kind]
    base = os.environ.get(var) or str(Path.home() / fallback)
    return Path(base) / "kubeha-tui"


def profiles_path() -> Path:
    return xdg_dir("config") / "profiles.toml"


def _unknown_key(key: str, known: set[str], where: str) -> ConfigError:
    close = difflib.get_close_matches(key, sorted(known), n=1)
    hint = (
        f" (did you mean {close[0]!r}?)" if close else f" (known keys: {', '.join(sorted(known))})"
    )
    return ConfigError(f"{where}: unknown key {key!r}{hint}")


def _coerce(opt: Option, value: Any, where: str) -> Any:
    """``value`` parsed for ``opt``; ``where`` names its source in an error."""
    if opt.is_flag:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: must be true or false, not {value!r}")
        return value
    if not isinstance(value, str):
        raise ConfigError(f"{where}: must be a string, not {value!r}")
    try:
        return opt.parse(value)
    except ConfigError as exc:
        raise ConfigError(f"{where} {exc}") from None


def load_profile(name: str | None, path: Path | None = None) -> tuple[str | None, dict[str, Any]]:
    """The named (or default) profile's values, validated. ``(None, {})`` when there is none."""
    path = path or profiles_path()
    if not path.exists():
        if name:
            raise ConfigError(f"profile {name!r} asked for, but {path} does not exist")
        return None, {}
    import tomllib  # noqa: PLC0415 - only with a profiles file (not on the way to most starts)

    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (TOML is UTF-8)") from None
    except (tomllib.TOMLDecodeError, OSError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    for key in doc:
        if key not in {"default_profile", "profiles"}:
            raise _unknown_key(key, {"default_profile", "profiles"}, str(path))
    profiles = doc.get("profiles", {})
    if not isinstance(profiles, dict):
        raise ConfigError(f"{path}: 'profiles' must be a table of [profiles.NAME] tables")
    default = doc.get("default_profile")
    if default is not None and not isinstance(default, str):
        raise ConfigError(f"{path}: default_profile must be a profile's name, not {default!r}")
    for key, table in profiles.items():
        if not isinstance(table, dict):
            raise ConfigError(
                f"{path}: profiles.{key} must be a [profiles.{key}] table of settings, "
                f"not {table!r}"
            )
    name = name or default
    if not name:
        return None, {}
    if name not in profiles:
        known = ", ".join(sorted(profiles)) or "none"
        raise ConfigError(f"{path}: no profile {name!r} (profiles: {known})")
    where = f"{path} [profiles.{name}]"
    values: dict[str, Any] = {}
    by_key = {o.key: o for o in OPTIONS}
    for key, raw in profiles[name].items():
        if key not in by_key:
            raise _unknown_key(key, OPTION_KEYS, where)
        values[key] = _coerce(by_key[key], raw, f"{where} {key}")
    return name, values


def resolve(
    flags: Mapping[str, Any],
    env: Mapping[str, str],
    profile: str | None = None,
    profiles_file: Path | None = None,
) -> Settings:
    """Merge flags (None = not given), environment and profile into Settings."""
    profile_name, from_profile = load_profile(profile, profiles_file)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for opt in OPTIONS:
        flag_value = flags.get(opt.key)
        if flag_value is not None and flag_value is not False:
            values[opt.key] = (
                flag_value
                if opt.is_flag
                else _coerce(opt, flag_value, f"--{opt.key.replace('_', '-')}")
            )
            sources[opt.key] = "flag"
        elif opt.env and env.get(opt.env):
            values[opt.key] = _coerce(opt, env[opt.env], f"${opt.env}")
            sources[opt.key] = f"env:{opt.env}"
        elif opt.key in from_profile:
            values[opt.key] = from_profile[opt.key]
            sources[opt.key] = f"profile:{profile_name}"
    return Settings(**values, profile=profile_name, sources=sources)
