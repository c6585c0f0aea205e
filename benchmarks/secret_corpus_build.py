"""Build the labelled secret corpus used by bench_redaction.py from two public projects' test samples.

Data only is brought in: the sample strings each project uses to test its own detectors, with their licences
(benchmarks/secret_corpus/LICENSE-*). No code of theirs is copied or run.

- gitleaks (MIT): every rule in cmd/generate/config/rules/*.go lists true positives (``tps``) and false
  positives (``fps``). Literal strings are taken as they are; samples the rule builds from a regex
  (``secrets.NewSecret(utils.AlphaNumeric("36"))``) are generated here from that regex with a fixed seed, and
  ``GenerateSampleSecrets(id, secret)`` is rendered through the same assignment shapes gitleaks uses. The
  secret inside each true positive is located with the rule's own regex from config/gitleaks.toml.
- detect-secrets (Apache-2.0): the ``(line, should_flag)`` cases of tests/plugins/*_test.py.

Usage (checkouts of both repositories, any recent commit):
    python benchmarks/secret_corpus_build.py /path/to/gitleaks /path/to/detect-secrets

Writes benchmarks/secret_corpus/{gitleaks,detect_secrets}.jsonl. One JSON object a line:
``{"source", "rule", "label": "secret"|"benign", "text", "value"}`` where ``value`` is the secret inside
``text`` when known (null otherwise).
"""

from __future__ import annotations

import ast
import json
import random
import re
import subprocess
import sys
import tomllib
from pathlib import Path

try:
    from re import _constants as sre_constants, _parser as sre_parse  # Python 3.11+
except ImportError:  # pragma: no cover
    import sre_constants  # type: ignore[no-redef]
    import sre_parse  # type: ignore[no-redef]

OUT = Path(__file__).resolve().parent / "secret_corpus"
RNG = random.Random(20260101)

# The assignment shapes of gitleaks' GenerateSampleSecrets (cmd/generate/config/utils/generate.go).
SAMPLE_SHAPES = [
    '{i}Token="{s}"', '{i}Token = "{s}"', "{i}Token={s}", "{i}Token = {s}",
    '{{\n    "{i}_token": "{s}"\n}}', '{{"config.ini": "{I}_TOKEN={s}\\nBACKUP_ENABLED=true"}}',
    "<{i}Token>\n    {s}\n</{i}Token>", "{i}_token: {s}", "{i}_token: '{s}'", '{i}_token: "{s}"',
    'string {i}Token = "{s}";', 'var {i}Token string = "{s}"', '{i}Token := "{s}"', "{i}Token := `{s}`",
    'String {i}Token = "{s}";', 'var {i}Token = "{s}"', '${i}Token .= "{s}"', "{i}Token = '{s}'",
    '{i}Token = "{s}"', 'System.setProperty("{I}_TOKEN", "{s}")', '  "{i}Token" => "{s}"',
    '{i}_TOKEN = "{s}"', '{i}_TOKEN := "{s}"', '{i}_TOKEN ::= "{s}"', '{i}_TOKEN :::= "{s}"', '{i}_TOKEN ?= "{s}"',
]
PATTERNS = {
    "Numeric": "[0-9]{%s}", "Hex": "[a-f0-9]{%s}", "AlphaNumeric": "[a-z0-9]{%s}",
    "AlphaNumericExtendedShort": "[a-z0-9_-]{%s}", "AlphaNumericExtended": "[a-z0-9=_\\-]{%s}",
    "AlphaNumericExtendedLong": "[a-z0-9\\/=_\\+\\-]{%s}",
}


# ---------------------------------------------------------------------------------------------------------
# Generating a string from a regex (what gitleaks' reggen does for its own samples).


def _generate(tree) -> str:
    out = []
    for op, av in tree:
        if op is sre_constants.LITERAL:
            out.append(chr(av))
        elif op is sre_constants.IN:
            out.append(_pick_class(av))
        elif op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT):
            low, high, sub = av
            high = low + 3 if high is sre_constants.MAXREPEAT else high
            out.extend(_generate(sub) for _ in range(RNG.randint(low, high)))
        elif op is sre_constants.SUBPATTERN:
            out.append(_generate(av[-1]))
        elif op is sre_constants.BRANCH:
            out.append(_generate(RNG.choice(av[1])))
        elif op is sre_constants.ANY:
            out.append(RNG.choice("abcdefghijklmnopqrstuvwxyz0123456789"))
        elif op in (sre_constants.AT, sre_constants.ASSERT, sre_constants.ASSERT_NOT):
            continue
        else:
            raise ValueError(f"cannot generate {op}")
    return "".join(out)


