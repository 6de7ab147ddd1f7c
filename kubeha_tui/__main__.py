"""``python -m kubeha_tui``."""

from kubeha_tui.cli import main

raise SystemExit(main())
