"""The redaction engine: find secrets and personal data in text and replace each with a typed placeholder
such as [EMAIL] or [AWS_KEY].

Detectors, in order of precedence (an overlap keeps the first one's kind and the union of the spans):

1. token formats with a known shape (AWS, GitHub, Slack, Stripe, OpenAI, Anthropic, Hugging Face, GitLab, npm,
   Twilio, SendGrid, Azure, Google, JWT, whole PEM private keys, credentials in URLs, Authorization headers);
2. every plugin detect-secrets ships, found through its plugin registry rather than a hand-picked list: the
   deny-list regexes of its regex plugins, the keyword plugin's assignment regexes (run line by line, as that
   plugin does), its entropy plugins' thresholds for values in keyword positions, and, for a plugin of a kind
   this module does not know, the plugin's own ``analyze_line``;
3. keyword assignments in code and config (``CRM_TOKEN = "…"``, ``api_key: …``, ``Password=…;``);
4. personal data, each validated: e-mail, phone, card (Luhn), IBAN (country length and mod-97), US SSN, UK
   NINO, IPv4 and IPv6 addresses.

A secret is redacted whole: its span is widened to the whole token it sits in, so a pattern that stops early
(detect-secrets' Slack and JWT patterns do) leaves no tail. ``redact_many`` also removes, in every text of one
document, each value found anywhere in it (and the last 12 characters of long ones), so a key recognised by its
``password =`` context in a prompt is removed where an answer repeats it bare.

Speed: a detector runs only when one of its trigger substrings occurs in the lower-cased text (the way gitleaks
pre-filters by keyword); ``benchmarks/bench_redaction.py`` measures throughput and recall.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Iterable, NamedTuple, Protocol, overload

PLACEHOLDER = re.compile(r"\[[A-Z][A-Z0-9_]*\]")
TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-+/=")
LEFT_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
INNER_TOKEN_CHARS = frozenset(".~%")  # inside a token only when a token character follows
PII_KINDS = frozenset({"EMAIL", "PHONE", "CARD", "IBAN", "US_SSN", "UK_NINO", "IP_ADDRESS"})
TAIL_CHARS = 12  # a value this long or longer also has its last characters removed wherever they stand alone


class Finding(NamedTuple):
    start: int
    end: int
    kind: str


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    kind: str
    rank: int  # detector precedence: lower wins the kind of an overlap


@dataclass(frozen=True)
class Detector:
    kind: str
    regex: Any  # a compiled pattern, or anything with a compatible finditer (_PluginRegex)
    triggers: tuple[str, ...] = ()  # lower-case substrings; the detector runs only when one occurs ("" = always)
    group: str | int | None = None  # the value's group; None: the whole match; "auto": first group of 8+ chars
    check: Callable[[str, re.Match, int], bool] | None = None  # (value, match, value start) -> keep it?
    widen: bool = True  # extend to the whole token (secrets; never personal data)
    per_line: bool = False  # the regex was written for one line at a time
    prefilter: re.Pattern | None = None  # a cheap pattern the text (or, per line, the line) must contain
    trim_unquoted: bool = False  # an unquoted value ends at the first space or separator
    on_lower: bool = False  # the regex (written in lower case, no IGNORECASE) runs over the lower-cased text
    # The match must not continue a word. Checked on each match instead of a leading \b, which would stop the
    # regex engine from skipping ahead to the pattern's first letters (measured: up to 5x slower per pattern).
    boundary: bool = False


def shannon_entropy(value: str) -> float:
    if not value:
        return 0.0
    counts = Counter(value)
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


# ---------------------------------------------------------------------------------------------------------
# Validators


def _luhn_ok(digits: str) -> bool:
    total, parity = 0, len(digits) % 2
    for i, ch in enumerate(digits):
        d = int(ch)
        if i % 2 == parity:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


# IBAN length per country (ISO 13616 registry); a wrong length is not an IBAN whatever its checksum.
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27, "BR": 29,
    "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
    "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
    "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
    "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20,
    "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25,
    "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27,
    "SO": 23, "ST": 25, "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}


def _iban_ok(value: str, match=None, start: int = 0) -> bool:
    s = value.replace(" ", "")
    expected = IBAN_LENGTHS.get(s[:2])
    if expected is not None and len(s) != expected:
        return False
    if not 15 <= len(s) <= 34:
        return False
    try:
        number = int("".join(str(int(ch, 36)) for ch in s[4:] + s[:4]))
    except ValueError:
        return False
    return number % 97 == 1


# Issuer prefixes and the lengths their cards have (ISO/IEC 7812 ranges in use).
_CARD_BRANDS = [
    (re.compile(r"^4"), (13, 16, 19)), (re.compile(r"^(?:5[1-5]|2(?:2[2-9]|[3-6]\d|7[01]|720))"), (16,)),
    (re.compile(r"^3[47]"), (15,)), (re.compile(r"^(?:6011|65|64[4-9])"), (16, 17, 18, 19)),
    (re.compile(r"^35(?:2[89]|[3-8]\d)"), (16, 17, 18, 19)), (re.compile(r"^3(?:0[0-5]|[68])"), (14, 15, 16, 17, 18, 19)),
    (re.compile(r"^62"), (16, 17, 18, 19)), (re.compile(r"^(?:50|5[6-9]|6)"), tuple(range(12, 20))),
]


def _card_ok(value: str, match=None, start: int = 0) -> bool:
    digits = re.sub(r"\D", "", value)
    if not (12 <= len(digits) <= 19 and len(set(digits)) > 1 and _luhn_ok(digits)):
        return False
    return any(rx.match(digits) and len(digits) in lengths for rx, lengths in _CARD_BRANDS)


def _ipv4_ok(value: str, match=None, start: int = 0) -> bool:
    try:
        ip = ipaddress.IPv4Address(value)
    except ValueError:
        return False
    return not (ip.is_loopback or ip.is_unspecified)


def _ipv6_ok(value: str, match=None, start: int = 0) -> bool:
    try:
        ip = ipaddress.IPv6Address(value)
    except ValueError:
        return False
    groups = [g for g in value.split(":") if g]
    # "::" alone, "a::b" and times like 10:30:00 are not addresses worth hiding.
    return len(groups) >= 3 and not (ip.is_loopback or ip.is_unspecified)


def _phone_ok(value: str, match=None, start: int = 0) -> bool:
    return 9 <= len(re.sub(r"\D", "", value)) <= 15


_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
_WORDY = re.compile(r"[a-z]{4,}|[A-Z][a-z]{3,}")
_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*(?:(?:\.|::|->)[A-Za-z_$][A-Za-z0-9_$]*)*(?:\(\)?|\[)?$")
_REFERENCE = re.compile(
    r"^(?:\$|%\(|\{\{|<[^>]*>$|\{[^}]*\}$|@\{|#\{|process\.env|os\.environ|os\.getenv|getenv|env\(|ENV\[|"
    r"secrets\.|vault:|ref\+|\*{3,}|x{4,}$|X{4,}$|\.{3,}|…)"
)
_TEMPLATE = re.compile(r"\$\{[A-Za-z_][\w.:-]*\}|\{\{\s*[\w.]+\s*\}\}|%\([\w]+\)s")
_LITERALS = frozenset({"true", "false", "null", "none", "nil", "undefined", "yes", "no", "on", "off", "required",
                       "optional", "string", "str", "bytes", "int", "bool", "text", "password", "secret", "token",
                       "redacted", "hidden", "empty"})


def looks_random(value: str) -> bool:
    """A machine-made value (key, token, hash) rather than a word, an identifier or an id."""
    if len(value) < 8 or _UUID.match(value) or _sequential(value):
        return False
    wordy = sum(len(w) for w in _WORDY.findall(value))
    if wordy >= 0.6 * len(value):
        return False
    has_digit = any(c.isdigit() for c in value)
    has_alpha = any(c.isalpha() for c in value)
    entropy = shannon_entropy(value)
    if all(c in "0123456789abcdefABCDEF" for c in value):
        return entropy > HEX_ENTROPY_LIMIT and len(value) >= 16  # detect-secrets' hex limit
    return (has_digit and has_alpha and entropy >= 3.0) or entropy > BASE64_ENTROPY_LIMIT


def _sequential(value: str) -> bool:
    upper = value.upper()
    return any(upper in seq for seq in _SEQUENCES)


_SEQUENCES = (
    "ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/",
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMNOPQRSTUVWXYZ+/",
    "0123456789012345678901234567890123456789",
)
HEX_ENTROPY_LIMIT = 3.0  # detect-secrets' defaults, replaced by the plugins' own when they load
BASE64_ENTROPY_LIMIT = 4.5


def assignment_value_ok(value: str, *, quoted: bool, strong: bool, env_style: bool = False) -> bool:
    """Is the right-hand side of ``<secret-ish name> = value`` a literal secret, not code or a placeholder?"""
    value = value.strip()
    bare = PLACEHOLDER.sub("", value).strip()
    if len(bare) < 4 or not any(c.isalnum() for c in bare) or bare.lower() in _LITERALS:
        return False
    if _REFERENCE.match(value) or _TEMPLATE.search(value):
        return False
    if not quoted and not env_style:
        if _IDENTIFIER.match(value) and not any(c.isdigit() for c in value):
            return False  # password = user_password, token = tokenizer.encode(
        if value.isdigit() and len(value) < 6:
            return False
    if not strong:
        return looks_random(value)
    return True


# ---------------------------------------------------------------------------------------------------------
# Token formats


def _mixed(value: str, match=None, start: int = 0) -> bool:
    """Random keys mix digits and upper- and lower-case letters; prose with a matching prefix does not."""
    body = value.split("-", 1)[-1] if value.startswith("sk-") else value
    return sum((any(c.isdigit() for c in body), any(c.isupper() for c in body), any(c.islower() for c in body))) >= 2 \
        and not _WORDY.fullmatch(body)


def _openai_ok(value: str, match=None, start: int = 0) -> bool:
    body = re.sub(r"^sk-(?:proj-|svcacct-|admin-|None-)?", "", value)
    return looks_random(body) and any(c.isdigit() for c in body)


def _aws_secret_context(value: str, match, start: int = 0) -> bool:
    text = match.string
    window = text[max(0, match.start() - 200): match.end() + 200].lower()
    return ("aws" in window or "akia" in window or "asia" in window) and looks_random(value) and \
        any(c.isupper() for c in value) and any(c.islower() for c in value)


# Ids that APIs print in the open (completion, message, request, Stripe object ids): not secrets.
_PUBLIC_ID = re.compile(r"^(?:chatcmpl|cmpl|msg|req|resp|run|thread|asst|file|batch|ch|cus|pi|in|prod|price|sub|evt|"
                        r"toolu|call|step|vs|ft|ftjob|modr|org|proj|user|sess|span|trace)[_-]")


def _bare_token_ok(value: str, match, start: int = 0) -> bool:
    if _PUBLIC_ID.match(value) or match.string[max(0, start - 7):start] == "base64,":
        return False
    digits = sum(c.isdigit() for c in value)
    upper = sum(c.isupper() for c in value)
    lower = sum(c.islower() for c in value)
    return digits >= 3 and upper >= 3 and lower >= 3 and shannon_entropy(value) >= 4.0 and looks_random(value)


def _jwt_ok(value: str, match=None, start: int = 0) -> bool:
    return value.count(".") >= 1 and len(value) >= 24


_ASSIGN_KEY = (
    r"(?P<key>(?:pass(?:word|wd|phrase|code)?|pwd|secret|token|api[_\-]?key|apikey|"
    r"access[_\-]?key(?:[_\-]?id)?|private[_\-]?key|auth[_\-]?key|client[_\-]?key|credentials?|creds|key|auth|sig|"
    r"signature|session[_\-]?id|cookie|dsn|conn(?:ection)?[_\-]?str(?:ing)?|contrase(?:ñ|n)a))"
)
_STRONG_KEY = re.compile(
    r"(?i)(?:pass(?:word|wd|phrase|code)?|pwd|secret|token|api[_\-]?key|apikey|access[_\-]?key|private[_\-]?key|"
    r"auth[_\-]?key|client[_\-]?key|credentials?|creds|dsn|contrase(?:ñ|n)a)$"
)
_NOT_SECRET_KEY = re.compile(r"(?i)(?:(?:com|by|sur|tres|over|under)pass|(?:mon|tur|whis|don|joc|hoc)key|public[_\-]?key|pubkey|publishable[_\-]?key|primary[_\-]?key|foreign[_\-]?key|"
                             r"sort[_\-]?key|partition[_\-]?key|cache[_\-]?key|keyboard|hotkey|monkey|turkey|csrf[_\-]?token|"
                             r"max[_\-]?tokens?|next[_\-]?token|page[_\-]?token|continuation[_\-]?token)$")
# The keyword first (its letters let the regex engine skip ahead); the rest of the name is read backwards.
ASSIGNMENT = re.compile(
    _ASSIGN_KEY + r"(?![a-z0-9_])"
    r"(?P<close>[\"'\]]{0,2})[ \t]*(?P<op>:{1,3}=|\?=|=>|==?=?|!==?|:|[ \t](?=[\"'`]))[ \t]*@?"
    # A quoted value may end without its closing quote where a line or an excerpt was cut.
    r"(?:(?P<q>[\"'`])(?P<vq>(?:(?!(?P=q))[^\n\\…]|\\.){1,500}?)(?:(?P=q)|(?=…|\n)|$)|(?P<vu>[^\s\"'`,;&<>(){}\[\]|…]*[^\s\"'`,;&<>(){}\[\]|…:]))"
)
CLI_FLAG = re.compile(
    r"(?i)(?<![\w-])--?(?P<key>(?:[a-z0-9]+[-_])*(?:password|passwd|pass|token|api[-_]?key|secret|auth[-_]?token|"
    r"access[-_]?key|client[-_]?secret))[ \t]+(?P<q>[\"']?)(?P<v>[^\s\"']{4,500})(?P=q)"
)


_DESCRIBES_SECRET = re.compile(r"[_\-.](?:name|names|id|ids|len|length|size|type|file|path|url|uri|version|prefix|arn|"
                               r"ref|env|var|field|header|param|hash|count|format|policy|rotation|store|manager|key_?id)"
                               r"[\"'\]]*\s*(?:[:=!(]|$)", re.IGNORECASE)
_UNQUOTED_END = re.compile(r"[\s;&,]")
_KEY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")


def _full_key(match: re.Match) -> str:
    text, start = match.string, match.start("key")
    while start > 0 and text[start - 1] in _KEY_CHARS and match.start("key") - start < 60:
        start -= 1
    return text[start: match.end("key")]


def _assignment_kind_and_value(match: re.Match, text: str) -> tuple[str, int, int] | None:
    """``match`` ran over the lower-cased ``text``: names are read from it, the value and its case from ``text``."""
    key = _full_key(match)
    if _NOT_SECRET_KEY.search(key):
        return None
    quoted = match.group("vq") is not None
    group = "vq" if quoted else "vu"
    value = text[match.start(group): match.end(group)]
    key = text[match.end("key") - len(key): match.end("key")]
    env_style = match.group("op") == "=" and key.isupper() and not quoted and match.group("close") == ""
    strong = bool(_STRONG_KEY.search(key))
    if not assignment_value_ok(value, quoted=quoted, strong=strong, env_style=env_style):
        return None
    if re.search(r"(?i)(?<![a-z])pass$|[_\-]pass$", key) and re.search(r"\s", value) and not key.lower().endswith("db_pass"):
        return None  # "first_pass": "-pass 1 -an ..." is an ffmpeg pass, not a password
    lower = key.lower()
    if "aws" in lower and "secret" in lower:
        kind = "AWS_SECRET_KEY"
    elif re.search(r"pass|pwd|contrase", lower):
        kind = "PASSWORD"
    else:
        kind = "SECRET"
    start, end = match.span(group)
    return kind, start, end


def _token_detectors() -> list[Detector]:
    d = Detector
    return [
        d("PRIVATE_KEY", re.compile(r"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----[\s\S]{0,20000}?"
                                    r"-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----"), ("private key",), widen=False),
        # A key cut short (no END line): the header and every base64 line or chunk after it.
        d("PRIVATE_KEY", re.compile(r"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----(?:(?:\s|\\[rn])*"
                                    r"(?:[A-Za-z0-9+/=]{8,}|[A-Za-z-]+: [^\n\\]{0,200}))*"), ("private key",), widen=False),
        d("PRIVATE_KEY", re.compile(r"PuTTY-User-Key-File-\d: [\s\S]{0,8000}?Private-MAC: [0-9a-f]+"), ("putty",), widen=False),
        d("AWS_KEY", re.compile(r"(?<![A-Z0-9])(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Z0-9])"),
          ("akia", "asia", "abia", "acca", "a3t")),
        d("AWS_SECRET_KEY", re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"), ("aws", "akia", "asia"),
          check=_aws_secret_context),
        d("GITHUB_TOKEN", re.compile(r"(?:gh[pousr]_[A-Za-z0-9_]{30,}|github_pat_[A-Za-z0-9_]{22,})"), ("gh", "github_pat_"), boundary=True),
        d("GITLAB_TOKEN", re.compile(r"(?:gl(?:pat|dt|ft|soat|rt|cbt|imt|agent|oas|ptt|ffct|cf|wt)-[A-Za-z0-9_\-.]{20,}|"
                                     r"GR1348941[A-Za-z0-9_\-]{20,})"), ("gl", "gr1348941"), boundary=True),
        d("SLACK_TOKEN", re.compile(r"xox[abposre](?:\.xox[abposre])?-[A-Za-z0-9-]{10,}|xapp-\d-[A-Za-z0-9-]{10,}|"
                                    r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/]+"),
          ("xox", "xapp-", "hooks.slack.com"), boundary=True),
        d("STRIPE_KEY", re.compile(r"(?:sk|rk|pk)_(?:live|test|prod)_[0-9A-Za-z]{10,}|whsec_[0-9A-Za-z]{20,}"),
          ("_live_", "_test_", "_prod_", "whsec_"), boundary=True),
        d("ANTHROPIC_KEY", re.compile(r"sk-ant-[A-Za-z0-9_\-]{20,}"), ("sk-ant-",), boundary=True),
        d("OPENAI_KEY", re.compile(r"sk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_\-]{20,}"), ("sk-",), check=_openai_ok, boundary=True),
        d("HUGGINGFACE_TOKEN", re.compile(r"(?:hf_|api_org_)[A-Za-z0-9]{30,40}(?![A-Za-z0-9])"), ("hf_", "api_org_"),
          check=_mixed, boundary=True),
        d("NPM_TOKEN", re.compile(r"npm_[A-Za-z0-9]{36}(?![A-Za-z0-9])"), ("npm_",), boundary=True),
        d("SENDGRID_KEY", re.compile(r"SG\.[A-Za-z0-9_\-]{16,32}\.[A-Za-z0-9_\-]{16,64}"), ("sg.",), boundary=True),
        d("TWILIO_KEY", re.compile(r"(?:SK|AC)[0-9a-fA-F]{32}(?![A-Za-z0-9_])"), ("sk", "ac"), check=_mixed, boundary=True),
        d("AZURE_KEY", re.compile(r"(?<![A-Za-z0-9_~.])[A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.\-]{31,34}(?![A-Za-z0-9_~.\-])"), ("q~",)),
        d("AZURE_KEY", re.compile(r"(?i)(?:AccountKey|SharedAccessKey|SharedSecret)=(?P<v>[A-Za-z0-9+/=]{20,})"),
          ("accountkey", "sharedaccesskey", "sharedsecret"), group="v"),
        d("AZURE_KEY", re.compile(r"(?i)[?&]sig=(?P<v>[A-Za-z0-9%+/=]{20,})"), ("sig=",), group="v"),
        d("GCP_KEY", re.compile(r"\"private_key_id\"\s*:\s*\"(?P<v>[0-9a-f]{40})\""), ("private_key_id",), group="v"),
        d("GOOGLE_API_KEY", re.compile(r"AIza[0-9A-Za-z_\-]{35}"), ("aiza",), boundary=True),
        d("GOOGLE_OAUTH", re.compile(r"(?:GOCSPX-[A-Za-z0-9_\-]{20,}|ya29\.[0-9A-Za-z_\-]{20,}|1//0[0-9A-Za-z_\-]{40,})"),
          ("gocspx-", "ya29.", "1//0"), boundary=True),
        d("JWT", re.compile(r"eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{4,}\.?[A-Za-z0-9_\-]*"), ("eyj",), check=_jwt_ok, boundary=True),
        d("PASSWORD", re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.\-]{1,20}://[^\s:/@\"'<>]{0,200}:(?P<v>[^\s@/\"'<>]{1,200})@"),
          ("://",), group="v", widen=False),
        # curl -u user:password, wget --password=..., the password part only.
        d("PASSWORD", re.compile(r"(?<![\w-])(?:-u|--user)[ =][\"']?[^\s:\"']+:(?P<v>[^\s\"']{3,200})"), ("-u", "--user"),
          group="v", widen=False),
        # A bare machine-made token (a vendor key this module has no pattern for), outside any bigger base64 run.
        d("SECRET", re.compile(r"[A-Za-z0-9](?<![A-Za-z0-9+/=_\-.][A-Za-z0-9])[A-Za-z0-9_\-]{23,199}(?![A-Za-z0-9+/=_\-])"),
          (), check=_bare_token_ok),
        d("BEARER_TOKEN", re.compile(r"(?i)\b(?:bearer|basic|token|digest)\s+(?P<v>[A-Za-z0-9_\-.=+/~]{16,})"),
          ("bearer", "basic", "token", "digest"), group="v", check=lambda v, m, s: looks_random(v)),
    ]


def _keyword_detectors() -> list[Detector]:
    triggers = ("pass", "pwd", "secret", "token", "key", "auth", "cred", "sig", "cookie", "session", "dsn", "conn",
                "contrase")
    return [
        Detector("SECRET", ASSIGNMENT, triggers, group="assignment", on_lower=True),
        Detector("SECRET", CLI_FLAG, ("--",), group="v", check=lambda v, m, s: assignment_value_ok(v, quoted=True, strong=True)),
    ]


# ---------------------------------------------------------------------------------------------------------
# detect-secrets: every plugin in its registry


_DETECT_SECRETS_KINDS = {
    "ArtifactoryDetector": "ARTIFACTORY_TOKEN", "AWSKeyDetector": "AWS_KEY", "AzureStorageKeyDetector": "AZURE_KEY",
    "BasicAuthDetector": "PASSWORD", "CloudantDetector": "CLOUDANT_KEY", "DiscordBotTokenDetector": "DISCORD_TOKEN",
    "GitHubTokenDetector": "GITHUB_TOKEN", "GitLabTokenDetector": "GITLAB_TOKEN", "IbmCloudIamDetector": "IBM_CLOUD_KEY",
    "IbmCosHmacDetector": "IBM_COS_KEY", "IPPublicDetector": "IP_ADDRESS", "JwtTokenDetector": "JWT",
    "KeywordDetector": "SECRET", "MailchimpDetector": "MAILCHIMP_KEY", "NpmDetector": "NPM_TOKEN",
    "OpenAIDetector": "OPENAI_KEY", "PrivateKeyDetector": "PRIVATE_KEY", "PypiTokenDetector": "PYPI_TOKEN",
    "SendGridDetector": "SENDGRID_KEY", "SlackDetector": "SLACK_TOKEN", "SoftlayerDetector": "SOFTLAYER_KEY",
    "SquareOAuthDetector": "SQUARE_SECRET", "StripeDetector": "STRIPE_KEY", "TelegramBotTokenDetector": "TELEGRAM_TOKEN",
    "TwilioKeyDetector": "TWILIO_KEY", "Base64HighEntropyString": "SECRET", "HexHighEntropyString": "SECRET",
}
# Substrings without which a plugin's patterns cannot match; a plugin not listed here always runs.
_DETECT_SECRETS_TRIGGERS = {
    "ArtifactoryDetector": ("akc", "ap"), "AWSKeyDetector": ("akia", "asia", "abia", "acca", "a3t", "aws"),
    "AzureStorageKeyDetector": ("accountkey",), "BasicAuthDetector": ("://",),
    "CloudantDetector": ("key", "pwd", "pass", "token", "cloudant"), "GitHubTokenDetector": ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
    "GitLabTokenDetector": ("glpat", "gldt", "glft", "glsoat", "glrt", "gr1348941", "glcbt"),
    "IbmCloudIamDetector": ("key", "pwd", "pass", "token"), "IbmCosHmacDetector": ("secret",), "IPPublicDetector": (".",),
    "JwtTokenDetector": ("eyj",), "MailchimpDetector": ("-us",), "NpmDetector": ("_authtoken",), "OpenAIDetector": ("t3blbkfj",),
    "PrivateKeyDetector": ("private key",), "PypiTokenDetector": ("pypi-",), "SendGridDetector": ("sg.",),
    "SlackDetector": ("xox", "hooks.slack.com"), "SoftlayerDetector": ("key", "pwd", "pass", "token", "softlayer"),
    "SquareOAuthDetector": ("sq0csp-",), "StripeDetector": ("_live_",), "TelegramBotTokenDetector": (":",),
    "TwilioKeyDetector": ("ac", "sk"), "DiscordBotTokenDetector": (".",),
}
_KEYWORD_TRIGGERS = ("key", "pass", "pwd", "secret", "contrase")
# The value shape a plugin's patterns need, as a cheap pattern: most texts have none, and the plugin's own
# patterns (look-behind first) are slow to run over text that cannot match.
_DETECT_SECRETS_PREFILTERS = {
    "IbmCloudIamDetector": r"[A-Za-z0-9_\-]{44}", "CloudantDetector": r"[0-9a-f]{64}|[a-z]{24}",
    "SoftlayerDetector": r"[a-z0-9]{64}", "IbmCosHmacDetector": r"[a-f0-9]{48}",
    "ArtifactoryDetector": r"AKC[a-zA-Z0-9]{10}|AP[\dA-F][a-zA-Z0-9]{8}", "TelegramBotTokenDetector": r"\d{8}:",
    "DiscordBotTokenDetector": r"[a-zA-Z\d_-]{23}\.", "MailchimpDetector": r"[0-9a-z]{32}-us",
    "IPPublicDetector": r"\d\.\d{1,3}\.\d{1,3}\.\d",
}
# A line worth the keyword plugin's patterns: a keyword next to an assignment, comparison or call.
_KEYWORD_LINE = re.compile(r"(?:key|pass|pwd|secret|contrase)\w*[\"'\]]{0,2}\s*(?:[:=!(]|\.assign|\[|@|\s[\"'`])|"
                           r"[\"'`]\s*[!=]=")


def _kind_for(cls) -> str:
    return _DETECT_SECRETS_KINDS.get(cls.__name__) or re.sub(r"\W+", "_", str(getattr(cls, "secret_type", cls.__name__))).upper()


def _detect_secrets_detectors() -> list[Detector]:
    global HEX_ENTROPY_LIMIT, BASE64_ENTROPY_LIMIT
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    from detect_secrets.plugins.base import RegexBasedDetector
    from detect_secrets.plugins.high_entropy_strings import HighEntropyStringsPlugin
    from detect_secrets.plugins.keyword import KeywordDetector

    out: list[Detector] = []
    # detect-secrets annotates this mapping with an unbound TypeVar, which mypy reads as type[Never].
    plugin_classes: dict[str, Any] = get_mapping_from_secret_type_to_class()
    for cls in plugin_classes.values():
        plugin = cls()
        kind = _kind_for(cls)
        if isinstance(plugin, KeywordDetector):
            out.extend(_keyword_plugin_detectors(kind))
        elif isinstance(plugin, HighEntropyStringsPlugin):
            if cls.__name__.startswith("Hex"):
                HEX_ENTROPY_LIMIT = plugin.entropy_limit
            else:
                BASE64_ENTROPY_LIMIT = plugin.entropy_limit
            out.append(Detector(kind, plugin.regex, ("'", '"'), group=2, check=_quoted_high_entropy_ok,
                                prefilter=re.compile(r"[A-Za-z0-9+/=_\-]{20}")))
        elif isinstance(plugin, RegexBasedDetector):
            triggers = _DETECT_SECRETS_TRIGGERS.get(cls.__name__, ())
            prefilter = _DETECT_SECRETS_PREFILTERS.get(cls.__name__)
            for rx in plugin.denylist:
                rx = rx if isinstance(rx, re.Pattern) else re.compile(rx)
                this_kind = "AWS_SECRET_KEY" if cls.__name__ == "AWSKeyDetector" and rx.groups else kind
                out.append(Detector(this_kind, rx, triggers, group="auto", widen=this_kind not in PII_KINDS,
                                    check=_ip_from_plugin_ok if this_kind == "IP_ADDRESS" else None,
                                    prefilter=re.compile(prefilter) if prefilter else None))
        else:
            out.append(Detector(kind, _PluginRegex(plugin), (), group=None, per_line=True))
    return out


def _ip_from_plugin_ok(value: str, match=None, start: int = 0) -> bool:
    return _ipv4_ok(value.split(":", 1)[0])


def _quoted_high_entropy_ok(value: str, match=None, start: int = 0) -> bool:
    """detect-secrets' entropy plugins flag any quoted string over their limit; outside a keyword position only
    base64-like values that mix cases and digits are kept: hex strings there are mostly commit and content hashes,
    and SRI hashes in lockfiles are public."""
    if len(value) < 20 or re.match(r"sha(?:1|256|384|512)-", value) or _UUID.match(value):
        return False
    if all(c in "0123456789abcdefABCDEF" for c in value):
        return False
    if not (any(c.isdigit() for c in value) and any(c.isupper() for c in value) and any(c.islower() for c in value)):
        return False
    return shannon_entropy(value) > BASE64_ENTROPY_LIMIT and looks_random(value)


def _keyword_plugin_detectors(kind: str) -> list[Detector]:
    from detect_secrets.plugins import keyword

    seen: dict[re.Pattern, int] = {}
    for mapping in keyword.REGEX_BY_FILETYPE.values():
        for rx, group in mapping.items():
            seen.setdefault(rx, group)
    check = _keyword_plugin_value_ok
    # Their patterns are lower-case words under IGNORECASE; run over lower-cased lines they need no flag, which
    # lets the regex engine skip ahead (measured: about 3x faster).
    return [Detector(kind, re.compile(rx.pattern, rx.flags & ~re.IGNORECASE), _KEYWORD_TRIGGERS, group=group,
                     check=check, per_line=True, prefilter=_KEYWORD_LINE, trim_unquoted=True, on_lower=True)
            for rx, group in seen.items()]


def _keyword_plugin_value_ok(value: str, match: re.Match, start: int) -> bool:
    from detect_secrets.filters.heuristic import is_indirect_reference, is_templated_secret

    line = match.string
    quoted = start > 0 and line[start - 1] in "\"'`"
    if is_templated_secret(value) or is_indirect_reference(line):
        return False
    if match.start() < start and _DESCRIBES_SECRET.search(line[match.start():start]):
        return False  # secret_name: "prod-db-credentials" names a secret, it is not one
    return assignment_value_ok(value, quoted=quoted, strong=True)


class _PluginRegex:
    """A detect-secrets plugin this module has no regex for (a newer release): its own ``analyze_line``,
    shaped like a compiled pattern so it runs as one more detector."""

    groups = 0

    def __init__(self, plugin):
        self.plugin = plugin

    def finditer(self, line: str):
        for secret in self.plugin.analyze_line(filename="log.txt", line=line, line_number=0):
            value = secret.secret_value or ""
            start = line.find(value) if value else -1
            while start >= 0:
                yield _Found(line, start, start + len(value))
                start = line.find(value, start + 1)


class _Found:
    def __init__(self, string, start, end):
        self.string, self._start, self._end = string, start, end

    def span(self, group=0):
        return self._start, self._end

    def group(self, group=0):
        return self.string[self._start:self._end]

    def groups(self):
        return ()

    re = None


# ---------------------------------------------------------------------------------------------------------
# Personal data


def _email_ok(value: str, match, start: int = 0) -> bool:
    """Not the password@host part of scheme://user:password@host (that is a PASSWORD, and the host is not mail)."""
    before = match.string[max(0, start - 300): start]
    return not (before.endswith(":") and "://" in before and "@" not in before[before.rfind("://"):])