def _pick_class(items) -> str:
    chars: list[str] = []
    for op, av in items:
        if op is sre_constants.LITERAL:
            chars.append(chr(av))
        elif op is sre_constants.RANGE:
            chars.extend(chr(c) for c in range(av[0], av[1] + 1))
        elif op is sre_constants.CATEGORY:
            chars.extend("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"
                         if "WORD" in str(av) else "0123456789" if "DIGIT" in str(av) else " ")
        else:
            raise ValueError(f"cannot generate class {op}")
    return RNG.choice(chars)


def generate(regex: str) -> str:
    return _generate(sre_parse.parse(regex))


# ---------------------------------------------------------------------------------------------------------
# A small reader for the Go expressions gitleaks' rule files use to build their samples.

_TOKEN = re.compile(
    r'(?P<ws>[ \t\r]+)|(?P<nl>\n)|(?P<comment>//[^\n]*|/\*[\s\S]*?\*/)|(?P<raw>`[^`]*`)|(?P<str>"(?:\\.|[^"\\\n])*")'
    r"|(?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)|(?P<num>\d+)|(?P<op>:=|\.\.\.|[-+*/=(){}\[\],:;.<>!&|?%^~#@$'\\])"
)


def _tokens(src: str) -> list[tuple[str, str]]:
    out = []
    for m in _TOKEN.finditer(src):
        kind = m.lastgroup
        if kind in ("ws", "comment"):
            continue
        out.append((kind, m.group()))
    return out


def _go_string(kind: str, text: str) -> str:
    if kind == "raw":
        return text[1:-1]
    return ast.literal_eval(text)


class _Expr:
    """Evaluates one Go expression from a token list; None stands for a value it cannot build."""

    def __init__(self, tokens, env):
        self.t = [t for t in tokens if t[0] != "nl"]
        self.i = 0
        self.env = env

    def peek(self, k=0):
        return self.t[self.i + k] if self.i + k < len(self.t) else ("eof", "")

    def take(self):
        tok = self.peek()
        self.i += 1
        return tok

    def expr(self):
        value = self.atom()
        while self.peek()[1] == "+":
            self.take()
            right = self.atom()
            value = value + right if isinstance(value, str) and isinstance(right, str) else None
        return value

    def args(self):
        self.take()  # (
        items = []
        while self.peek()[1] != ")" and self.peek()[0] != "eof":
            start = self.i
            items.append(self.expr())
            if self.i == start:
                self.take()
            if self.peek()[1] == "...":
                self.take()
                items[-1] = ("spread", items[-1])
            if self.peek()[1] == ",":
                self.take()
        self.take()
        return items

    def composite(self):
        self.take()  # {
        items = []
        while self.peek()[1] != "}" and self.peek()[0] != "eof":
            value = self.expr()
            if self.peek()[1] == ":":  # map literal: key: value
                self.take()
                self.expr()
                value = None
            items.append(value)
            if self.peek()[1] == ",":
                self.take()
        self.take()
        return items

    def atom(self):
        kind, text = self.take()
        if kind in ("str", "raw"):
            return _go_string(kind, text)
        if text == "[" or (kind == "ident" and text.startswith("map")):  # []string{...}, map[string]string{...}
            while self.peek()[1] not in ("{", "") and self.peek()[0] != "nl":
                self.take()
            if self.peek()[1] != "{":
                return None
            items = self.composite()
            return items if text == "[" else None
        if kind == "ident" and self.peek()[1] == "(":
            return self.call(text, self.args())
        if kind == "ident":
            return self.env.get(text)
        return None

    def call(self, name, args):
        short = name.rsplit(".", 1)[-1]
        if short in PATTERNS and args and isinstance(args[0], str):
            return PATTERNS[short] % args[0]
        if short == "Hex8_4_4_4_12":
            return "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
        if short in ("NewSecret", "newPlausibleSecret") and args and isinstance(args[0], str):
            try:
                return generate(args[0])
            except (ValueError, re.error, IndexError):
                return None
        if short == "GenerateSampleSecret" and len(args) == 2 and all(isinstance(a, str) for a in args):
            return ("sample", args[1], f'{args[0]}_api_token = "{args[1]}"')
        if short == "GenerateSampleSecrets" and len(args) == 2 and all(isinstance(a, str) for a in args):
            return [("sample", args[1], shape.format(i=args[0], I=args[0].upper(), s=args[1])) for shape in SAMPLE_SHAPES]
        if short == "Sprintf" and args and isinstance(args[0], str) and all(isinstance(a, str) for a in args[1:]):
            try:
                return args[0] % tuple(args[1:])
            except TypeError:
                return None
        if short == "append" and args:
            out = list(args[0]) if isinstance(args[0], list) else []
            for a in args[1:]:
                if isinstance(a, tuple) and a and a[0] == "spread":
                    out.extend(a[1] if isinstance(a[1], list) else [None])
                else:
                    out.append(a)
            return out
        return None


