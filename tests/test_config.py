"""Settings: flags > environment > profile > defaults, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeha_tui.cli import main
from kubeha_tui.config import (
    ConfigError,
    SSHTarget,
    parse_fleet_endpoint,
    parse_ssh_target,
    profiles_path,
    resolve,
)

PROFILES = """
default_profile = "fr1"

[profiles.fr1]
ssh = "core@84.39.36.87"
identity = "~/.ssh/kubeha"
ceph_id = "kube"
read_only = true

[profiles.fr2]
ssh = "core@10.2.0.5:2222"
fleet_endpoint = "http://127.0.0.1:49153"
"""


@pytest.fixture
def profiles() -> Path:
    path = profiles_path()
    path.parent.mkdir(parents=True)
    path.write_text(PROFILES)
    return path


def test_defaults_fit_a_stack_node() -> None:
    s = resolve({}, {})
    assert (s.ssh, s.fleet_endpoint, s.kubeconfig, s.ceph_conf, s.ceph_id) == (
        None, "unix:///var/run/fleet.sock", None, "/etc/ceph/ceph.conf", "admin",
    )  # fmt: skip
    assert (s.read_only, s.screen, s.profile) == (False, "cluster", None)


def test_default_profile_applies(profiles: Path) -> None:
    s = resolve({}, {})
    assert s.profile == "fr1"
    assert s.ssh == SSHTarget("84.39.36.87", "core", None)
    assert s.identity == str(Path.home() / ".ssh/kubeha")
    assert (s.ceph_id, s.read_only) == ("kube", True)
    assert s.sources["ssh"] == "profile:fr1"


def test_flags_beat_env_beat_profile(profiles: Path) -> None:
    env = {
        "FLEETCTL_ENDPOINT": "unix:///run/env.sock",
        "FLEETCTL_TUNNEL": "10.0.0.9",
        "CEPH_CONF": "/env/ceph.conf",
    }
    s = resolve({"fleet_endpoint": "http://10.0.0.1:8080/", "ssh": None}, env, "fr2")
    assert s.fleet_endpoint == "http://10.0.0.1:8080"  # flag
    assert s.ssh == SSHTarget("10.0.0.9")  # env beats the fr2 profile's ssh
    assert s.ceph_conf == "/env/ceph.conf"
    assert s.sources == {
        "fleet_endpoint": "flag",
        "ssh": "env:FLEETCTL_TUNNEL",
        "ceph_conf": "env:CEPH_CONF",
    }


def test_profile_typo_is_rejected_naming_the_key(profiles: Path) -> None:
    profiles.write_text('[profiles.fr1]\nkubeconfg = "/x"\n')
    with pytest.raises(ConfigError, match=r"unknown key 'kubeconfg'.*did you mean 'kubeconfig'"):
        resolve({}, {}, "fr1")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('defaults = "fr1"\n', "unknown key 'defaults'"),
        ('[profiles.fr1]\nread_only = "yes"\n', "read_only: must be true or false"),
        ('default_profile = ["a"]\n', r"default_profile must be a profile's name, not \['a'\]"),
        ("[profiles]\na = 3\n", r"profiles.a must be a \[profiles.a\] table of settings, not 3"),
        ("[profiles.fr1]\nssh = 22\n", r"\[profiles.fr1\] ssh: must be a string, not 22"),
        ('[profiles.fr1]\nssh = "core@host:99999"\n', "out of range"),
        ('[profiles.fr1]\nfleet_endpoint = "tcp://x"\n', "expected unix:///var/run/fleet.sock"),
        ('[profiles.fr1]\nscreen = "pods"\n', "expected one of cluster, fleet"),
        ("[profiles.fr1\n", "profiles.toml"),
    ],
)
def test_bad_profiles_say_what_is_wrong(profiles: Path, text: str, error: str) -> None:
    profiles.write_text(text)
    with pytest.raises(ConfigError, match=error):
        resolve({}, {}, "fr1")


def test_missing_profile_lists_the_known_ones(profiles: Path) -> None:
    with pytest.raises(ConfigError, match=r"no profile 'fr3' \(profiles: fr1, fr2\)"):
        resolve({}, {}, "fr3")


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("core@84.39.36.87", SSHTarget("84.39.36.87", "core")),
        ("node1", SSHTarget("node1")),
        ("core@node1:2222", SSHTarget("node1", "core", 2222)),
        ("core@[2001:db8::1]:22", SSHTarget("2001:db8::1", "core", 22)),
    ],
)
def test_ssh_targets(text: str, target: SSHTarget) -> None:
    assert parse_ssh_target(text) == target


@pytest.mark.parametrize("text", ["", "core@", "a b", "core@host:0", "core@host:port"])
def test_bad_ssh_targets(text: str) -> None:
    with pytest.raises(ConfigError, match=r"expected USER@HOST|out of range"):
        parse_ssh_target(text)


def test_a_binary_profiles_file_is_a_clear_error(profiles: Path) -> None:
    profiles.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00")
    with pytest.raises(ConfigError, match=r"profiles.toml: not a text file \(TOML is UTF-8\)"):
        resolve({}, {}, None)


@pytest.mark.parametrize(
    ("flags", "env", "message"),
    [
        ({"ssh": "core@"}, {}, "--ssh 'core@': expected USER@HOST[:PORT]"),
        ({"kube_server": "ftp://x"}, {}, "--kube-server 'ftp://x': expected http(s)://"),
        ({}, {"FLEETCTL_TUNNEL": "a b"}, "$FLEETCTL_TUNNEL 'a b': expected USER@HOST[:PORT]"),
        ({}, {"FLEETCTL_ENDPOINT": "tcp://x"}, "$FLEETCTL_ENDPOINT 'tcp://x': expected unix://"),
    ],
)
def test_errors_name_their_source_once(
    profiles: Path, flags: dict[str, str], env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        resolve(flags, env, None)
    assert str(caught.value).startswith(message), str(caught.value)
    source = message.split(" ", maxsplit=1)[0]
    assert str(caught.value).count(source) == 1


def test_fleet_endpoint_list_takes_the_first() -> None:
    assert (
        parse_fleet_endpoint("http://10.0.0.1:4001,http://10.0.0.2:4001") == "http://10.0.0.1:4001"
    )


def test_cli_reports_config_errors_and_exits_2(
    profiles: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--profile", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kubeha-tui: error:") and "no profile 'nope'" in err


def test_cli_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith("kubeha-tui 0.")