def _ssn_ok(value: str, match=None, start: int = 0) -> bool:
    area, group, serial = value.split("-")
    return area not in ("000", "666") and not area.startswith("9") and group != "00" and serial != "0000"


# Each pattern starts with a plain character class and checks the character before it afterwards: a pattern
# that starts with a look-behind makes the regex engine try every position (measured: 3x slower on prompts).
_DIGIT_RUN = re.compile(r"\d\d[ .\-)/]{0,2}\d\d\d")


def _pii_detectors() -> list[Detector]:
    d = Detector
    return [
        d("EMAIL", re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}\b"), ("@",), check=_email_ok, widen=False),
        d("IBAN", re.compile(r"[A-Z](?<![A-Za-z0-9][A-Z])[A-Z]\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b"), (),
          check=_iban_ok, widen=False, prefilter=re.compile(r"[A-Z][A-Z]\d\d")),
        d("CARD", re.compile(r"[0-9](?<![\d-][0-9])(?:\d{3}([ -]?)\d{4}\1\d{4}\1\d{1,7}|\d{3}[ -]?\d{6}[ -]?\d{5})(?![\d-])"),
          (), check=_card_ok, widen=False, prefilter=_DIGIT_RUN),
        d("US_SSN", re.compile(r"[0-8](?<![\d-][0-8])\d\d-\d\d-\d{4}(?![\d-])"), ("-",), check=_ssn_ok, widen=False),
        d("UK_NINO", re.compile(r"[A-CEGHJ-PR-TW-Z](?<![A-Za-z0-9][A-Z])[A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b"),
          (), check=lambda v, m, s: v[:2] not in ("BG", "GB", "NK", "KN", "TN", "NT", "ZZ"), widen=False,
          prefilter=re.compile(r"[A-Z][A-Z] ?\d\d ?\d\d ?\d\d ?[A-D]")),
        # Not part of a longer run of digit groups (card numbers, ids).
        d("PHONE", re.compile(r"[+(\d](?<![\w+][+(\d])(?<!\d[ .\-][+(\d])"
                              r"(?:(?<=\+)\d{1,3}[ .\-]?(?:\(\d{2,4}\)[ .\-]?|\d{2,4}[ .\-])|(?<=\()\d{2,4}\)[ .\-]?|"
                              r"(?<=\d)\d{1,3}[ .\-])\d{3,4}[ .\-]\d{3,4}(?![\w-])(?![ .]\d)"), (), check=_phone_ok,
          widen=False, prefilter=_DIGIT_RUN),
        d("IP_ADDRESS", re.compile(r"[0-9](?<![\w.][0-9])\d{0,2}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?![\w.])"), (".",),
          check=_ipv4_ok, widen=False, prefilter=re.compile(r"\d\.\d{1,3}\.\d{1,3}\.\d")),
        d("IP_ADDRESS", re.compile(r"[0-9A-Fa-f:](?<![\w:.][0-9A-Fa-f:])[0-9A-Fa-f]{0,3}:(?:[0-9A-Fa-f]{0,4}:){1,6}"
                                   r"[0-9A-Fa-f]{0,4}(?:%\w+)?(?![\w:])"), ("::", ":"), check=_ipv6_ok, widen=False,
          prefilter=re.compile(r"[0-9A-Fa-f]:[0-9A-Fa-f]{0,4}:")),
    ]