def _statements(body_tokens):
    """Split a function body into statements (Go ends one at a newline outside brackets)."""
    depth, current = 0, []
    for tok in body_tokens:
        if tok[1] in "([{" and tok[0] == "op":
            depth += 1
        elif tok[1] in ")]}" and tok[0] == "op":
            depth -= 1
        if tok[0] == "nl" and depth == 0:
            if current:
                yield current
            current = []
            continue
        current.append(tok)
    if current:
        yield current


def _functions(tokens):
    i = 0
    while i < len(tokens):
        if tokens[i] == ("ident", "func") and i + 1 < len(tokens) and tokens[i + 1][0] == "ident":
            name = tokens[i + 1][1]
            j = i
            while tokens[j][1] != "{":
                j += 1
            depth, k = 0, j
            while True:
                if tokens[k][1] == "{":
                    depth += 1
                elif tokens[k][1] == "}":
                    depth -= 1
                    if depth == 0:
                        break
                k += 1
            yield name, tokens[j + 1:k]
            i = k
        i += 1


def _rule_id(body) -> str | None:
    for n, tok in enumerate(body):
        if tok == ("ident", "RuleID") and body[n + 2][0] == "str":
            return ast.literal_eval(body[n + 2][1])
    return None


def _flatten(value):
    if isinstance(value, list):
        for v in value:
            yield from _flatten(v)
    else:
        yield value


def _python_regex(go: str) -> re.Pattern | None:
    text = go.replace(r"\z", r"\Z")
    try:
        return re.compile(text)
    except re.error:
        return None


def gitleaks_rows(repo: Path) -> tuple[list[dict], dict]:
    config = tomllib.loads((repo / "config" / "gitleaks.toml").read_text())
    regexes = {r["id"]: (r.get("regex"), r.get("secretGroup")) for r in config["rules"]}
    rows, skipped = [], {"tps": 0, "fps": 0}
    for path in sorted((repo / "cmd" / "generate" / "config" / "rules").glob("*.go")):
        tokens = _tokens(path.read_text())
        for _name, body in _functions(tokens):
            rule = _rule_id(body)
            if rule is None:
                continue
            env: dict = {}
            for stmt in _statements(body):
                plain = [t for t in stmt if t[0] != "nl"]
                if len(plain) > 2 and plain[0][0] == "ident" and plain[1][1] in (":=", "="):
                    env[plain[0][1]] = _Expr(plain[2:], env).expr()
            rx, group = regexes.get(rule, (None, None))
            compiled = _python_regex(rx) if rx else None
            for label, var in (("secret", "tps"), ("benign", "fps")):
                for item in _flatten(env.get(var)):
                    if item is None:
                        skipped[var] += 1
                        continue
                    value = None
                    if isinstance(item, tuple):
                        _, value, text = item
                    else:
                        text = item
                        if label == "secret" and compiled is not None:
                            m = compiled.search(text)
                            if m:
                                g = group or (1 if m.re.groups else 0)
                                value = m.group(g) if g <= m.re.groups else m.group()
                    rows.append({"source": "gitleaks", "rule": rule, "label": label, "text": text,
                                 "value": value if label == "secret" else None})
    return rows, skipped


