"""The servers' own load gauges parsed from realistic texts: llama.cpp's /metrics (as xllamacpp's
build writes it under load), /slots and /props, vLLM's /metrics (several engines, `_created`
samples, the old KV-cache name), SGLang's, and malformed scrapes (partial, never idle)."""

from __future__ import annotations

import pytest

from zeta_console.backends.telemetry import (
    kind_from_metrics,
    kind_from_models,
    metric_signals,
    samples,
    server_root,
    slot_signals,
    total_slots,
)
from zeta_console.backends.types import QueueSignals

# /metrics of a real llama.cpp server (one slot) while three chat requests were sent at once.
LLAMACPP_METRICS = """\
# HELP llamacpp:prompt_tokens_total Number of prompt tokens processed, excluding cached tokens
# TYPE llamacpp:prompt_tokens_total counter
llamacpp:prompt_tokens_total 34
# HELP llamacpp:prompt_tokens_cached_total Number of prompt tokens reused from the cache
# TYPE llamacpp:prompt_tokens_cached_total counter
llamacpp:prompt_tokens_cached_total 0
# HELP llamacpp:prompt_seconds_total Total time spent processing prompts
# TYPE llamacpp:prompt_seconds_total counter
llamacpp:prompt_seconds_total 0.152112
# HELP llamacpp:n_decode_total Total number of llama_decode() calls, excluding speculative decoding and multimodal decoding
# TYPE llamacpp:n_decode_total counter
llamacpp:n_decode_total 44
# HELP llamacpp:n_tokens_max Largest observed sequence length (prompt + generation)
# TYPE llamacpp:n_tokens_max counter
llamacpp:n_tokens_max 77
# HELP llamacpp:prompt_tokens_seconds Average prompt throughput in tokens/s
# TYPE llamacpp:prompt_tokens_seconds gauge
llamacpp:prompt_tokens_seconds 223.52
# HELP llamacpp:predicted_tokens_seconds Average generation throughput in tokens/s
# TYPE llamacpp:predicted_tokens_seconds gauge
llamacpp:predicted_tokens_seconds 0
# HELP llamacpp:requests_processing Number of requests processing
# TYPE llamacpp:requests_processing gauge
llamacpp:requests_processing 1
# HELP llamacpp:requests_deferred Number of requests deferred
# TYPE llamacpp:requests_deferred gauge
llamacpp:requests_deferred 2
# HELP llamacpp:n_busy_slots_per_decode Average number of busy slots per llama_decode() call
# TYPE llamacpp:n_busy_slots_per_decode gauge
llamacpp:n_busy_slots_per_decode 1
"""

# vLLM's v1 engine with two data-parallel engines: every metric carries engine and model_name.
VLLM_METRICS = """\
# HELP python_gc_objects_collected_total Objects collected during gc
# TYPE python_gc_objects_collected_total counter
python_gc_objects_collected_total{generation="0"} 10342.0
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="Qwen/Qwen3-8B"} 3.0
vllm:num_requests_running{engine="1",model_name="Qwen/Qwen3-8B"} 2.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="Qwen/Qwen3-8B"} 4.0
vllm:num_requests_waiting{engine="1",model_name="Qwen/Qwen3-8B"} 1.0
# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="Qwen/Qwen3-8B"} 0.62
vllm:kv_cache_usage_perc{engine="1",model_name="Qwen/Qwen3-8B"} 0.35
# HELP vllm:prefix_cache_queries_total Prefix cache queries, in terms of number of queried tokens.
# TYPE vllm:prefix_cache_queries_total counter
vllm:prefix_cache_queries_total{engine="0",model_name="Qwen/Qwen3-8B"} 52311.0
# HELP vllm:request_success_total Count of successfully processed requests.
# TYPE vllm:request_success_total counter
vllm:request_success_total{engine="0",finished_reason="stop",model_name="Qwen/Qwen3-8B"} 118.0
vllm:request_success_created{engine="0",finished_reason="stop",model_name="Qwen/Qwen3-8B"} 1.7649e+09
# HELP vllm:time_to_first_token_seconds Histogram of time to first token in seconds.
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.1",model_name="Qwen/Qwen3-8B"} 80.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="+Inf",model_name="Qwen/Qwen3-8B"} 118.0
vllm:time_to_first_token_seconds_count{engine="0",model_name="Qwen/Qwen3-8B"} 118.0
vllm:time_to_first_token_seconds_sum{engine="0",model_name="Qwen/Qwen3-8B"} 14.2
"""

# An older vLLM (before PR #18354 took effect): the KV gauge under its old name.
VLLM_OLD_METRICS = """\
# HELP vllm:num_requests_running Number of requests currently running on GPU.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="meta-llama/Llama-3.1-8B-Instruct"} 7.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.0
# HELP vllm:gpu_cache_usage_perc GPU KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:gpu_cache_usage_perc gauge
vllm:gpu_cache_usage_perc{model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.91
"""

SGLANG_METRICS = """\
# HELP sglang:num_running_reqs The number of running requests.
# TYPE sglang:num_running_reqs gauge
sglang:num_running_reqs{model_name="Qwen/Qwen2.5-7B-Instruct"} 12.0
# HELP sglang:num_used_tokens The number of used tokens.
# TYPE sglang:num_used_tokens gauge
sglang:num_used_tokens{model_name="Qwen/Qwen2.5-7B-Instruct"} 48210.0
# HELP sglang:token_usage The token usage.
# TYPE sglang:token_usage gauge
sglang:token_usage{model_name="Qwen/Qwen2.5-7B-Instruct"} 0.27
# HELP sglang:gen_throughput The generation throughput (token/s).
# TYPE sglang:gen_throughput gauge
sglang:gen_throughput{model_name="Qwen/Qwen2.5-7B-Instruct"} 912.4
# HELP sglang:num_queue_reqs The number of requests in the waiting queue.
# TYPE sglang:num_queue_reqs gauge
sglang:num_queue_reqs{model_name="Qwen/Qwen2.5-7B-Instruct"} 3.0
# HELP sglang:prompt_tokens_total Number of prefill tokens processed.
# TYPE sglang:prompt_tokens_total counter
sglang:prompt_tokens_total{model_name="Qwen/Qwen2.5-7B-Instruct"} 1.2e+06
"""