ENGINE_REVISION = 1  # bump when a validator changes in a way the patterns below do not show


@lru_cache(maxsize=1)
def engine_version() -> str:
    """A fingerprint of the detector set (patterns, triggers, detect-secrets' version): stored with each scan, so
    requests scanned by another set are scanned again."""
    import hashlib
    from importlib import metadata

    parts = [str(ENGINE_REVISION), metadata.version("detect-secrets")]
    parts += [f"{d.kind}|{getattr(d.regex, 'pattern', type(d.regex).__name__)}|{d.triggers}|{d.group}" for d in detectors()]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


@lru_cache(maxsize=1)
def detectors() -> tuple[Detector, ...]:
    """Every detector in precedence order (built once: importing detect-secrets takes a moment)."""
    return tuple(_token_detectors() + _keyword_detectors() + _detect_secrets_detectors() + _pii_detectors())


# ---------------------------------------------------------------------------------------------------------
# Finding


def _candidate_lines(det: Detector, text: str, lower: str, cache: dict) -> list:
    """The lines a per-line detector has to read (its triggers and prefilter), shared by detectors that agree."""
    key = (det.triggers, det.prefilter, det.on_lower)
    if key not in cache:
        lines = _lines(text, lower)
        cache[key] = [(offset, line, line_lower) for offset, line, line_lower in lines
                      if (not det.triggers or any(t in line_lower for t in det.triggers))
                      and (det.prefilter is None or det.prefilter.search(line_lower if det.on_lower else line))]
    return cache[key]