def detect_secrets_rows(repo: Path) -> list[dict]:
    rows = []
    for path in sorted((repo / "tests" / "plugins").glob("*_test.py")):
        tree = ast.parse(path.read_text())
        consts = _module_constants(tree)
        if path.stem == "keyword_test":
            rows.extend(_keyword_rows(tree, consts))
            continue
        if path.stem == "high_entropy_strings_test":
            rows.extend(_entropy_rows(tree, consts))
            continue
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "parametrize" and len(node.args) >= 2):
                continue
            names = node.args[0].value if isinstance(node.args[0], ast.Constant) else ""
            fields = [n.strip() for n in str(names).split(",")]
            if not fields or fields[0] not in ("line", "payload", "token", "secret"):
                continue
            try:
                cases = _evaluate(node.args[1], consts)
            except Exception:  # noqa: BLE001 - a case we cannot rebuild is left out
                continue
            for case in cases:
                case = case if isinstance(case, tuple) else (case,)
                line = case[0]
                flag = case[fields.index("should_flag")] if "should_flag" in fields and len(case) == len(fields) else True
                if isinstance(line, str) and isinstance(flag, bool):
                    rows.append({"source": "detect-secrets", "rule": path.stem.removesuffix("_test"),
                                 "label": "secret" if flag else "benign", "text": line, "value": None})
    return rows


def _module_constants(tree) -> dict:
    consts: dict = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                consts[node.targets[0].id] = _evaluate(node.value, consts)
            except Exception:  # noqa: BLE001 - a constant we cannot rebuild is left out
                pass
    return consts


def _evaluate(node, consts):
    # The cases are literals, sometimes built with str.format from module constants: nothing else is allowed.
    return eval(compile(ast.Expression(node), "<case>", "eval"), {"__builtins__": {}}, consts)  # noqa: S307


def _keyword_rows(tree, consts) -> list[dict]:
    """KeywordDetector's (line, expected_secret) lists; the generic config cases come first. A None expected
    secret is kept as benign only in those generic cases (elsewhere it means this file type needs quotes)."""
    rows = []
    lists = [n for n in tree.body if isinstance(n, ast.Assign) and isinstance(n.targets[0], ast.Name)
             and n.targets[0].id.endswith("_TEST_CASES") and isinstance(n.value, ast.List)]
    for n in lists:
        generic = n.targets[0].id == "CONFIG_TEST_CASES"
        for element in n.value.elts:
            try:
                line, expected = _evaluate(element, consts)
            except Exception:  # noqa: BLE001
                continue
            if expected is None and not generic:
                continue
            rows.append({"source": "detect-secrets", "rule": "keyword", "label": "secret" if expected else "benign",
                         "text": line, "value": expected})
    return rows


def _entropy_rows(tree, consts) -> list[dict]:
    rows = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "parametrize" and \
                isinstance(node.args[0], ast.Constant) and node.args[0].value == "plugin, non_secret, secret":
            for element in node.args[1].elts:
                _plugin, benign, secret = element.elts
                rows.append({"source": "detect-secrets", "rule": "high_entropy_strings", "label": "secret",
                             "text": f"'{secret.value}'", "value": secret.value})
                rows.append({"source": "detect-secrets", "rule": "high_entropy_strings", "label": "benign",
                             "text": f"'{benign.value}'", "value": None})
    return rows


def _commit(repo: Path) -> str:
    try:
        return subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(gitleaks: str, detect_secrets: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    g_rows, skipped = gitleaks_rows(Path(gitleaks))
    d_rows = detect_secrets_rows(Path(detect_secrets))
    for name, rows in (("gitleaks", g_rows), ("detect_secrets", d_rows)):
        seen: set = set()
        rows[:] = [r for r in rows if (r["text"], r["label"]) not in seen and not seen.add((r["text"], r["label"]))]
        with open(OUT / f"{name}.jsonl", "w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(json.dumps({
        "gitleaks": {"rows": len(g_rows), "commit": _commit(Path(gitleaks)), "skipped": skipped},
        "detect_secrets": {"rows": len(d_rows), "commit": _commit(Path(detect_secrets))},
    }, indent=2))


if __name__ == "__main__":
    main(*sys.argv[1:3])