def test_llamacpp_metrics_under_load_read_one_running_two_deferred() -> None:
    assert metric_signals("llamacpp", LLAMACPP_METRICS) == QueueSignals(server="llama.cpp", running=1, waiting=2)


def test_counters_are_looked_up_by_sample_name() -> None:
    found = samples(LLAMACPP_METRICS)
    assert found["llamacpp:prompt_tokens_total"] == [34.0]
    assert found["llamacpp:n_tokens_max_total"] == [77.0]  # the parser appends _total to a counter that lacks it
    assert "llamacpp:n_tokens_max" not in found


def test_vllm_sums_requests_over_engines_and_takes_the_fullest_kv_cache() -> None:
    assert metric_signals("vllm", VLLM_METRICS) == QueueSignals(server="vLLM", running=5, waiting=5, kv_cache_usage=0.62)


def test_an_old_vllm_reports_kv_use_under_its_old_name() -> None:
    assert metric_signals("vllm", VLLM_OLD_METRICS) == QueueSignals(server="vLLM", running=7, waiting=0, kv_cache_usage=0.91)


def test_sglang() -> None:
    assert metric_signals("sglang", SGLANG_METRICS) == QueueSignals(server="SGLang", running=12, waiting=3, kv_cache_usage=0.27)


def test_a_scrape_cut_off_mid_line_keeps_what_came_before_and_leaves_the_rest_unknown() -> None:
    cut = VLLM_OLD_METRICS[: VLLM_OLD_METRICS.index("vllm:num_requests_waiting{") + 30]
    signals = metric_signals("vllm", cut)
    assert signals == QueueSignals(server="vLLM", running=7, waiting=None, kv_cache_usage=None)
    assert signals.known  # what it says is true; waiting is unknown, not 0


def test_a_page_that_is_not_prometheus_text_is_unknown_not_idle() -> None:
    signals = metric_signals("llamacpp", "<html><body>502 Bad Gateway</body></html>")
    assert signals == QueueSignals(server="llama.cpp")
    assert not signals.known


def test_nan_values_are_left_out() -> None:
    text = "# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running NaN\nvllm:num_requests_waiting 2\n"
    assert metric_signals("vllm", text) == QueueSignals(server="vLLM", running=None, waiting=2)


def test_a_value_that_is_not_a_number_stops_the_parse_there() -> None:
    text = "llamacpp:requests_processing 1\nllamacpp:requests_deferred lots\n"
    assert metric_signals("llamacpp", text) == QueueSignals(server="llama.cpp", running=1, waiting=None)


SLOT = {
    "id": 0,
    "n_ctx": 2048,
    "speculative": False,
    "id_task": 0,
    "n_prompt_tokens": 85,
    "n_prompt_tokens_cache": 0,
    "params": {"n_predict": 60},
    "next_token": [{"has_next_token": True, "n_remain": 9, "n_decoded": 51}],
}


def test_slots_count_the_busy_ones_of_all() -> None:
    slots = [{**SLOT, "id": 0, "is_processing": True}, {**SLOT, "id": 1, "is_processing": False}, {**SLOT, "id": 2, "is_processing": True}]
    assert slot_signals(slots) == QueueSignals(server="llama.cpp", running=2, waiting=None, slots=3)


@pytest.mark.parametrize("reply", [{"error": {"code": 501, "message": "This server does not support slots endpoint."}}, [{"id": 0}], None])
def test_slots_that_cannot_be_read_are_unknown(reply: object) -> None:
    assert not slot_signals(reply).known


def test_props_give_the_slot_count() -> None:
    assert total_slots({"total_slots": 4, "default_generation_settings": {"n_ctx": 2048}}) == 4
    assert total_slots({"total_slots": True}) is None
    assert total_slots(["total_slots"]) is None


def test_the_kind_from_models_and_from_metric_prefixes() -> None:
    assert kind_from_models({"object": "list", "data": [{"id": "coder", "owned_by": "llamacpp"}]}) == "llamacpp"
    assert kind_from_models({"data": [{"id": "Qwen/Qwen3-8B", "owned_by": "vllm", "max_model_len": 32768}]}) == "vllm"
    assert kind_from_models({"object": "list", "data": [{"id": "llama3.2:latest", "owned_by": "library"}]}) is None  # Ollama's /v1
    assert kind_from_models({"object": "list", "data": None}) is None  # Ollama's /v1 with no models
    assert kind_from_metrics(SGLANG_METRICS) == "sglang"
    assert kind_from_metrics(VLLM_METRICS) == "vllm"  # python_gc_... before it does not count
    assert kind_from_metrics("# HELP process_cpu_seconds_total x\nprocess_cpu_seconds_total 3\n") is None


def test_the_server_root_is_beside_v1() -> None:
    assert server_root("http://127.0.0.1:8080/v1/") == "http://127.0.0.1:8080"
    assert server_root("http://127.0.0.1:8080") == "http://127.0.0.1:8080"
