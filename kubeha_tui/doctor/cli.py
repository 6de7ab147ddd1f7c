"""Running the Doctor once from the command line (no Textual)."""

from __future__ import annotations

import sys

from kubeha_tui.config import Settings
from kubeha_tui.services import build_services

from .diagnose import diagnose
from .gather import collect
from .report import COULD_NOT_LOOK, exit_status, json_report, text_report


def run_doctor(settings: Settings, *, as_json: bool, timeout: float) -> int:
    services = build_services(settings)
    try:
        obs = collect(services, timeout)
        findings = diagnose(obs)
    finally:
        services.close()
    status = exit_status(obs, findings)
    sys.stdout.write(json_report(obs, findings) if as_json else text_report(findings))
    if status == COULD_NOT_LOOK and not as_json:
        print("kubeha-tui doctor: no layer answered; nothing could be looked at", file=sys.stderr)
    return status