def _passes(prefilter: re.Pattern, text: str, seen: dict) -> bool:
    if prefilter not in seen:
        seen[prefilter] = prefilter.search(text) is not None
    return seen[prefilter]


def _lines(text: str, lower: str) -> list[tuple[int, str, str]]:
    out, start = [], 0
    for line in text.split("\n"):
        out.append((start, line, lower[start:start + len(line)]))
        start += len(line) + 1
    return out


def _value_span(det: Detector, m, text: str) -> tuple[int, int, str] | None:
    if det.group == "assignment":
        found = _assignment_kind_and_value(m, text)
        return (found[1], found[2], found[0]) if found else None
    if det.group == "auto":
        for i in range(1, (m.re.groups if m.re is not None else 0) + 1):
            if m.group(i) and len(m.group(i)) >= 4:
                return m.span(i) + (det.kind,)
        return m.span() + (det.kind,)
    start, end = m.span(det.group) if det.group is not None else m.span()
    if start < 0:
        return None
    if det.trim_unquoted and (start == 0 or text[start - 1] not in "\"'`"):
        stop = _UNQUOTED_END.search(text, start, end)
        end = stop.start() if stop else end  # an unquoted value ends at a space or separator
        while end > start and text[end - 1] in ":)]}":
            end -= 1
    return start, end, det.kind


