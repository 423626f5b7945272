"""The `zeta-console` command line: the console itself and its headless subcommands.

Each subcommand's work lives in its own module, imported only when that subcommand runs,
so `zeta-console --help` and the console start fast.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence

from zeta_console import __version__
from zeta_console.errors import UserError


def _add_config_source(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--config", metavar="PATH", help="configuration file (default: ./config.yaml, then the XDG config dir)")
    source.add_argument("--demo", action="store_true", help="run against a simulated Ollama fleet started in-process")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zeta-console",
        description="Terminal console and router for a fleet of local Ollama models.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_config_source(parser)
    parser.add_argument("--listen", metavar="ADDR", help="also serve the Ollama-compatible endpoint (e.g. 127.0.0.1:11435)")
    parser.add_argument("--token", metavar="T", help="bearer token required by the endpoint (needed for a non-loopback --listen)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    sim = sub.add_parser("sim", help="run an emulated Ollama host (or a fleet of them)")
    sim.add_argument("--fleet", metavar="FILE", help="fleet file: hosts, models and their profiles")
    sim.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    sim.add_argument("--port", type=int, default=11434, help="port of the first host (default 11434)")
    sim.add_argument("--time-scale", type=float, default=None, help="run the latency model this many times faster")
    sim.add_argument("--scenario", metavar="FILE", help="fault timeline (YAML) to play against the fleet")

    check = sub.add_parser("check-config", help="validate a configuration file and exit")
    check.add_argument("path", nargs="?", metavar="PATH", help="file to check (default: the one the console would load)")

    route = sub.add_parser("route", help="route one prompt and stream the answer to stdout")
    route.add_argument("prompt", help="the prompt to send")
    route.add_argument("--task", choices=["simple", "code", "complex_reasoning", "embedding"], help="force the task type")
    route.add_argument("--json", action="store_true", help="print one JSON object with answer and decision")
    _add_config_source(route)

    history = sub.add_parser("history", help="show recent requests and operator actions from the journal")
    history.add_argument("--last", type=int, default=20, metavar="N", help="how many rows (default 20)")
    fmt = history.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="JSON lines")
    fmt.add_argument("--csv", action="store_true", help="CSV with a header row")
    history.add_argument("--config", metavar="PATH", help="configuration file naming the journal")

    serve = sub.add_parser("serve", help="serve an Ollama-compatible endpoint through the router")
    serve.add_argument("--listen", default="127.0.0.1:11435", metavar="ADDR", help="address:port (default 127.0.0.1:11435)")
    serve.add_argument("--token", metavar="T", help="bearer token; required for a non-loopback address")
    _add_config_source(serve)

    bench = sub.add_parser("bench", help="replay a scenario against a fresh emulator fleet per policy")
    which = bench.add_mutually_exclusive_group(required=True)
    which.add_argument("scenario", nargs="?", help="a shipped scenario's name (see --list) or the path of a scenario file")
    which.add_argument("--list", action="store_true", help="list the shipped scenarios and exit")
    bench.add_argument(
        "--policies",
        default="static,round_robin,threshold,least_load,adaptive,oracle",
        metavar="A,B,...",
        help="comma-separated contenders: the policies, round_robin, oracle, litellm (needs the bench extra); default all but litellm",
    )
    bench.add_argument("--quick", action="store_true", help="compress time further for a fast run")
    bench.add_argument("--json", metavar="OUT", help="write the results as JSON to OUT")
    return parser


def _dispatch(args: argparse.Namespace) -> int:
    command: str | None = args.command
    handler: Callable[[argparse.Namespace], int]
    if command == "sim":
        from zeta_console.sim.cli import run_sim_command as handler
    elif command == "check-config":
        from zeta_console.config import run_check_config_command as handler
    elif command == "route":
        from zeta_console.headless import run_route_command as handler
    elif command == "history":
        from zeta_console.journal import run_history_command as handler
    elif command == "serve":
        from zeta_console.serve.cli import run_serve_command as handler
    elif command == "bench":
        from zeta_console.benchmark.cli import run_bench_command as handler
    else:
        from zeta_console.ui.launch import run_console_command as handler
    return handler(args)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except UserError as error:
        print(f"zeta-console: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return 130
    except asyncio.CancelledError:
        return 130


if __name__ == "__main__":
    sys.exit(main())
