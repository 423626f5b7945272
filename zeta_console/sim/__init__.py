"""A faithful Ollama-API emulator: real HTTP on loopback, simulated models (see ARCHITECTURE.md)."""

from zeta_console.sim.faults import Fault
from zeta_console.sim.fleet_file import load_fleet_spec
from zeta_console.sim.profiles import FleetSpec, HostSpec, ModelProfile, default_fleet_spec, zero_latency_profile
from zeta_console.sim.scenario import Scenario, load_scenario, play_scenario
from zeta_console.sim.server import SimFleet, SimHost, run_fleet, run_fleet_in_thread

Fleet = SimFleet

__all__ = [
    "Fault",
    "Fleet",
    "FleetSpec",
    "HostSpec",
    "ModelProfile",
    "Scenario",
    "SimFleet",
    "SimHost",
    "default_fleet_spec",
    "load_fleet_spec",
    "load_scenario",
    "play_scenario",
    "run_fleet",
    "run_fleet_in_thread",
    "zero_latency_profile",
]