def _run(det: Detector, text: str, lower: str, offset: int, rank: int, out: list[Span]) -> None:
    for m in det.regex.finditer(lower if det.on_lower else text):
        if det.boundary and m.start() > 0 and (text[m.start() - 1].isalnum() or text[m.start() - 1] == "_"):
            continue
        found = _value_span(det, m, text)
        if found is None:
            continue
        start, end, kind = found
        value = text[start:end]
        if not value.strip() or PLACEHOLDER.fullmatch(value.strip()):
            continue
        if det.check is not None and not det.check(value, m, start):
            continue
        out.append(Span(start + offset, end + offset, kind, rank))


def _widen(text: str, span: Span) -> Span:
    start, end = span.start, span.end
    while start > 0 and text[start - 1] in LEFT_TOKEN_CHARS:
        start -= 1
    while end < len(text) and (text[end] in TOKEN_CHARS or
                               (text[end] in INNER_TOKEN_CHARS and end + 1 < len(text) and text[end + 1] in TOKEN_CHARS)):
        end += 1
    if text[start:end].startswith("[") or PLACEHOLDER.search(text[start:end]):
        return span
    return Span(start, end, span.kind, span.rank)


def find(text: str | None) -> list[Finding]:
    """(start, end, kind) of each sensitive value, non-overlapping, in text order; secrets widened to their
    whole token."""
    return [Finding(s.start, s.end, s.kind) for s in _find(text)]


