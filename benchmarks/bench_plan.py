"""Export plans: export time against one ``symshape.export``, routing overhead per call, and
generate() through the plan against eager (run by hand: python benchmarks/bench_plan.py).

For each model: record a greedy generate() (batch 1), then
- ``symshape.export(model, obs.inputs)`` (one program: what the calls' main structure holds)
  and ``symshape.export_plan(model, obs, dynamic={"batch"})`` (one program per regime), both
  with ``verify=False``, and their wall times;
- routing: ``plan.route(**call)`` on a decode call (bind, flatten once, compare the treespec,
  read the sizes, test the region) against one run of the decode program, median of many;
- generate() through ``plan.bind(model)`` against eager for prompt lengths and batch sizes
  that were never recorded: tokens equal or not.
One intra-op thread (tiny models on shared cores).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import symshape
from symshape.core.copying import copy_set
from symshape.integrations.transformers.tiny_models import tiny_llama


def _llama():
    model = tiny_llama(num_layers=2, hidden_size=64, seed=3)
    model.generation_config.pad_token_id = 0
    return model, {}


def _t5():
    import transformers

    config = transformers.T5Config(
        vocab_size=128, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=2, num_heads=4,
        relative_attention_num_buckets=8, relative_attention_max_distance=16, pad_token_id=0, eos_token_id=1,
        decoder_start_token_id=0,
    )  # fmt: skip
    torch.manual_seed(0)
    return transformers.T5ForConditionalGeneration(config).eval(), {"min_new_tokens": 4}


def _mistral():
    import transformers

    config = transformers.MistralConfig(
        vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, sliding_window=8, max_position_embeddings=256,
    )  # fmt: skip
    torch.manual_seed(0)
    model = transformers.MistralForCausalLM(config).eval()
    model.generation_config.pad_token_id = 0
    return model, {}


def _mamba():
    import transformers

    config = transformers.MambaConfig(
        vocab_size=128, hidden_size=16, state_size=4, num_hidden_layers=1, conv_kernel=4, expand=2,
        pad_token_id=0, bos_token_id=0, eos_token_id=0,
    )  # fmt: skip
    torch.manual_seed(0)
    return transformers.MambaForCausalLM(config).eval(), {}


MODELS = {"llama": _llama, "t5": _t5, "mistral": _mistral, "mamba": _mamba}
#: Recorded prompt lengths and new tokens, and the replayed (batch, prompt length) pairs.
RECORD = {"llama": ((5,), 4), "t5": ((5, 7), 4), "mistral": ((5,), 8), "mamba": ((5, 7), 3)}
REPLAY = {"llama": ((1, 9), (3, 4)), "t5": ((1, 9), (3, 4)), "mistral": ((1, 5), (2, 5)), "mamba": ((2, 5), (3, 7))}


def _median_us(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def bench(name: str, repeat: int) -> None:
    model, extra = MODELS[name]()
    gen = torch.Generator().manual_seed(0)
    lengths, new_tokens = RECORD[name]
    with symshape.observe(model) as obs:
        for length in lengths:
            model.generate(input_ids=torch.randint(3, 128, (1, length), generator=gen), max_new_tokens=new_tokens,
                           do_sample=False, **extra)  # fmt: skip
    start = time.perf_counter()
    try:
        single = symshape.export(model, obs.inputs, verify=False, dynamic={"batch"})
        one = (
            f"{time.perf_counter() - start:.1f} s, covers {sum(c.covered for c in single.verify(model, probes=False))}"
        )
        one += f"/{len(obs.inputs)} calls"
    except symshape.SymshapeError as error:
        one = f"fails: {str(error).splitlines()[0][:80]}"
    start = time.perf_counter()
    plan = symshape.export_plan(model, obs, dynamic={"batch"}, verify=False)
    plan_seconds = time.perf_counter() - start
    print(f"\n== {name}: {len(obs.inputs)} recorded calls")
    print(f"one symshape.export: {one}")
    print(f"export_plan:         {plan_seconds:.1f} s, {len(plan.programs)} programs")
    for program, region in plan.regions.items():
        print(f"  {program:22} {region}  (calls {[i for i, p in plan.coverage.routed.items() if p == program]})")

    call = obs.inputs[-1]
    route = next(r for r in plan.router.routes if r.name == plan.route(**call))
    routing = _median_us(lambda: plan.route(**call), repeat)
    running = _median_us(lambda: route.run(**copy_set(call)), max(10, repeat // 10))
    copying = _median_us(lambda: copy_set(call), max(10, repeat // 10))
    through = _median_us(lambda: plan(**copy_set(call)), max(10, repeat // 10))
    print(f"routing one {route.name} call: {routing:.0f} us (median of {repeat}); running the program: "
          f"{running - copying:.0f} us; plan(**call) end to end: {through - copying:.0f} us")  # fmt: skip

    for batch, length in REPLAY[name]:
        ids = torch.randint(3, 128, (batch, length), generator=gen)
        expected = model.generate(input_ids=ids, max_new_tokens=12, do_sample=False, **extra)
        with plan.bind(model) as bound:
            got = model.generate(input_ids=ids, max_new_tokens=12, do_sample=False, **extra)
        print(f"generate batch {batch}, prompt {length}, 12 new tokens: tokens equal {torch.equal(got, expected)}, "
              f"{bound.calls} calls through the plan")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated: " + ",".join(MODELS))
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name in args.models.split(","):
        bench(name, args.repeat)


if __name__ == "__main__":
    main()
