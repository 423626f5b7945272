"""`zeta-console sim`: run an emulated Ollama host (or a fleet) until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from dataclasses import replace

from zeta_console.errors import UserError
from zeta_console.sim.fleet_file import load_fleet_spec
from zeta_console.sim.profiles import FleetSpec, default_fleet_spec
from zeta_console.sim.scenario import Scenario, load_scenario, play_scenario
from zeta_console.sim.server import run_fleet

MAX_PORT = 65535


def _with_ports(spec: FleetSpec, first_port: int) -> FleetSpec:
    """Hosts without a port of their own listen on --port, --port + 1, ..."""
    hosts = tuple(host if host.port else replace(host, port=first_port + index) for index, host in enumerate(spec.hosts))
    for host in hosts:
        if host.port > MAX_PORT:
            raise UserError(f"host {host.name!r} would listen on port {host.port}, beyond {MAX_PORT}: choose a lower --port", exit_code=2)
    return replace(spec, hosts=hosts)


def fleet_from_args(args: argparse.Namespace) -> FleetSpec:
    spec = load_fleet_spec(args.fleet) if args.fleet else default_fleet_spec()
    if args.time_scale is not None:
        if args.time_scale <= 0:
            raise UserError("--time-scale must be > 0", exit_code=2)
        spec = replace(spec, time_scale=args.time_scale)
    return _with_ports(spec, args.port)


async def _until_interrupted() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    await stop.wait()


async def _serve(spec: FleetSpec, address: str, scenario: Scenario | None) -> None:
    try:
        fleet_context = run_fleet(spec, address)
        async with fleet_context as fleet:
            label = "" if spec.time_scale == 1 else f" (time x{spec.time_scale:g})"
            for name, url in fleet.urls.items():
                models = ", ".join(model.name for model in fleet.host(name).spec.models)
                print(f"simulated Ollama host {name!r} listening on {url}{label}: {models}", flush=True)
            player = asyncio.get_running_loop().create_task(play_scenario(fleet, scenario, spec.time_scale)) if scenario else None
            try:
                await _until_interrupted()
            finally:
                if player is not None:
                    player.cancel()
    except OSError as error:  # SimHost.start names the host and its address
        raise UserError(str(error.strerror or error), exit_code=2) from None


def run_sim_command(args: argparse.Namespace) -> int:
    spec = fleet_from_args(args)
    scenario = load_scenario(args.scenario) if args.scenario else None
    asyncio.run(_serve(spec, args.host, scenario))
    print("emulator stopped", file=sys.stderr)
    return 0
