"""Sampled exports: the fraction R of the traffic each stored request stands for (``requests.sample_rate``).

Where an export states its rate, the parsers read it per record and ``coerce`` checks it (``as_sample_rate``):

- app logs: a ``sample_rate`` field on the record (also ``sampling_rate``, ``sampleRate``, ``samplingRate``), as
  structured loggers and Langfuse's ``sample_rate`` setting write it; ``--map sample_rate=COLUMN`` for
  ``--format generic``. (The SQL route reads the same keys: DuckDB's JSON structures cannot hold two keys that differ
  only in case, so Honeycomb's ``SampleRate`` is read from span attributes only.)
- OpenTelemetry spans: the W3C tracestate's OpenTelemetry threshold ``ot=th:<hex>`` (OTEP 235, the spec's
  "TraceState: Probability Sampling": R = (2^56 - T) / 2^56) or its predecessor ``ot=p:<n>`` (R = 2^-n), and the
  span attributes samplers have used: ``sampling.probability``, ``sampler.adjusted_count`` (R = 1 / count) and
  Jaeger's ``sampler.type = probabilistic`` with ``sampler.param``;
- Langfuse observations: ``sample_rate``/``sampleRate`` on the row or in its metadata, and the attributes above
  when the observation came in through Langfuse's OpenTelemetry endpoint.

A value in (0, 1] is the fraction kept; a whole number above 1 is a 1-in-N rate (Honeycomb's convention). Zero,
negative or other values are impossible and the record is rejected with the reason.

``plan ingest --sample-rate R`` states the rate for every file of the run. It wins over a stated rate (the user
knows how the export was drawn, e.g. a 1-in-50 slice of S3 objects whose records state the app's own sampler
too), and the run says so when they disagree. It is applied per file after the file's rows land
(``apply_file_rates``), so the SQL route stores rows unchanged. Re-ingesting a file with another rate changes the
stored rows and says how many; re-ingesting without the flag keeps what is stored.
"""

from __future__ import annotations

import math
import re
from typing import Any

# Record keys that state the fraction of traffic kept (or, above 1, a 1-in-N rate).
SAMPLE_RATE_KEYS = ("sample_rate", "sampling_rate", "sampleRate", "samplingRate")
FLAG, STATED = "flag", "stated"
_MAX_THRESHOLD = 1 << 56
_ONE_IN = re.compile(r"^1\s*(?:/|:|in)\s*([0-9]+)$", re.IGNORECASE)


def as_sample_rate(value: Any, name: str = "sample_rate") -> float | None:
    """A stated rate as the fraction of traffic kept, in (0, 1]; None when not stated. Raises ValueError for an
    impossible one (zero, negative, not a number, a fraction above 1)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{name}: expected a number, got {type(value).__name__}")
    if isinstance(value, str):
        return _rate_from_text(value, name)
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"{name}: {value!r} keeps no traffic, so no record can come from it")
    if number <= 1:
        return number
    if number.is_integer():
        return 1.0 / number  # 1 in N
    raise ValueError(f"{name}: {value!r} is neither a fraction kept (0 < R <= 1) nor a whole 1-in-N rate")


def _rate_from_text(value: str, name: str) -> float | None:
    text = value.strip()
    one_in = _ONE_IN.match(text)
    if one_in:
        n = int(one_in.group(1))
        if n < 1:
            raise ValueError(f"{name}: {value!r} keeps no traffic")
        return 1.0 / n
    percent = text.endswith("%")
    try:
        number = float(text.rstrip("%").strip())
    except ValueError:
        raise ValueError(f"{name}: {value[:40]!r} is not a sample rate") from None
    if percent:
        if not 0 < number <= 100:
            raise ValueError(f"{name}: {value!r} is not a share of traffic between 0% and 100%")
        return number / 100.0
    return as_sample_rate(number, name)


def validate_flag(value: Any) -> str | None:
    """The settings check of ``--sample-rate``: a fraction in (0, 1]."""
    if value is None or 0 < value <= 1:
        return None
    return "must be the fraction of traffic the files hold, above 0 and at most 1 (0.02 for 1 in 50)"


# ---------------------------------------------------------------------------------------------
# OpenTelemetry
# ---------------------------------------------------------------------------------------------

_OT_MEMBER = re.compile(r"(?:^|[,\s(\[{])['\"]?ot['\"]?\s*[=:,]\s*['\"]?([A-Za-z0-9.:;_-]*)")


def tracestate_rate(tracestate: Any) -> float | None:
    """The sampling probability the OpenTelemetry member of a W3C tracestate states (``ot=th:fd70a4`` or the
    older ``ot=p:3``), or None. Reads the header form and the Python SDK's ``TraceState([('ot', 'th:8')])``."""
    if not isinstance(tracestate, str) or "ot" not in tracestate:
        return None
    member = _OT_MEMBER.search(tracestate)
    if member is None:
        return None
    fields = dict(part.split(":", 1) for part in member.group(1).split(";") if ":" in part)
    threshold = fields.get("th")
    if threshold is not None and re.fullmatch(r"[0-9a-f]{1,14}", threshold):
        value = int(threshold.ljust(14, "0"), 16)  # trailing zeros are left out of the encoding
        return (_MAX_THRESHOLD - value) / _MAX_THRESHOLD
    p = fields.get("p")
    if p is not None and p.isdigit() and int(p) <= 62:
        return 2.0 ** -int(p)
    return None


