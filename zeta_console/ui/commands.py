"""The command palette: every console action by name, offering only what is valid right now."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

from zeta_console.router.api import EndpointStatus, RouterSnapshot
from zeta_console.settings import BUILT_IN_SOURCE, Task
from zeta_console.ui import export
from zeta_console.ui.session import FAULT_LABELS, FaultKind

if TYPE_CHECKING:
    from zeta_console.ui.app import ZetaConsole

Entry = tuple[str, Callable[[], object], str]  # title, callback, help
WRITE_CONFIG_COMMAND = "config: write one from the installed models"


def all_missing(snapshot: RouterSnapshot) -> bool:
    """No configured model is installed where it should be (the first run with other models)."""
    return bool(snapshot.endpoints) and all(endpoint.status is EndpointStatus.MISSING for endpoint in snapshot.endpoints)
LOAD_PRESETS = (0.0, 1.0, 2.0, 5.0, 10.0, 50.0, 200.0)


class ConsoleCommands(Provider):
    @property
    def console(self) -> ZetaConsole:
        return self.app  # type: ignore[return-value]  # Provider.app is typed App; the palette only runs in ZetaConsole

    def entries(self) -> Iterator[Entry]:
        app = self.console
        router = app.session.router
        snapshot = router.snapshot()
        run = app.command

        yield ("screen: controls", app.action_controls, "thresholds, policy, hedging, pins, endpoints, load")
        yield ("screen: charts", app.action_charts, "latency over time, TTFT histogram")
        yield ("screen: help", app.action_help, "every key, generated from the bindings")
        yield ("prompt: new conversation", app.action_new_conversation, "forget the context; ↑ still recalls earlier prompts")
        yield ("view: resume updates" if app.paused else "view: pause updates", app.action_toggle_pause, "collection continues")
        for fmt in export.FORMATS:
            path = export.default_path(fmt, app.session.clock())
            yield (f"export: decision log as {fmt.upper()}", partial(app.export_log, path), f"writes {path.name} here")
        yield ("export: decision log to a chosen path…", app.action_export, "CSV or JSONL by extension")
        for policy in snapshot.policies:
            if policy != snapshot.policy:
                yield (f"policy: switch to {policy}", partial(run, partial(router.controls.set_policy, policy, "console"), "Policy"), "")
        if snapshot.hedging is not None:
            enabled = snapshot.hedging.enabled
            yield (
                f"hedging: switch {'off' if enabled else 'on'}",
                partial(run, partial(router.controls.set_hedging, not enabled, "console"), "Hedging"),
                "send a late first token's request to the next-best endpoint too (budgeted)",
            )
        for task, tier in sorted(snapshot.pins.items()):
            yield (
                f"tier: unpin {tier} from {task}",
                partial(run, partial(router.controls.unpin, task, "console"), "Unpin"),
                "route normally again",
            )
        for task in Task:
            need = "embedding" if task is Task.EMBEDDING else "completion"
            for model in app.session.settings.models:
                if need in model.capabilities and snapshot.pins.get(task.value) != model.tier:
                    yield (
                        f"tier: pin {model.tier} for {task.value}",
                        partial(run, partial(router.controls.pin, model.tier, task.value, "console"), "Pin"),
                        "",
                    )
        for endpoint in snapshot.endpoints:
            if endpoint.drained:
                yield (
                    f"endpoint: undrain {endpoint.id}",
                    partial(run, partial(router.controls.undrain, endpoint.id, "console"), "Undrain"),
                    "",
                )
            else:
                yield (
                    f"endpoint: drain {endpoint.id}",
                    partial(run, partial(router.controls.drain, endpoint.id, "console"), "Drain"),
                    "finish in-flight work, take no new work",
                )
            if EndpointStatus.EJECTED in endpoint.states:
                yield (
                    f"endpoint: restore {endpoint.id}",
                    partial(run, partial(router.controls.restore, endpoint.id, "console"), "Restore"),
                    "close the circuit now",
                )
            else:
                yield (
                    f"endpoint: eject {endpoint.id}",
                    partial(run, partial(router.controls.eject, endpoint.id, "console"), "Eject"),
                    "open the circuit now",
                )
        if app.session.loadgen is not None:
            current = app.session.loadgen.rate_per_s
            for rate in LOAD_PRESETS:
                if rate != current:
                    yield (f"load: {rate:g} requests/s", partial(app.set_load_rate, rate), f"now {current:g}/s; any rate in Controls (F2)")
        if app.session.faults is not None:
            for endpoint_id in app.session.faults.targets():
                for kind in FaultKind:
                    yield (f"fault: {FAULT_LABELS[kind]} — {endpoint_id}", partial(app.inject_fault, endpoint_id, kind), "simulated fleet")
        if all_missing(snapshot) and app.session.settings.source == BUILT_IN_SOURCE and not app.session.simulated:
            yield (WRITE_CONFIG_COMMAND, app.write_config_from_hosts, "as `zeta-console init` does, to the config dir; restart to use it")
        if snapshot.differs_from_config:
            yield ("settings: save to the overrides file", app.save_settings, ", ".join(sorted(snapshot.differs_from_config)))
            yield ("settings: revert to the config", app.revert_settings, "undo every operator change")

    async def discover(self) -> Hits:
        for title, callback, help_text in self.entries():
            yield DiscoveryHit(title, callback, help=help_text or None)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, callback, help_text in self.entries():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text or None)
