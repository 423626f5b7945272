"""The `zeta-console` command line: the console itself and its headless subcommands.

Each subcommand's work lives in its own module, imported only when that subcommand runs,
so `zeta-console --help` and the console start fast. The global options (--config, --demo,
--listen, --token) mean the same before or after the subcommand's name; a subcommand refuses
those it does not use rather than ignore them.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from zeta_console import __version__
from zeta_console.demo_kind import DEMO_EMULATED, DEMO_REAL
from zeta_console.errors import UserError
from zeta_console.settings import default_ollama_url


@dataclass(frozen=True)
class GlobalOption:
    flag: str
    help: str
    metavar: str | None = None  # None: a switch
    # A switch that may be followed by one of these words (`--demo` or `--demo real`): the value is
    # the word, or `plain` for the bare switch. Not argparse's nargs="?", which would also take the
    # next word when it is something else (`--demo route ...`).
    words: tuple[str, ...] = ()
    plain: str = ""

    @property
    def dest(self) -> str:
        return self.flag.removeprefix("--")


GLOBAL_OPTIONS = (
    GlobalOption("--config", "configuration file (default: ./config.yaml, then the XDG config dir)", "PATH"),
    GlobalOption(
        "--demo",
        "run against a simulated Ollama fleet started in-process (instead of --config); `--demo real`: real llama.cpp "
        "servers of a tiny model (needs the real extra)",
        words=(DEMO_REAL,),
        plain=DEMO_EMULATED,
    ),
    GlobalOption("--listen", "also serve the fleet on Ollama's and OpenAI's APIs (e.g. 127.0.0.1:11435)", "ADDR"),
    GlobalOption("--token", "bearer token required by the endpoint (needed for a non-loopback --listen)", "T"),
)


@dataclass(frozen=True)
class Command:
    name: str
    help: str  # its line in `zeta-console --help`
    description: str  # the opening line of `zeta-console NAME --help`
    handler: str  # "module:function", imported only when the command runs
    arguments: Callable[[argparse.ArgumentParser], None] = lambda parser: None
    # The global options it uses, each with its help text here (None: the common one).
    options: Mapping[str, str | None] = field(default_factory=dict)


def port_number(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)")
    return port


def _sim_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fleet", metavar="FILE", help="fleet file: hosts, models and their profiles")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=port_number, default=11434, help="port of the first host (default 11434)")
    parser.add_argument("--time-scale", type=float, default=None, help="run the latency model this many times faster")
    parser.add_argument("--scenario", metavar="FILE", help="fault timeline (YAML) to play against the fleet")


def _check_config_arguments(parser: argparse.ArgumentParser) -> None:
    # The file to check is --config, which may also be given as the positional PATH.
    parser.add_argument("config", nargs="?", metavar="PATH", default=argparse.SUPPRESS, help="file to check (same as --config)")


def _route_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prompt", help="the prompt to send")
    parser.add_argument("--task", choices=["simple", "code", "complex_reasoning", "embedding"], help="force the task type")
    parser.add_argument("--json", action="store_true", help="print one JSON object with answer and decision")


def _history_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--last", type=int, default=20, metavar="N", help="how many rows (default 20)")
    fmt = parser.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="JSON lines")
    fmt.add_argument("--csv", action="store_true", help="CSV with a header row")


def _init_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", nargs="?", metavar="PATH", help="file to write (default: the XDG config dir's config.yaml)")
    parser.add_argument(
        "--host", action="append", metavar="URL", help="a host to read, Ollama or OpenAI-compatible (repeatable; default: OLLAMA_HOST)"
    )
    parser.add_argument("--force", action="store_true", help="overwrite PATH if it exists")


def _bench_arguments(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("scenario", nargs="?", help="a shipped scenario's name (see --list) or the path of a scenario file")
    which.add_argument("--list", action="store_true", help="list the shipped scenarios and exit")
    parser.add_argument(
        "--policies",
        default="static,round_robin,threshold,least_load,adaptive,oracle",
        metavar="A,B,...",
        help="comma-separated contenders: the policies, round_robin, oracle, litellm (needs the bench extra); default all but litellm",
    )
    parser.add_argument("--quick", action="store_true", help="compress time further for a fast run")
    parser.add_argument("--json", metavar="OUT", help="write the results as JSON to OUT")


def _serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-access-log", action="store_true", help="do not print a line per request on stderr")


CONSOLE = Command(
    name="zeta-console",
    help="",
    description="Terminal console and router for a fleet of local model servers: Ollama and OpenAI-compatible ones (llama.cpp, vLLM, ...).",
    handler="zeta_console.ui.launch:run_console_command",
    options=dict.fromkeys(option.dest for option in GLOBAL_OPTIONS),
)

COMMANDS = {
    command.name: command
    for command in (
        Command(
            "sim",
            help="run an emulated Ollama host (or a fleet of them)",
            description="Run emulated Ollama hosts on loopback until Ctrl-C: the official clients talk to them as to Ollama.",
            handler="zeta_console.sim.cli:run_sim_command",
            arguments=_sim_arguments,
        ),
        Command(
            "check-config",
            help="validate a configuration file and exit",
            description="Validate a configuration file and exit: status 0 with a summary, or 2 with `file:line: key: problem`.",
            handler="zeta_console.config:run_check_config_command",
            arguments=_check_config_arguments,
            options={"config": "file to check (default: the one the console would load)"},
        ),
        Command(
            "route",
            help="route one prompt and stream the answer to stdout",
            description="Route one prompt: the answer streams to stdout, the routing decision goes to stderr.",
            handler="zeta_console.headless:run_route_command",
            arguments=_route_arguments,
            options={"config": None, "demo": None},
        ),
        Command(
            "history",
            help="show recent requests and operator actions from the journal",
            description="Show recent requests and operator actions from the journal, oldest first.",
            handler="zeta_console.history_command:run_history_command",
            arguments=_history_arguments,
            options={"config": "configuration file naming the journal"},
        ),
        Command(
            "serve",
            help="serve the fleet through the router on Ollama's and OpenAI's APIs",
            description="Serve Ollama's API (/api/*) and OpenAI's (/v1/*) through the router until Ctrl-C; the URL is printed on stdout.",
            handler="zeta_console.serve.cli:run_serve_command",
            arguments=_serve_arguments,
            options={
                "config": None,
                "demo": None,
                "listen": "address:port (default: serve.listen in the configuration, 127.0.0.1:11435)",
                "token": "bearer token; required for a non-loopback address",
            },
        ),
        Command(
            "init",
            help="write a config from the models the hosts serve",
            description="Write a configuration from the models the hosts serve (Ollama, OpenAI-compatible): shown, checked, then written.",
            handler="zeta_console.init_config:run_init_command",
            arguments=_init_arguments,
        ),
        Command(
            "bench",
            help="replay a scenario against a fresh emulator (or real llama.cpp) fleet per policy",
            description="Replay a scenario against a fresh emulator fleet (real llama.cpp servers for a `real: true` scenario) "
            "per contender and compare them.",
            handler="zeta_console.benchmark.cli:run_bench_command",
            arguments=_bench_arguments,
        ),
    )
}


class _CommandParser(argparse.ArgumentParser):
    """A subcommand's parser: it reports arguments it does not know with its own usage, not the top level's."""

    def parse_known_args(  # type: ignore[override]  # typeshed overloads it; this one signature serves both
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace, extras


def _add_global_options(parser: argparse.ArgumentParser, command: Command, default: Callable[[GlobalOption], Any]) -> None:
    for option in GLOBAL_OPTIONS:
        used = option.dest in command.options
        help_text = (command.options.get(option.dest) or option.help) if used else argparse.SUPPRESS
        kind: dict[str, Any] = {"action": "store_true"} if option.metavar is None else {"metavar": option.metavar}
        if option.words:  # given as `--demo=WORD` by _join_words
            kind = {"choices": (option.plain, *option.words), "metavar": f"[{'|'.join(option.words)}]"}
        parser.add_argument(option.flag, help=help_text, default=default(option), **kind)


def _unset(option: GlobalOption) -> Any:
    return False if option.metavar is None and not option.words else None


def _join_words(argv: Sequence[str]) -> list[str]:
    """`--demo real` -> `--demo=real`, a bare `--demo` -> `--demo=emulated`: argparse then sees one token."""
    joined: list[str] = []
    options = {option.flag: option for option in GLOBAL_OPTIONS if option.words}
    index = 0
    while index < len(argv):
        token = argv[index]
        option = options.get(token)
        if token == "--":  # what follows is positional text, e.g. a prompt that reads "--demo"
            return joined + list(argv[index:])
        if option is not None and index + 1 < len(argv) and argv[index + 1] in option.words:
            joined.append(f"{token}={argv[index + 1]}")
            index += 1
        elif option is not None:
            joined.append(f"{token}={option.plain}")
        else:
            joined.append(token)
        index += 1
    return joined


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The top-level parser and each subcommand's."""
    parser = argparse.ArgumentParser(
        prog="zeta-console",
        description=CONSOLE.description,
        epilog="--config, --demo, --listen and --token may also be written after COMMAND.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_global_options(parser, CONSOLE, _unset)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_CommandParser)
    parsers = {}
    for command in COMMANDS.values():
        parsers[command.name] = sub.add_parser(command.name, help=command.help, description=command.description)
        command.arguments(parsers[command.name])
        # SUPPRESS: a subcommand's parser writes an option only when it is given there, so the
        # value given before the subcommand's name is not overwritten by a default.
        _add_global_options(parsers[command.name], command, lambda option: argparse.SUPPRESS)
    return parser, parsers


def parse(argv: Sequence[str] | None = None) -> tuple[Command, argparse.Namespace]:
    parser, parsers = build_parser()
    args = parser.parse_args(_join_words(sys.argv[1:] if argv is None else argv))
    command = COMMANDS[args.command] if args.command else CONSOLE
    here = parsers.get(args.command, parser)
    for option in GLOBAL_OPTIONS:
        if getattr(args, option.dest) != _unset(option) and option.dest not in command.options:
            here.error(f"{option.flag} does not apply to {command.name}")
    if args.config is not None and args.demo:
        here.error("--config and --demo cannot be used together")
    return command, args


def _handler(command: Command) -> Callable[[argparse.Namespace], int]:
    module, _, function = command.handler.partition(":")
    handler: Callable[[argparse.Namespace], int] = getattr(importlib.import_module(module), function)
    return handler


def main(argv: Sequence[str] | None = None) -> int:
    command, args = parse(argv)
    try:
        # Importing the ollama client reads OLLAMA_HOST and dies on a bad one: check it first.
        default_ollama_url()
        return _handler(command)(args)
    except UserError as error:
        print(f"zeta-console: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return 130
    except asyncio.CancelledError:
        return 130


if __name__ == "__main__":
    sys.exit(main())