def _find(text: str | None, every: list[Span] | None = None) -> list[Span]:
    """Merged spans; ``every`` (when given) also receives each detector's own span before merging."""
    if not text:
        return []
    lower = text.lower()
    if len(lower) != len(text):  # a few characters change length when lower-cased; keep offsets aligned
        lower = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
    passed: dict[re.Pattern, bool] = {}
    candidate_lines: dict[tuple, list] = {}
    raw: list[Span] = []
    for rank, det in enumerate(detectors()):
        if det.triggers and not any(t in lower for t in det.triggers):
            continue
        source = lower if det.on_lower else text
        if det.prefilter is not None and not _passes(det.prefilter, source, passed):
            continue
        if det.per_line:
            for offset, line, line_lower in _candidate_lines(det, text, lower, candidate_lines):
                _run(det, line, line_lower, offset, rank, raw)
        else:
            _run(det, text, lower, 0, rank, raw)
    widened = [_widen(text, s) if s.kind not in PII_KINDS and _widens(s) else s for s in raw]
    if every is not None:
        every.extend(widened)
    return _merge(widened)


@lru_cache(maxsize=1)
def _no_widen_ranks() -> frozenset[int]:
    return frozenset(rank for rank, det in enumerate(detectors()) if not det.widen)


def _widens(span: Span) -> bool:
    return span.rank not in _no_widen_ranks()


