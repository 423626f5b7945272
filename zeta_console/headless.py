"""`zeta-console route PROMPT`: one prompt through the router, answer on stdout, decision on stderr."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from contextlib import AsyncExitStack
from typing import Any

from zeta_console.backends.types import BackendError
from zeta_console.composition import build_router, open_journal
from zeta_console.demo_kind import DEMO_REAL
from zeta_console.errors import UserError
from zeta_console.router.api import Decision, ErrorKind, RequestRecord
from zeta_console.router.errors import AttemptsFailed, RejectedError
from zeta_console.router.requests import ChatRequest, EmbedRequest
from zeta_console.router.router import ZetaDynamicRouter
from zeta_console.settings import Task


def run_route_command(args: argparse.Namespace) -> int:
    if not args.prompt.strip():
        raise UserError("the prompt is empty: give the text to route, e.g. zeta-console route 'hello'", exit_code=2)
    return asyncio.run(_route(args))


async def _route(args: argparse.Namespace) -> int:
    async with AsyncExitStack() as stack:
        if args.demo:
            from zeta_console.demo import open_demo, to_stderr

            settings = (await stack.enter_async_context(open_demo(real=args.demo == DEMO_REAL, report=to_stderr))).settings
        else:
            from zeta_console.config import load_settings, warn_unset_keys

            settings = load_settings(args.config)
            warn_unset_keys(settings)
        router = await stack.enter_async_context(build_router(settings, journal=open_journal(stack, settings, demo=bool(args.demo))))
        if args.task == Task.EMBEDDING.value:
            return await _embed(router, args)
        return await _chat(router, args)


async def _chat(router: ZetaDynamicRouter, args: argparse.Namespace) -> int:
    task = Task(args.task) if args.task else None
    stream = router.chat(ChatRequest(messages=[{"role": "user", "content": args.prompt}], task=task, client="route", interactive=True))
    answer: list[str] = []
    thinking: list[str] = []
    try:
        async with stream:
            async for delta in stream:
                if not answer and not thinking and not args.json and stream.decision is not None:
                    print(describe(stream.decision), file=sys.stderr, flush=True)
                if delta.thinking:
                    thinking.append(delta.thinking)
                if delta.content:
                    answer.append(delta.content)
                    if not args.json:
                        sys.stdout.write(delta.content)
                        sys.stdout.flush()
    except BackendError as error:
        raise _user_error(router, stream.record, error) from None
    if args.json:
        assert stream.record is not None
        print(json.dumps(_result(stream.record, "".join(answer), "".join(thinking)), ensure_ascii=False))
    elif answer:
        print()
    return 0


async def _embed(router: ZetaDynamicRouter, args: argparse.Namespace) -> int:
    try:
        result = await router.embed(EmbedRequest(input=args.prompt, client="route"))
    except BackendError as error:
        raise _user_error(router, None, error) from None
    vector = list(result.response.embeddings[0]) if result.response.embeddings else []
    if args.json:
        print(json.dumps({"embedding": vector, "decision": decision_json(result.decision), "outcome": "ok"}))
    else:
        print(describe(result.decision), file=sys.stderr)
        print(json.dumps(vector))
    return 0


def describe(decision: Decision) -> str:
    chosen = next((candidate for candidate in decision.candidates if candidate.endpoint == decision.chosen), None)
    model = f" ({chosen.model})" if chosen else ""
    return f"→ {decision.chosen}{model} [{decision.classification.task.value}]: {decision.reason}"


def decision_json(decision: Decision) -> dict[str, Any]:
    chosen = next((candidate for candidate in decision.candidates if candidate.endpoint == decision.chosen), None)
    return {
        "request_id": decision.request_id,
        "task": decision.classification.task.value,
        "confidence": decision.classification.confidence,
        "classified_by": decision.classification.method,
        "policy": decision.policy,
        "endpoint": decision.chosen,
        "tier": chosen.tier if chosen else None,
        "model": chosen.model if chosen else None,
        "host": chosen.host if chosen else None,
        "reason": decision.reason,
        "fallbacks": list(decision.fallbacks),
        "candidates": [
            {"endpoint": c.endpoint, "score": None if c.excluded else c.score, "terms": dict(c.terms), "excluded": c.excluded}
            for c in decision.candidates
        ],
    }


def _result(record: RequestRecord, answer: str, thinking: str) -> dict[str, Any]:
    return {
        "answer": answer,
        "thinking": thinking,
        "decision": decision_json(record.decision),
        "ttft_s": record.ttft_s,
        "total_s": record.total_s,
        "outcome": record.outcome.value,
    }


def _user_error(router: ZetaDynamicRouter, record: RequestRecord | None, error: BackendError) -> UserError:
    """One line; a request that failed on several endpoints names each and why."""
    unreachable = isinstance(error, AttemptsFailed) and all(e.kind is ErrorKind.UNAVAILABLE for e in error.tried.values())
    if unreachable or (error.kind is ErrorKind.UNAVAILABLE and not isinstance(error, (RejectedError, AttemptsFailed))):
        cause = error.last if isinstance(error, AttemptsFailed) else error
        endpoint = router.endpoints.get(record.endpoint) if record and record.endpoint else None
        url = endpoint.url if endpoint else router.settings.hosts[0].url
        return UserError(f"cannot reach Ollama at {url} ({cause.message}): start `ollama serve`, set OLLAMA_HOST, or try --demo")
    if isinstance(error, RejectedError):
        return UserError(f"no model can take this request: {error.message}")
    return UserError(f"the request failed: {error}")
