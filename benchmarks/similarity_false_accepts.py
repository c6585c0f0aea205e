"""How often does the `similarity` check, at its default threshold, accept a wrong answer? (run on demand)

    python benchmarks/similarity_false_accepts.py [--threshold 0.5] [--embedder NAME] [--json]

Frontier answers: GPT-4's reference answers to MT-Bench's 30 math, reasoning and coding questions, both turns
(60 answers; ../shared/eval/mt_bench, Apache-2.0). Against each one, the check from analyzer.checks (the same
object plan judge uses, all-MiniLM-L6-v2 by default) scores:

- right answers, for scale: the question's own human-written reference answer;
- wrong answers a reader would reject:
  - shuffled: the frontier answer's words in a random order;
  - truncated: its first half (and first quarter) of words, an answer cut off mid-way;
  - numbers changed: every number in it altered (a wrong result in the same words);
  - other question: GPT-4's answer to another question of the same category;
  - refusal: a polite refusal, bare, and one that restates the question as refusals usually do.

Each rate is the share of pairs the check passes, with its 95% Wilson interval. Takes about a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
EVAL = REPO.parent / "shared" / "eval" / "mt_bench"

from analyzer.checks import DEFAULT_SIMILARITY_THRESHOLD, Case, make_check  # noqa: E402
from analyzer.stats import wilson_interval  # noqa: E402

REFUSAL = "I'm sorry, but I can't help with that request."


def shuffled(text: str, rng: random.Random) -> str:
    words = text.split()
    rng.shuffle(words)
    return " ".join(words)


def truncated(text: str, share: float) -> str:
    words = text.split()
    return " ".join(words[: max(1, int(len(words) * share))])


def numbers_changed(text: str, rng: random.Random) -> str | None:
    if not re.search(r"\d", text):
        return None
    return re.sub(r"\d+", lambda m: str(int(m.group()) + rng.randint(1, 9)), text)


def refusal_restating(question: str) -> str:
    first = re.split(r"(?<=[.?!])\s", question.strip(), maxsplit=1)[0]
    return f"I'm sorry, but I can't help with this request: \"{first}\" Please consult a qualified expert."


def load() -> tuple[dict, list[tuple[int, int, str]]]:
    questions = {q["question_id"]: q for q in map(json.loads, (EVAL / "mt_bench_question.jsonl").open())}
    gpt4 = [json.loads(line) for line in (EVAL / "mt_bench_reference_answer_gpt-4.jsonl").open()]
    frontier = [(r["question_id"], turn, text) for r in gpt4 for turn, text in enumerate(r["choices"][0]["turns"])]
    return questions, frontier


def pairs(questions: dict, frontier: list, seed: int) -> dict[str, list[tuple[str, str]]]:
    """(local, frontier) pairs per kind of answer."""
    rng = random.Random(seed)
    out: dict[str, list[tuple[str, str]]] = {k: [] for k in (
        "right: human reference", "shuffled words", "truncated to half", "truncated to a quarter", "numbers changed",
        "other question, same category", "refusal", "refusal restating the question")}
    for qid, turn, text in frontier:
        q = questions[qid]
        references = q.get("reference") or []
        if turn < len(references) and references[turn].strip():
            out["right: human reference"].append((references[turn], text))
        out["shuffled words"].append((shuffled(text, rng), text))
        out["truncated to half"].append((truncated(text, 0.5), text))
        out["truncated to a quarter"].append((truncated(text, 0.25), text))
        changed = numbers_changed(text, rng)
        if changed and changed != text:
            out["numbers changed"].append((changed, text))
        for oqid, oturn, other in frontier:
            if oqid != qid and oturn == turn and questions[oqid]["category"] == q["category"]:
                out["other question, same category"].append((other, text))
        out["refusal"].append((REFUSAL, text))
        out["refusal restating the question"].append((refusal_restating(q["turns"][turn]), text))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threshold", type=float, default=DEFAULT_SIMILARITY_THRESHOLD)
    parser.add_argument("--embedder", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    questions, frontier = load()
    kinds = pairs(questions, frontier, args.seed)
    params = {"name": "similarity", "threshold": args.threshold}
    if args.embedder:
        params["embedder"] = args.embedder
    check = make_check(params)
    cases = {kind: [Case(local=local, frontier=ref) for local, ref in items] for kind, items in kinds.items()}
    started = time.perf_counter()
    check.prepare([c for cs in cases.values() for c in cs])
    embed_s = time.perf_counter() - started
    results = []
    for kind, cs in cases.items():
        verdicts = [check.run(c) for c in cs]
        passed = sum(v.passed for v in verdicts)
        scores = sorted(v.score for v in verdicts if v.score is not None)
        low, high = wilson_interval(passed, len(cs))
        results.append({"answer": kind, "pairs": len(cs), "accepted": passed, "rate": passed / len(cs) if cs else None,
                        "ci_low": low, "ci_high": high, "median_cosine": scores[len(scores) // 2] if scores else None})
    if args.json:
        print(json.dumps({"threshold": args.threshold, "embed_s": embed_s, "results": results}, indent=2))
        return
    print(f"similarity check at threshold {args.threshold} ({len(frontier)} MT-Bench GPT-4 answers; embedded in {embed_s:.0f} s)")
    print(f"{'local answer':<34} {'pairs':>5} {'accepted':>9} {'rate [95% CI]':>22} {'median cosine':>14}")
    for r in results:
        rate = f"{r['rate']:.0%} [{r['ci_low']:.0%}, {r['ci_high']:.0%}]"
        print(f"{r['answer']:<34} {r['pairs']:>5} {r['accepted']:>9} {rate:>22} {r['median_cosine']:>14.2f}")


if __name__ == "__main__":
    main()