GENERIC_KINDS = frozenset({"SECRET"})  # a named kind (AWS_KEY, PASSWORD) says more; it wins an overlap


def _outranks(a: Span, b: Span) -> bool:
    return ((a.kind in GENERIC_KINDS), a.rank) < ((b.kind in GENERIC_KINDS), b.rank)


def _merge(spans: list[Span]) -> list[Span]:
    spans.sort(key=lambda s: (s.start, -(s.end - s.start), s.rank))
    merged: list[Span] = []
    for s in spans:
        if merged and s.start < merged[-1].end:
            prev = merged[-1]
            kind, rank = (s.kind, s.rank) if _outranks(s, prev) else (prev.kind, prev.rank)
            merged[-1] = Span(prev.start, max(prev.end, s.end), kind, rank)
            continue
        merged.append(s)
    return merged


def scan(text: str | None) -> Counter:
    """Finding kinds and counts in one text; never the values."""
    return Counter(s.kind for s in _find(text or ""))


def _apply(text: str, spans: list[Span]) -> str:
    parts, last = [], 0
    for s in spans:
        parts.append(text[last:s.start])
        parts.append(f"[{s.kind}]")
        last = s.end
    parts.append(text[last:])
    return "".join(parts)


class Redactor(Protocol):
    """``redact`` or a stand-in with its contract: text in, text out; None stays None."""

    @overload
    def __call__(self, text: str, /) -> str: ...
    @overload
    def __call__(self, text: None, /) -> None: ...
    @overload
    def __call__(self, text: str | None, /) -> str | None: ...


