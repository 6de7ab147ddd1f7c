"""The deploy wizard: pick an example, fill the form, preview the exact manifests and
Ceph actions, apply with step-by-step progress, end on a result page."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from rich.syntax import Syntax
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Checkbox, ContentSwitcher, Input, Label, Log, OptionList, Static
from textual.widgets.option_list import Option

from kubeha_tui.errors import ServiceError
from kubeha_tui.kube import actions
from kubeha_tui.wizard.forms import FormError, MariaDBForm, NginxForm, defaults
from kubeha_tui.wizard.run import Plan, Result, Wizard, describe

from .base import AreaScreen
from .dialogs import OutputScreen
from .messages import StepReported
from .plain import clean, plain_text
from .widgets import BackendLine

EXAMPLES = {
    "nginx": ("nginx: a Deployment and a NodePort service", NginxForm),
    "mariadb": ("MariaDB on an RBD volume (Ceph image, secrets, Deployment)", MariaDBForm),
}
log = logging.getLogger(__name__)
LABELS = {"namespace": "Namespace", "name": "Name", "image": "Container image", "replicas": "Replicas",
          "port": "Port", "volume": "RBD image (the volume)", "size": "Volume size (10G, 512M)", "pool": "Ceph pool"}  # fmt: skip


@dataclass
class Planned(Message):
    plan: Plan | None
    error: str = ""
    field: str = ""


@dataclass
class Applied(Message):
    result: Result


class WizardScreen(AreaScreen):
    TITLE_TEXT = "Wizard"
    HELP = (
        "Deploys the stack's examples safely: nginx (a Deployment and a NodePort service; the "
        "result lists http://<node-ip>:<nodePort>) and MariaDB on an RBD volume (the Ceph image, "
        "the Ceph key's secret, a generated root password shown once, the Deployment mounting "
        "/var/lib/mysql). Every manifest and Ceph action is shown before anything is made; if a "
        "step fails, what this run made is removed again. Esc goes back a step."
    )
    HELP_READ_ONLY = (
        "Previews the stack's examples (nginx, MariaDB on an RBD volume): the exact "
        "manifests and Ceph actions. Read-only mode: nothing is applied. Esc goes back a step."
    )
    BINDINGS = [Binding("escape", "back", "Back", id="wizard.back", tooltip="Back one step")]

    def __init__(self) -> None:
        super().__init__()
        self.example = "nginx"
        self.plan: Plan | None = None

    def compose_body(self) -> ComposeResult:
        yield BackendLine("kube")
        yield BackendLine("ceph")
        with ContentSwitcher(initial="wizard-pick", id="wizard-steps"):
            with Vertical(id="wizard-pick", classes="wizard-step"):
                yield Label("Deploy an example (Enter):")
                yield OptionList(
                    *(Option(title, id=key) for key, (title, _) in EXAMPLES.items()),
                    id="wizard-examples",
                )
            with VerticalScroll(id="wizard-form", classes="wizard-step"):
                yield Vertical(id="wizard-fields")
                yield Checkbox(
                    "Reuse the RBD image if it exists (its data is kept)", id="wizard-reuse"
                )
                yield Static("", id="wizard-error", classes="error")
                with Horizontal(classes="wizard-buttons"):
                    yield Button("Back", id="wizard-form-back")
                    yield Button("Preview", variant="primary", id="wizard-preview")
            with VerticalScroll(id="wizard-review", classes="wizard-step"):
                yield Static("", id="wizard-summary")
                with Horizontal(classes="wizard-buttons"):
                    yield Button("Back", id="wizard-review-back")
                    yield Button("Show existing", id="wizard-show")
                    yield Button("Replace", variant="warning", id="wizard-replace")
                    yield Button("Apply", variant="primary", id="wizard-apply")
                yield Static("", id="wizard-yaml")
            with Vertical(id="wizard-progress", classes="wizard-step"):
                yield Log(id="wizard-log", highlight=False)
                yield Static("", id="wizard-result")
                with Horizontal(classes="wizard-buttons"):
                    yield Button("Done", id="wizard-done", disabled=True)  # fmt: skip

    def on_mount(self) -> None:
        self.query_one("#wizard-examples", OptionList).focus()

    def step(self, name: str) -> None:
        self.query_one("#wizard-steps", ContentSwitcher).current = f"wizard-{name}"

    def action_back(self) -> None:
        current = self.query_one("#wizard-steps", ContentSwitcher).current
        back = {"wizard-form": "pick", "wizard-review": "form"}.get(current or "")
        if current == "wizard-progress" and not self.query_one("#wizard-done", Button).disabled:
            back = "form"  # the run ended (a failed one too): back to the form to fix it
        if back == "pick":
            self.step(back)
            self.query_one("#wizard-examples", OptionList).focus()
        elif back == "form":
            self.step(back)
            self.query(".wizard-input").first().focus()

    # -- 1. pick, 2. form --------------------------------------------------------------

    @on(OptionList.OptionSelected, "#wizard-examples")
    async def _picked(self, event: OptionList.OptionSelected) -> None:
        self.example = event.option.id or "nginx"
        fields = self.query_one("#wizard-fields", Vertical)
        await fields.remove_children()
        for key, value in defaults(EXAMPLES[self.example][1]).items():
            entry = Input(value=value, id=f"wizard-{key}", classes="wizard-input", compact=True)
            await fields.mount(
                Horizontal(Label(LABELS.get(key, key)), entry, classes="wizard-field")
            )
        self.query_one("#wizard-reuse").display = self.example == "mariadb"
        self.query_one("#wizard-error", Static).update("")
        self.step("form")
        self.query(".wizard-input").first().focus()

    def values(self) -> dict[str, str]:
        return {
            str(i.id).removeprefix("wizard-"): i.value
            for i in self.query(".wizard-input").results(Input)
        }

    @on(Input.Submitted, ".wizard-input")
    @on(Button.Pressed, "#wizard-preview")
    def _preview(self) -> None:
        self.query_one("#wizard-error", Static).update("checking against the cluster...")
        self._plan(self.example, self.values(), self.query_one("#wizard-reuse", Checkbox).value)

    @work(thread=True, exclusive=True, exit_on_error=False, group="wizard")
    def _plan(self, example: str, values: dict[str, str], reuse: bool) -> None:
        try:
            services = self.kubeha.services
            wizard = Wizard(services.kube.client, services.ceph.ceph)
            if example == "nginx":
                plan = wizard.plan_nginx(NginxForm.check(values))
            else:
                plan = wizard.plan_mariadb(MariaDBForm.check(values, reuse_volume=reuse))
            self.post_message(Planned(plan))
        except FormError as exc:
            self.post_message(Planned(None, str(exc), exc.field))
        except ServiceError as exc:
            self.post_message(Planned(None, str(exc)))

    @on(Planned)
    def _planned(self, message: Planned) -> None:
        if message.plan is None:
            self.query_one("#wizard-error", Static).update(plain_text(message.error, "bold red"))
            if message.field and self.query(f"#wizard-{message.field}"):
                self.query_one(f"#wizard-{message.field}").focus()
            return
        self.plan = plan = message.plan
        lines = [f"Ceph: {a}" for a in plan.ceph_actions]
        lines += [f"Kubernetes: {plan.verb(o)} {describe(o)}" for o in plan.objects()]
        if plan.existing:
            lines.append(f"Already there: {', '.join(plan.existing)} (Show existing, or Replace)")
        summary = plain_text("\n".join(lines))
        if plan.refused:
            summary.append(f"\nCannot apply: {clean(plan.refused)}", style="bold red")
        if self.kubeha.read_only:
            summary.append("\nRead-only mode: preview only.", style="yellow")
        self.query_one("#wizard-summary", Static).update(summary)
        self.query_one("#wizard-yaml", Static).update(
            Syntax(plan.preview(), "yaml", theme="ansi_dark", word_wrap=True)
        )
        blocked = bool(plan.refused) or self.kubeha.read_only
        self.query_one("#wizard-apply", Button).display = not plan.existing
        self.query_one("#wizard-apply", Button).disabled = blocked
        self.query_one("#wizard-replace", Button).display = bool(plan.existing)
        self.query_one("#wizard-replace", Button).disabled = blocked
        self.query_one("#wizard-show", Button).display = bool(plan.existing)
        self.step("review")
        self.query_one(
            "#wizard-review-back"
            if blocked
            else ("#wizard-replace" if plan.existing else "#wizard-apply")
        ).focus()

    # -- 3. review, 4. apply, 5. result ------------------------------------------------

    @on(Button.Pressed, "#wizard-form-back")
    @on(Button.Pressed, "#wizard-review-back")
    def _back_pressed(self) -> None:
        self.action_back()

    @on(Button.Pressed, "#wizard-show")
    def _show_existing(self) -> None:
        plan = self.plan
        if plan is not None:
            ref = actions.Ref("deployments", plan.form.namespace, plan.form.name)
            client = self.kubeha.services.kube.client
            self.app.push_screen(
                OutputScreen(f"describe {ref}", lambda: actions.describe(client, ref))
            )

    @on(Button.Pressed, "#wizard-apply")
    @on(Button.Pressed, "#wizard-replace")
    def _apply_pressed(self, event: Button.Pressed) -> None:
        if self.plan is None or self.kubeha.read_only:
            return
        log = self.query_one("#wizard-log", Log)
        log.clear()
        self.query_one("#wizard-result", Static).update("")
        self.query_one("#wizard-done", Button).disabled = True
        self.step("progress")
        self._apply(self.plan, event.button.id == "wizard-replace")

    @work(thread=True, exclusive=True, exit_on_error=False, group="wizard")
    def _apply(self, plan: Plan, replace: bool) -> None:
        services = self.kubeha.services
        wizard = Wizard(services.kube.client, services.ceph.ceph)

        def report(line: str) -> None:
            self.post_message(StepReported(line))

        try:
            result = wizard.apply(plan, report, replace)
        except Exception as exc:  # a bug: the progress page must still end, with Done
            log.exception("wizard apply failed")
            result = Result(False, error=f"unexpected error: {type(exc).__name__}: {exc}")
        self.post_message(Applied(result))

    @on(StepReported)
    def _step_reported(self, message: StepReported) -> None:
        self.query_one("#wizard-log", Log).write_line(str(message.step))

    @on(Applied)
    def _applied(self, message: Applied) -> None:
        self.query_one("#wizard-result", Static).update(result_text(message.result))
        done = self.query_one("#wizard-done", Button)
        done.disabled = False
        done.focus()
        self.kubeha.poll("ceph")

    @on(Button.Pressed, "#wizard-done")
    def _done(self) -> None:
        self.plan = None
        self.query_one("#wizard-result", Static).update("")  # the password is shown once
        self.step("pick")
        examples = self.query_one("#wizard-examples", OptionList)
        examples.highlighted = 0
        examples.focus()


def result_text(result: Result) -> Text:
    text = Text()
    if not result.ok:
        text.append(f"Failed: {clean(result.error)}\n", style="bold red")
        if result.undone:
            text.append(clean("Undone: " + "; ".join(result.undone)) + "\n")
        text.append("Esc goes back to the form; Done to the examples.\n", style="dim")
        return text
    text.append("Done. ", style="bold green")
    text.append("The pod is running.\n" if result.running else "The pod is not running yet.\n")
    for event in result.blocked_by:
        text.append(f"  {clean(event)}\n", style="yellow")
    for url in result.urls:
        text.append(f"  {url}\n")
    if result.password:
        text.append("MariaDB root password (shown once, kept only in its Secret): ", style="bold")
        text.append(result.password + "\n", style="bold reverse")
    elif any(
        line.startswith("keeping Secret") and line.endswith("-root as it is")
        for line in result.lines
    ):
        text.append(
            "The existing root password (in its Secret) was kept: the data was made with it.\n"
        )
    return text
