"""The one vocabulary of per-category decisions: judge writes them, cost prices them, charts colour them and
the report explains them. Every other module takes the names, labels and legend text from here.

A decision states what the category's evidence supports, never more:

- ``local``: move it; the acceptance interval's lower bound clears the target;
- ``cascade``: run local first; a check that needs no frontier answer catches the failures, which go on to
  the frontier model;
- ``local-for-compliance``: run it locally because of the sensitive data it carries (decided by privacy);
- ``frontier``: keep it on the frontier API; objective checks, a judge model or people found it too weak;
- ``needs_judge``: only embedding similarity looked at its answers. Similarity tells an answer about the
  question from one about something else, not a good answer from a bad one (words shuffled, a refusal, a cut
  answer can all score high), so it can move nothing: a judge model or a human review decides it;
- ``not_measured``: no answers to judge, or most calls failed; it moves nowhere and its spend is undecided.
"""

from __future__ import annotations

LOCAL = "local"
CASCADE = "cascade"
LOCAL_FOR_COMPLIANCE = "local-for-compliance"
FRONTIER = "frontier"
NEEDS_JUDGE = "needs_judge"
NOT_MEASURED = "not_measured"

DECISIONS = (LOCAL, CASCADE, LOCAL_FOR_COMPLIANCE, FRONTIER, NEEDS_JUDGE, NOT_MEASURED)
MOVES_LOCAL = (LOCAL, LOCAL_FOR_COMPLIANCE)  # all of the category's traffic moves
RUNS_LOCAL = (LOCAL, LOCAL_FOR_COMPLIANCE, CASCADE)  # the local model answers it first
UNDECIDED = (NEEDS_JUDGE, NOT_MEASURED)  # nothing moves, and the spend is shown as undecided

LABELS = {
    LOCAL: "Local",
    CASCADE: "Cascade",
    LOCAL_FOR_COMPLIANCE: "Local for compliance",
    FRONTIER: "Frontier",
    NEEDS_JUDGE: "Needs a judge",
    NOT_MEASURED: "Not measured",
}
LEGEND = {
    LOCAL: "Move it: the acceptance interval's lower bound clears the target.",
    CASCADE: "Run local first; an objective check catches failures, which fall back to the frontier model.",
    LOCAL_FOR_COMPLIANCE: "Run it locally because of the sensitive data it carries (or send it to legal review).",
    FRONTIER: "Keep it on the frontier API: objective checks, a judge model or reviewers found acceptance too "
              "low or too uncertain.",
    NEEDS_JUDGE: "Only similarity to the frontier answer was measured, which cannot tell a good answer from a "
                 "bad one about the same thing: run a judge model or a human review before moving it.",
    NOT_MEASURED: "No local answers to judge (not replayed yet, or most calls failed): it moves nowhere.",
}
COLOURS = {
    LOCAL: "#1a7f37",
    CASCADE: "#2f6fb3",
    LOCAL_FOR_COMPLIANCE: "#7a3fb0",
    FRONTIER: "#8c8c8c",
    NEEDS_JUDGE: "#c26b00",
    NOT_MEASURED: "#b8a46a",
}

# Spellings that older databases, plan.toml or hooks may hold.
_ALIASES = {"unmeasured": NOT_MEASURED, "not-measured": NOT_MEASURED, "not measured": NOT_MEASURED,
            "needs-judge": NEEDS_JUDGE, "needs judge": NEEDS_JUDGE, "local_for_compliance": LOCAL_FOR_COMPLIANCE,
            "local for compliance": LOCAL_FOR_COMPLIANCE}


def normalise(value: object) -> str | None:
    """A decision in its canonical spelling, or None when the value is not a decision."""
    if value is None:
        return None
    text = str(value).strip().lower()
    if text in DECISIONS:
        return text
    return _ALIASES.get(text)


def legend() -> list[dict]:
    """Every decision with its label and meaning, in display order (the report's legend and --json)."""
    return [{"decision": d, "label": LABELS[d], "meaning": LEGEND[d]} for d in DECISIONS]
