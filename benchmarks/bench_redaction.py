"""Redaction quality and speed: recall on labelled secret samples, false positives on benign look-alikes and
real prompts, and throughput, for the current engine (analyzer.redact) and, in the same run, the engine
before issue 15 (analyzer/privacy.py at BASELINE_COMMIT, loaded from git history).

    PYTHONPATH=. python benchmarks/bench_redaction.py [--json out.json] [--no-baseline]

Corpora:
- benchmarks/secret_corpus/*.jsonl: gitleaks' and detect-secrets' own test samples (see SOURCE.md there).
  A secret counts as *found* when any finding is reported in its text, and as *redacted whole* when neither
  the secret nor its last 12 characters is left in the redacted text (only where the value is known).
- benign look-alikes generated here (seeded): UUIDs, git SHAs, lockfile hashes, base64 images, digests, ids.
- real prompts from ../shared/eval (Arena-Hard, MT-Bench, CLINC150) when present: findings per 1,000 prompts.
- throughput on the prompts and answers of sample_logs/ (ingested into a temporary database).
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import struct
import subprocess
import sys
import tempfile
import time
import types
import uuid
import zlib
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "benchmarks" / "secret_corpus"
EVAL = REPO.parent / "shared" / "eval"
BASELINE_COMMIT = "e534ab0"  # the branch point of issue 15: analyzer/privacy.py with its own patterns
# gitleaks rules for the kinds issue 15 names (the rest are providers plan has no pattern for).
IN_SCOPE_RULES = (
    "aws-", "github-", "gitlab-", "slack-", "stripe-", "openai-", "anthropic-", "huggingface-", "npm-", "twilio-",
    "sendgrid-", "azure-", "gcp-", "jwt", "private-key", "generic-api-key", "curl-auth",
)


def load_engines(baseline: bool) -> dict:
    from analyzer import redact as current

    engines = {"current": current.redact}
    if baseline:
        try:
            source = subprocess.run(["git", "-C", str(REPO), "show", f"{BASELINE_COMMIT}:analyzer/privacy.py"],
                                    capture_output=True, text=True, check=True).stdout
        except (OSError, subprocess.CalledProcessError):
            print("baseline engine not available (no git history); current only", file=sys.stderr)
            return engines
        module = types.ModuleType("privacy_baseline")
        module.__package__ = "analyzer"
        exec(compile(source, "privacy_baseline.py", "exec"), module.__dict__)  # noqa: S102 - our own file
        engines["before"] = module.redact
    return engines


def corpus_rows() -> list[dict]:
    rows = []
    for path in sorted(CORPUS.glob("*.jsonl")):
        rows.extend(json.loads(line) for line in path.read_text(encoding="utf-8").splitlines())
    return rows


def _whole(redacted: str, value: str | None) -> bool | None:
    if not value or len(value) < 8:
        return None
    return value not in redacted and value[-12:] not in redacted


def score_corpus(redact, rows) -> dict:
    out: dict = defaultdict(lambda: Counter())
    misses: dict = defaultdict(list)
    for r in rows:
        red = redact(r["text"]) or ""
        flagged = red != r["text"]
        groups = [r["source"]]
        if r["source"] == "gitleaks":
            groups.append("gitleaks in scope" if r["rule"].startswith(IN_SCOPE_RULES) else "gitleaks other providers")
            if r["rule"] == "generic-api-key":
                groups.append("gitleaks generic-api-key")
        for g in groups:
            c = out[f"{g} {r['label']}"]
            c["n"] += 1
            c["flagged"] += flagged
            if r["label"] == "secret":
                whole = _whole(red, r.get("value"))
                if whole is not None:
                    c["with_value"] += 1
                    c["whole"] += whole
        if r["label"] == "secret" and not flagged and r["source"] == "gitleaks" and r["rule"].startswith(IN_SCOPE_RULES):
            misses[r["rule"]].append(r["text"][:100])
    return {"groups": {k: dict(v) for k, v in out.items()},
            "in_scope_misses": {k: {"n": len(v), "example": v[0]} for k, v in sorted(misses.items())}}


# ---------------------------------------------------------------------------------------------------------
# Benign look-alikes


def _png(rng: random.Random, size: int = 24) -> bytes:
    raw = b"".join(b"\x00" + bytes(rng.randrange(256) for _ in range(size * 3)) for _ in range(size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)) + \
        chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def lookalikes(n: int = 200, seed: int = 7) -> dict[str, list[str]]:
    rng = random.Random(seed)

    def hexs(k):
        return "".join(rng.choice("0123456789abcdef") for _ in range(k))

    def b64(k):
        return base64.b64encode(bytes(rng.randrange(256) for _ in range(k))).decode()

    fams: dict[str, list[str]] = defaultdict(list)
    for i in range(n):
        u = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        fams["uuid"].append(rng.choice([f"request_id: {u}", f'{{"id": "{u}", "status": "ok"}}', f"trace {u.upper()} failed",
                                        f"SELECT * FROM orders WHERE order_uuid = '{u}';"]))
        sha = hexs(40)
        fams["git sha"].append(rng.choice([f"commit {sha}\nAuthor: Dev <dev@localhost>", f"git checkout {sha[:12]}",
                                           f"Fixed in {sha[:7]} and reverted in {hexs(7)}.", f'rev = "{sha}"',
                                           f"https://github.com/org/repo/commit/{sha}"]))
        fams["lockfile hash"].append(rng.choice([
            f'"integrity": "sha512-{b64(64)}"', f'  integrity sha1-{b64(20)}',
            f'{{file = "pkg-{i}.tar.gz", hash = "sha256:{hexs(64)}"}}', f'checksum = "{hexs(64)}"',
            f"golang.org/x/text v0.{i}.0 h1:{b64(32)}", f"{hexs(64)}  dist/app-{i}.tar.gz",
        ]))
        fams["digest"].append(rng.choice([f"image: ghcr.io/org/app@sha256:{hexs(64)}", f"md5: {hexs(32)}",
                                          f"ETag: \"{hexs(32)}\"", f"sha1sum {hexs(40)}"]))
        fams["base64 image"].append(rng.choice([
            f"![chart](data:image/png;base64,{base64.b64encode(_png(rng)).decode()})",
            json.dumps({"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(_png(rng)).decode()}}),
        ]))
        fams["ids and numbers"].append(rng.choice([
            f"chatcmpl-{b64(21)[:29].replace('+', 'a').replace('/', 'b')}", f"msg_01{b64(18)[:22].replace('+', 'x').replace('/', 'y')}",
            f"Invoice INV-2026-{rng.randrange(10**6):06d}, total ${rng.randrange(10**5)/100:.2f}",
            f"Tracking 1Z{rng.randrange(10**15):015d}", f"ISBN 978-{rng.randrange(10)}-{rng.randrange(100, 999)}-{rng.randrange(10000, 99999)}-{rng.randrange(10)}",
            f"version {rng.randrange(10)}.{rng.randrange(30)}.{rng.randrange(30)}", f"colour #{hexs(6)} on #{hexs(6)}",
            f"arn:aws:iam::{rng.randrange(10**12):012d}:role/deploy-{i}", f"ulid {''.join(rng.choice('0123456789ABCDEFGHJKMNPQRSTVWXYZ') for _ in range(26))}",
            f"Order #{rng.randrange(10**8)} shipped {2020 + rng.randrange(7)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
        ]))
        fams["code without secrets"].append(rng.choice([
            "password = getpass.getpass()", "token = tokenizer.encode(text)", "API_KEY = os.environ['API_KEY']",
            'const apiKey = process.env.OPENAI_API_KEY;', "max_tokens = 4096", "if password == user.password:",
            'headers = {"Authorization": f"Bearer {token}"}', "key = cache_key(request)", 'secret_name: "prod-db-credentials"',
            "primary_key = 'id'", "Reset your password at https://example.com/reset", "password: str = Field(min_length=8)",
            'token_type = "bearer"', "client_secret = settings.CLIENT_SECRET", 'api_key = "<YOUR_API_KEY>"',
            'password = "${DB_PASSWORD}"', "use scikit-learn's Pipeline", "sk-learn-pipeline-for-text-classification",
        ]))
    return fams


def score_lookalikes(redact, fams) -> dict:
    out = {}
    for name, texts in fams.items():
        flagged = [t for t in texts if (redact(t) or "") != t]
        out[name] = {"n": len(texts), "flagged": len(flagged), "example": flagged[0][:120] if flagged else None}
    return out


# ---------------------------------------------------------------------------------------------------------
# Real prompts and throughput


def eval_prompts(limit_per_source: int = 1500) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for path in sorted((EVAL / "arena_hard").glob("*.jsonl")) if EVAL.exists() else []:
        texts = []
        for line in path.read_text(encoding="utf-8").split("\n"):
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            turns = rec.get("turns") or [{"content": rec.get("prompt") or rec.get("question") or ""}]
            texts.extend(t.get("content", "") if isinstance(t, dict) else str(t) for t in turns)
        out[f"arena-hard {path.stem}"] = [t for t in texts if t][:limit_per_source]
    for path in sorted((EVAL / "mt_bench").glob("*.jsonl")) if EVAL.exists() else []:
        if "question" not in path.stem:
            continue
        texts = [t for line in path.read_text(encoding="utf-8").split("\n") if line.strip()
                 for t in json.loads(line).get("turns", [])]
        out[f"mt-bench {path.stem}"] = texts[:limit_per_source]
    clinc = EVAL / "clinc150" / "data_full.json"
    if clinc.exists():
        data = json.loads(clinc.read_text())
        out["clinc150"] = [t for t, _ in data.get("train", [])][:limit_per_source]
    return out


def score_prompts(find, sources) -> dict:
    out = {}
    for name, texts in sources.items():
        kinds: Counter = Counter()
        examples: dict[str, str] = {}
        flagged = 0
        for t in texts:
            spans = find(t)
            flagged += bool(spans)
            for s, e, k in spans:
                kinds[k] += 1
                examples.setdefault(k, t[max(0, s - 30): e + 10].replace("\n", " "))
        out[name] = {"prompts": len(texts), "with_findings": flagged,
                     "per_1000": round(1000 * flagged / len(texts), 1) if texts else None,
                     "kinds": dict(kinds.most_common()), "examples": examples}
    return out


def sample_texts() -> list[str]:
    from analyzer.db import connect
    from analyzer.ingest import ingest_paths

    with tempfile.TemporaryDirectory() as tmp:
        con = connect(str(Path(tmp) / "b.duckdb"))
        ingest_paths(con, [str(REPO / "sample_logs")], config={}, warn=lambda m: None)
        texts = [t for row in con.execute("select system_prompt, prompt_text, response_text from requests").fetchall()
                 for t in row if t]
        con.close()
    return texts


def throughput(redact, texts, rounds: int = 3) -> dict:
    redact("warm up")
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for t in texts:
            redact(t)
        best = min(best, time.perf_counter() - start)
    return {"texts": len(texts), "seconds": round(best, 3), "texts_per_s": round(len(texts) / best),
            "mb_per_s": round(sum(map(len, texts)) / best / 1e6, 2)}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--no-baseline", action="store_true", help="skip the engine before issue 15")
    args = ap.parse_args(argv)
    from analyzer.redact import find

    engines = load_engines(not args.no_baseline)
    rows, fams, texts = corpus_rows(), lookalikes(), sample_texts()
    prompts = eval_prompts()
    result: dict = {"corpus_rows": len(rows), "sample_texts": len(texts)}
    for name, redact in engines.items():
        result[name] = {"corpus": score_corpus(redact, rows), "lookalikes": score_lookalikes(redact, fams),
                        "throughput": throughput(redact, texts)}
    result["current"]["real_prompts"] = score_prompts(find, prompts)
    if "before" in engines:
        result["throughput_ratio_current_over_before"] = round(
            result["current"]["throughput"]["texts_per_s"] / result["before"]["throughput"]["texts_per_s"], 2)
    _print(result)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=str))
    return result


def _print(result: dict) -> None:
    engines = [e for e in ("before", "current") if e in result]
    print(f"Labelled samples ({result['corpus_rows']} rows): share flagged; 'whole' = neither value nor its last 12 chars left")
    groups = sorted(result["current"]["corpus"]["groups"])
    for g in groups:
        cells = []
        for e in engines:
            c = result[e]["corpus"]["groups"].get(g, {})
            cell = f"{c.get('flagged', 0)}/{c.get('n', 0)} ({c.get('flagged', 0) / max(c.get('n', 1), 1):.1%})"
            if c.get("with_value"):
                cell += f", whole {c['whole']}/{c['with_value']} ({c['whole'] / c['with_value']:.1%})"
            cells.append(f"{e}: {cell}")
        print(f"  {g:<34} " + " | ".join(cells))
    print("Benign look-alikes: flagged / n")
    for fam in result["current"]["lookalikes"]:
        cells = [f"{e}: {result[e]['lookalikes'][fam]['flagged']}/{result[e]['lookalikes'][fam]['n']}" for e in engines]
        ex = result["current"]["lookalikes"][fam]["example"]
        print(f"  {fam:<22} " + " | ".join(cells) + (f"   e.g. {ex!r}" if ex else ""))
    print("Real prompts (current): prompts with any finding")
    for name, r in result["current"].get("real_prompts", {}).items():
        print(f"  {name:<32} {r['with_findings']}/{r['prompts']} ({r['per_1000']}/1000)  {r['kinds']}")
    print("Throughput on sample_logs prompts and answers:")
    for e in engines:
        t = result[e]["throughput"]
        print(f"  {e:<8} {t['texts_per_s']:>6} texts/s  {t['mb_per_s']} MB/s  ({t['texts']} texts, best of 3: {t['seconds']} s)")
    if "throughput_ratio_current_over_before" in result:
        print(f"  current / before: {result['throughput_ratio_current_over_before']}x")
    misses = result["current"]["corpus"]["in_scope_misses"]
    if misses:
        print("In-scope gitleaks rules with missed samples (current):")
        for rule, m in misses.items():
            print(f"  {rule:<40} {m['n']:>3}  e.g. {m['example']!r}")


if __name__ == "__main__":
    main()