def attribute_rate(attrs: dict) -> Any:
    """A sampling rate stated by span attributes (raw, for ``as_sample_rate``), or None."""
    for key in ("sampling.probability", "sample_rate", "SampleRate", "sampleRate"):
        if attrs.get(key) not in (None, ""):
            return attrs[key]
    count = attrs.get("sampler.adjusted_count")
    if isinstance(count, (int, float)) and not isinstance(count, bool) and count >= 1:
        return 1.0 / count
    if str(attrs.get("sampler.type", "")).lower() == "probabilistic" and attrs.get("sampler.param") not in (None, ""):
        return attrs["sampler.param"]
    return None


# ---------------------------------------------------------------------------------------------
# After the files land: the flag, and what the run says about rates
# ---------------------------------------------------------------------------------------------


def _fmt(rate: float) -> str:
    return f"{rate:g}" + (f" (1 in {1 / rate:,.0f})" if rate < 1 and abs(1 / rate - round(1 / rate)) < 1e-9 else "")


def apply_file_rates(con, paths: list[str], flag: float | None) -> list[str]:
    """Mark stated rates and apply ``--sample-rate`` to the stored rows of each file; returns sentences for the user
    (a flag that contradicts a stated rate or changes a stored one, new rows left unscaled beside flagged ones)."""
    con.execute(
        "update requests set sample_rate_source = ? where source_file in (select unnest(?::varchar[])) "
        "and sample_rate is not null and sample_rate_source is null",
        [STATED, paths],
    )
    if flag is None:
        return _unflagged_warnings(con, paths)
    warnings = []
    for path, old, source, count in con.execute(
        """select source_file, sample_rate, sample_rate_source, count(*) from requests
           where source_file in (select unnest(?::varchar[])) and sample_rate is not null and sample_rate <> ?
           group by all order by 1, 2""",
        [paths, flag],
    ).fetchall():
        if source == STATED:
            warnings.append(f"{path}: {count:,} records state a sample rate of {_fmt(old)}; --sample-rate {_fmt(flag)} "
                            "was used instead (the flag wins; leave it out to use the stated rate).")
        else:
            warnings.append(f"{path}: {count:,} requests stored with sample rate {_fmt(old)} now use {_fmt(flag)} "
                            "(--sample-rate of this run).")
    con.execute(
        "update requests set sample_rate = ?, sample_rate_source = ? where source_file in (select unnest(?::varchar[])) "
        "and (sample_rate is distinct from ? or sample_rate_source is null)",
        [flag, FLAG, paths, flag],
    )
    return warnings


def _unflagged_warnings(con, paths: list[str]) -> list[str]:
    """Files whose earlier rows were scaled by a flag while rows added now were not."""
    out = []
    for path, rate, count in con.execute(
        """select source_file, max(sample_rate) filter (where sample_rate_source = 'flag'),
                  count(*) filter (where sample_rate is null)
           from requests where source_file in (select unnest(?::varchar[])) group by 1
           having count(*) filter (where sample_rate_source = 'flag') > 0 and count(*) filter (where sample_rate is null) > 0
           order by 1""",
        [paths],
    ).fetchall():
        out.append(f"{path}: {count:,} requests carry no sample rate while earlier ones from this file were ingested "
                   f"with --sample-rate {_fmt(rate)}; run again with --sample-rate to scale them too.")
    return out


def file_rates(con, display: str) -> list[dict]:
    """The sample rates of one file's stored rows: ``[{"rate", "source", "requests"}]`` (rate None: not sampled)."""
    return [
        {"rate": rate, "source": source, "requests": int(n)}
        for rate, source, n in con.execute(
            """select sample_rate, sample_rate_source, count(*) from requests where source_file = ?
               group by all order by 3 desc, 1""",
            [display],
        ).fetchall()
    ]