@overload
def redact(text: str) -> str: ...
@overload
def redact(text: None) -> None: ...
@overload
def redact(text: str | None) -> str | None: ...
def redact(text: str | None) -> str | None:
    """Replace every finding with a typed placeholder such as [EMAIL] or [AWS_KEY]."""
    if not text:
        return text
    return _apply(text, _find(text))


def redact_many(texts: Iterable[str | None]) -> list[str | None]:
    """Redact the texts of one document together: a value found in any of them is also removed where another
    shows it without the context that gave it away, and so is the tail of a long one."""
    texts = list(texts)
    every: list[list[Span]] = [[] for _ in texts]
    found = [_find(t, every[i]) if t else [] for i, t in enumerate(texts)]
    known: dict[str, str] = {}
    for text, spans in zip(texts, every, strict=True):
        if not text:
            continue
        for s in spans:
            value = text[s.start:s.end].strip()
            if len(value) >= 6 and not PLACEHOLDER.fullmatch(value):
                known.setdefault(value, s.kind)
                if len(value) >= TAIL_CHARS + 4 and shannon_entropy(value[-TAIL_CHARS:]) >= 2.5:
                    known.setdefault(value[-TAIL_CHARS:], s.kind)
    out = [_apply(t, spans) if t else t for t, spans in zip(texts, found, strict=True)]
    if not known:
        return out
    pattern = re.compile("|".join(re.escape(v) for v in sorted(known, key=len, reverse=True)))
    return [pattern.sub(lambda m: f"[{known[m.group()]}]", t) if t else t for t in out]


def redact_together(*texts: str | None) -> list[str | None]:
    """The texts of one request (prompt, frontier answer, local answer) redacted as one document."""
    return redact_many(texts)


def redact_tree(value):
    """Every string in a JSON-like value (dict keys included) redacted as one document."""
    strings: dict[str, None] = {}
    _collect(value, strings)
    mapping = dict(zip(strings, redact_many(strings), strict=True))
    return _rebuild(value, mapping)


def _collect(value, out: dict) -> None:
    if isinstance(value, str):
        out[value] = None
    elif isinstance(value, dict):
        for k, v in value.items():
            if isinstance(k, str):
                out[k] = None
            _collect(v, out)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _collect(v, out)


def _rebuild(value, mapping):
    if isinstance(value, str):
        return mapping.get(value, value)
    if isinstance(value, dict):
        return {(mapping.get(k, k) if isinstance(k, str) else k): _rebuild(v, mapping) for k, v in value.items()}
    if isinstance(value, list):
        return [_rebuild(v, mapping) for v in value]
    if isinstance(value, tuple):
        return tuple(_rebuild(v, mapping) for v in value)
    return value
