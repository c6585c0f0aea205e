"""Describing a category so a person recognises it: c-TF-IDF keywords, a short name, and a task type
inferred from the prompts and the frontier responses."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

import numpy as np

from . import task_types as tt

_TOKEN_PATTERN = r"(?u)\b[a-zA-Z][a-zA-Z0-9_+#'-]*[a-zA-Z0-9+#]\b"
# Words every prompt carries that say nothing about the task.
_EXTRA_STOP = {
    "please", "help", "need", "want", "like", "just", "make", "sure", "know", "thanks", "thank", "hi", "hello",
    "hey", "answer", "question", "following", "given", "using", "use", "text", "user", "assistant", "respond",
    "response", "output", "return", "provide", "write", "ve", "don", "doesn", "isn", "ll", "re", "you're",
    "i'm", "it's", "don't", "can't", "what's", "i'd", "let's", "helpful", "able",
}


def ctfidf_keywords(docs_by_class: dict[int, list[str]], top: int = 10) -> dict[int, list[tuple[str, float]]]:
    """Class-based TF-IDF (BERTopic's c-TF-IDF): each class is one document; a term scores
    tf(term, class) * log(1 + A / f(term)), A the average word count per class, f the term's total count.
    Unigrams and bigrams; stop words dropped; a bigram hides the unigrams it contains."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

    classes = [c for c, docs in docs_by_class.items() if docs]
    if not classes:
        return {}
    stop = sorted(set(ENGLISH_STOP_WORDS) | _EXTRA_STOP)
    vectorizer = CountVectorizer(ngram_range=(1, 2), stop_words=stop, token_pattern=_TOKEN_PATTERN, lowercase=True,
                                 min_df=1, max_features=200_000)
    joined = [" \n ".join(docs_by_class[c]) for c in classes]
    try:
        counts = vectorizer.fit_transform(joined)
    except ValueError:  # nothing but stop words
        return {c: [] for c in classes}
    terms = vectorizer.get_feature_names_out()
    counts = counts.astype(np.float64).tocsr()
    totals = np.asarray(counts.sum(axis=0)).ravel()
    words_per_class = np.asarray(counts.sum(axis=1)).ravel()
    avg_words = max(words_per_class.mean(), 1.0)
    idf = np.log1p(avg_words / np.maximum(totals, 1.0))
    # A term must recur within a class (or the class be tiny) to describe it, not one odd prompt.
    n_docs = {c: len(docs_by_class[c]) for c in classes}
    out: dict[int, list[tuple[str, float]]] = {}
    for row, c in enumerate(classes):
        start, end = counts.indptr[row], counts.indptr[row + 1]
        idx, tf = counts.indices[start:end], counts.data[start:end]
        if not len(idx):
            out[c] = []
            continue
        min_count = 2 if n_docs[c] >= 5 else 1
        keep = tf >= min_count
        if not keep.any():
            keep = np.ones_like(tf, dtype=bool)
        idx, tf = idx[keep], tf[keep]
        scores = (tf / max(words_per_class[row], 1.0)) * idf[idx]
        order = np.argsort(-scores, kind="stable")
        chosen: list[tuple[str, float]] = []
        covered: set[str] = set()
        for j in order:
            term = terms[idx[j]]
            parts = term.split()
            if len(parts) == 2 and parts[0] == parts[1]:
                continue
            if len(parts) == 1 and term in covered:
                continue
            if any(term in other.split() for other, _ in chosen):
                continue
            chosen.append((term, float(scores[j])))
            if len(parts) == 2:
                covered.update(parts)
            if len(chosen) >= top:
                break
        out[c] = chosen
    return out


NAME_CHARS = 48
# Verbs that open an instruction ("Extract the purchase ...", "You write SQL ...").
_TASK_VERBS = {
    "analyse", "analyze", "annotate", "answer", "assess", "categorise", "categorize", "check", "classify", "clean",
    "compose", "condense", "convert", "correct", "create", "debug", "describe", "design", "detect", "determine",
    "draft", "draw", "edit", "evaluate", "explain", "extract", "fill", "find", "fix", "format", "generate", "grade",
    "help", "identify", "read", "implement", "label", "list", "map", "moderate", "normalise", "normalize", "outline",
    "paraphrase", "parse", "plan", "predict", "produce", "proofread", "rank", "rate", "recommend", "redact",
    "refactor", "rephrase", "review", "rewrite", "route", "score", "simplify", "solve", "sort", "suggest",
    "summarise", "summarize", "tag", "test", "transcribe", "transform", "translate", "triage", "turn", "validate",
    "verify", "write",
}
# Head nouns that name a function rather than a person: "the ticket triage step" -> "Ticket triage".
_FUNCTION_NOUNS = {"step", "stage", "assistant", "bot", "chatbot", "agent", "tool", "service", "model", "system",
                   "engine", "module", "component", "api", "function", "pipeline", "helper"}
_ROLE_ADJECTIVES = {"expert", "helpful", "friendly", "professional", "senior", "junior", "meticulous", "careful",
                    "experienced", "skilled", "world-class", "diligent", "precise", "thorough", "ai",
                    "in-house", "internal", "highly", "very", "knowledgeable", "concise", "accurate", "capable"}
_GENERIC_ROLES = {"assistant", "ai assistant", "ai", "chatbot", "bot", "ai model", "language model",
                  "large language model", "helpful assistant"}
_DETERMINERS = {"the", "a", "an", "this", "that", "these", "those", "each", "every", "one", "any", "our", "your",
                "its", "their", "my", "given", "provided", "following"}
# Words after which a name may stop; a name never ends on one of the others ("Help employees with").
_BREAKS = (" for ", " from ", " in ", " at ", " with ", " using ", " to ", " into ", " on ", " by ", " of ", " about ",
           " and ", " or ", ", ", " that ", " which ", " who ", " so ", " as ")
_DANGLING = {"and", "or", "of", "the", "a", "an", "for", "from", "in", "at", "with", "using", "to", "into", "on",
             "by", "about", "that", "which", "who", "as", "so", "this", "your", "our", "its"}
_CUT_ALWAYS = re.compile(r"\s+(?:that|which|who|so that|so|because|when|if|unless|and nothing else|and then|"
                         r"then)\b.*$", re.IGNORECASE)
_FILLER = re.compile(r"\s+(?:following|below|above|carefully|strictly|exactly|only|always|concisely|briefly|accurately)\b",
                     re.IGNORECASE)
_OWNER = re.compile(r"^(?:[A-Z][\w&.-]*(?:\s+[A-Z][\w&.-]*){0,3})['’]s?\s+")  # "Halcyon Labs' ", "Acme's "
_ACRONYMS = {"svg", "sql", "json", "html", "xml", "csv", "yaml", "api", "pdf", "url", "faq", "seo", "ocr"}
_SENTENCE = re.compile(r"(?<=[.!?:;])\s+|\n+")


def clip_name(text: str, limit: int = NAME_CHARS) -> str:
    """Shorten a name at a phrase boundary (a preposition, conjunction or comma), never inside a word and
    never leaving it on a dangling 'and'/'for'; an ellipsis only when no boundary is short enough."""
    text = " ".join((text or "").split()).strip(" ,;:-")
    if len(text) <= limit:
        return text
    best = None
    low = text.lower()
    # A preposition ends a phrase cleanly; a comma or 'and' may split a list, so only as a fallback.
    for seps in (_BREAKS[:10], _BREAKS):
        for sep in seps:
            for m in re.finditer(re.escape(sep), low):
                cut = text[: m.start()].strip(" ,;:-")
                if len(cut) <= limit and (best is None or len(cut) > len(best)):
                    best = cut
        if best is not None and len(best) >= 12:
            break
    if best is None or len(best) < 12:
        words = text[: limit - 1].rsplit(" ", 1)[0] if " " in text[: limit - 1] else text[: limit - 1]
        while words.split() and words.split()[-1].lower().strip(",;:") in _DANGLING and len(words.split()) > 1:
            words = words.rsplit(" ", 1)[0]
        return words.strip(" ,;:-") + "…"
    while len(best.split()) > 1 and best.split()[-1].lower().strip(",;:") in _DANGLING:
        best = best.rsplit(" ", 1)[0].strip(" ,;:-")
    return best


def _tidy(phrase: str, keep_complement: bool = False) -> str:
    phrase = _CUT_ALWAYS.sub("", _FILLER.sub("", phrase.strip().rstrip(".!?:;")))
    phrase = re.split(r",\s+(?=[A-Z])", phrase, maxsplit=1)[0]  # an appositive: "for Lumen, Acme's design system"
    phrase = re.sub(r"\s+\S*\d\S*", "", phrase)  # version numbers and counts: "Python 3.11", "24x24"
    # Drop a trailing "for <owner>" clause: "for Halcyon's analysts" names the customer, not the task.
    phrase = re.sub(r"\s+(?:for|at|of|in)\s+(?:the\s+)?(?:[A-Z][\w&.-]*\s*)+(?:['’]s?\s+[\w -]+)?$", "", phrase)
    phrase = re.sub(r"\s+(?:for|at|in|to)\s+(?:the\s+)?(?:people|users|customers|employees|our team|us|you|me)\b.*$",
                    "", phrase, flags=re.IGNORECASE)
    words = [w for w in phrase.split() if w.lower() not in _DETERMINERS or w is phrase.split()[0]]
    words = [w.upper() if w.lower() in _ACRONYMS else w for w in words]  # normalised templates are lower-case
    phrase = " ".join(words).strip(" ,;:-.")
    return phrase[:1].upper() + phrase[1:] if phrase else ""


def _verb_phrase(sentence: str) -> str | None:
    """'You write SQL for Halcyon's analysts' / 'Extract the purchase from this email ...' -> the instruction."""
    s = sentence.strip().strip("\"'")
    m = re.match(r"(?:please\s+|you(?:\s+will|\s+should|\s+must|\s+can)?\s+|your (?:task|job|role) is to\s+)?([A-Za-z]+)\b(.*)$",
                 s, re.IGNORECASE | re.DOTALL)
    if not m:
        return None
    verb = m.group(1).lower()
    base = verb[:-1] if verb.endswith("s") and verb[:-1] in _TASK_VERBS else verb
    if base not in _TASK_VERBS:
        return None
    rest = m.group(2)
    phrase = _tidy(base + rest)
    return phrase if len(phrase.split()) >= 2 else None


def _gerund_to_verb(word: str) -> str | None:
    w = word.lower()
    if not w.endswith("ing") or len(w) < 6:
        return None
    stem = w[:-3]
    for cand in (stem, stem + "e", stem[:-1] if len(stem) > 2 and stem[-1] == stem[-2] else None):
        if cand and cand in _TASK_VERBS:
            return cand
    return None


def _role_phrase(sentence: str) -> tuple[str | None, bool]:
    """'You are the ticket triage step in X's pipeline' -> ('Ticket triage', True): the phrase and whether it
    names a function (True) or a person ('senior Python engineer', False)."""
    m = re.match(r"you are\s+(.*)$", sentence.strip(), re.IGNORECASE | re.DOTALL)
    if not m:
        return None, False
    role = m.group(1).strip().rstrip(".!?:;")
    role = re.sub(r"^(?:an?|the)\s+", "", role, flags=re.IGNORECASE)
    role = _OWNER.sub("", role) if not role.lower().startswith(("ai ", "an ")) else role
    role = re.sub(r"^[A-Z][\w-]*,\s+", "", role)  # "Atlas, Halcyon's internal assistant"
    role = _OWNER.sub("", role)
    # "a meticulous senior engineer reviewing code at X" / "an assistant who classifies tickets"
    words = role.split()
    for i, w in enumerate(words):
        verb = _gerund_to_verb(w)
        if verb and i > 0:
            return _tidy(verb + " " + " ".join(words[i + 1 :])) or None, True
        if w.lower() in {"who", "that", "which"} and i + 1 < len(words):
            vp = _verb_phrase(" ".join(words[i + 1 :]))
            if vp:
                return vp, True
            break
    # The company ("at Acme", "in X's pipeline") goes; what the person works on ("for legal documents") stays.
    role = re.split(r"\s+(?:in|at|with|on|working|whose|who|that|which)\b|[,(]", role, maxsplit=1)[0]
    if re.search(r"\s(?:for|of)\s+(?:the\s+)?[A-Z]", role):
        role = re.split(r"\s+(?:for|of)\s", role, maxsplit=1)[0]
    words = [w for w in role.split() if w.lower() not in _ROLE_ADJECTIVES]
    if not words or " ".join(words).lower() in _GENERIC_ROLES:
        return None, False
    head = re.split(r"\s(?:for|of)\s", " ".join(words), maxsplit=1)[0].split()
    if head and head[-1].lower() in _FUNCTION_NOUNS and len(head) > 1 and len(head) == len(words):
        return _tidy(" ".join(words[:-1])), True
    return _tidy(" ".join(words)), False


def template_phrase(template_text: str) -> str | None:
    """The task a template states, as a short name: 'You write SQL for Acme's analysts' -> 'Write SQL';
    'Extract the purchase from this email ...' -> 'Extract purchase from order-confirmation email';
    'You are the ticket triage step in ...' -> 'Ticket triage'; 'You are a senior Python engineer. Write one
    function ...' -> the instruction that follows the persona. None when no sentence states a task."""
    if not template_text:
        return None
    sentences = [s.strip() for s in _SENTENCE.split(template_text.strip()[:800]) if s and s.strip()][:4]
    person = None
    for s in sentences:
        if re.match(r"you are\b", s, re.IGNORECASE):
            phrase, is_function = _role_phrase(s)
            if phrase and is_function:
                return clip_name(phrase)
            if phrase and person is None:
                person = phrase
                if re.search(r"\s(?:for|of)\s", phrase):  # 'Analyst for legal documents' already says the task
                    return clip_name(phrase)
            continue
        phrase = _verb_phrase(s)
        if phrase:
            return clip_name(phrase)
    if person:
        return clip_name(person)
    first = sentences[0] if sentences else ""
    words = first.split()
    if 2 <= len(words) <= 16 and not first.lower().startswith(("you ", "i ", "we ", "the ", "a ", "this ", "hi", "hello")):
        return clip_name(_tidy(first))
    return None


def task_name(base: str, task_type: str, samples: list[dict]) -> str:
    """A name made specific by what the frontier answers are: a triage category answering with one of 11
    labels reads 'Ticket triage (11 labels)', icon requests answered with SVG read 'Design icons (SVG)'."""
    if not base or not samples:
        return base
    responses = [s.get("response_text") for s in samples if s.get("response_text")]
    if not responses:
        return base
    suffix = None
    low = base.lower()
    if task_type == tt.CLASSIFICATION:
        labels = Counter(re.sub(r"[^a-z0-9 _-]", "", strip_fences(r or "").strip().lower()) for r in responses
                         if response_form(r) == "short")
        if 2 <= len(labels) <= 30 and not re.search(r"\blabels?\b|\bclasses\b", low):
            suffix = f"{len(labels)} labels"
    elif task_type in (tt.STRUCTURED_GENERATION, tt.EXTRACTION):
        forms = Counter(response_form(r) for r in responses)
        form, count = forms.most_common(1)[0]
        if form in ("json", "sql", "svg") and count >= 0.5 * len(responses) and form not in low:
            suffix = form.upper()
    if not suffix or len(base) + len(suffix) + 3 > NAME_CHARS + 4:
        return base
    return f"{base} ({suffix})"


def keyword_name(keywords: list[str], n: int = 3) -> str:
    """A readable name from c-TF-IDF keywords: a leading phrase when one ranks near the top, then terms
    that add a word not already said ('calorie content, burrito' rather than 'calories, calorie')."""
    if not keywords:
        return ""
    ordered = list(keywords)
    phrase = next((k for k in ordered[:3] if " " in k), None)
    if phrase:
        ordered.remove(phrase)
        ordered.insert(0, phrase)
    picked: list[str] = []
    stems: set[str] = set()
    for term in ordered:
        term_stems = {w[:5] for w in term.split()}
        if term_stems <= stems:
            continue
        picked.append(term)
        stems |= term_stems
        if len(picked) >= n or sum(len(p.split()) for p in picked) >= 5:
            break
    text = ", ".join(picked)
    return text[0].upper() + text[1:]


def unique_names(names: dict[int, str], keywords: dict[int, list[str]]) -> dict[int, str]:
    """Disambiguate equal names (two categories from one template) with each one's first keywords it does
    not share with the others."""
    groups: dict[str, list[int]] = {}
    for c, name in names.items():
        groups.setdefault(name.lower(), []).append(c)
    out = dict(names)
    for members in groups.values():
        if len(members) < 2:
            continue
        shared = set.intersection(*(set(keywords.get(c, [])) for c in members)) if members else set()
        for c in members:
            own = [k for k in keywords.get(c, []) if k not in shared and k.lower() not in out[c].lower()][:2]
            sep = ", " if ": " in names[c] else ": "  # a name may already carry a qualifier after a colon
            while len(own) > 1 and len(f"{names[c]}{sep}{', '.join(own)}") > NAME_CHARS + 8:
                own.pop()
            if own:
                out[c] = f"{names[c]}{sep}{', '.join(own)}"
        # Still equal (no distinctive keywords): number them so a person can tell them apart.
        again: dict[str, list[int]] = {}
        for c in members:
            again.setdefault(out[c].lower(), []).append(c)
        for dupes in again.values():
            if len(dupes) > 1:
                for i, c in enumerate(sorted(dupes), 1):
                    out[c] = f"{out[c]} ({i})"
    return out


# --- task phrases from the prompts themselves (no LLM) ------------------------------------------------------

# Imperative verbs that open a request, with the synonyms a name folds together ("Compose an email" and
# "Draft a reply" are both writing).
_VERB_FAMILIES = {
    "write": {"write", "compose", "draft", "craft", "author", "pen"},
    "summarize": {"summarize", "summarise", "condense", "recap", "tldr"},
    "translate": {"translate"},
    "explain": {"explain", "describe", "clarify", "define", "elaborate", "discuss", "outline"},
    "classify": {"classify", "categorize", "categorise", "label", "tag", "triage", "rate", "grade", "score"},
    "extract": {"extract", "parse", "pull", "identify", "detect"},
    "create": {"create", "generate", "make", "produce", "build", "design", "develop", "construct"},
    "rewrite": {"rewrite", "rephrase", "paraphrase", "edit", "proofread", "improve", "polish", "revise", "shorten"},
    "fix": {"fix", "debug", "correct", "repair", "troubleshoot", "resolve"},
    "implement": {"implement", "code", "program"},
    "analyze": {"analyze", "analyse", "evaluate", "assess", "review", "critique", "examine", "audit", "compare"},
    "solve": {"solve", "prove", "derive", "simplify"},
    "calculate": {"calculate", "compute", "determine", "estimate", "convert"},
    "find": {"find", "search", "locate", "lookup", "look"},
    "list": {"list", "enumerate", "name"},
    "suggest": {"suggest", "recommend", "propose", "brainstorm", "give"},
    "format": {"format", "reformat", "transform"},
    "plan": {"plan", "schedule", "organize", "organise"},
    "book": {"book", "reserve"},
    "set": {"set", "add"},
    "cancel": {"cancel", "remove", "delete", "stop", "clear"},
    "play": {"play"},
    "turn": {"turn", "switch"},
    "check": {"check", "verify", "validate", "test"},
    "send": {"send", "email", "text", "message"},
    "show": {"show", "tell", "display"},
    "order": {"order", "buy", "purchase"},
    "answer": {"answer", "respond", "reply"},
}
# Families named after the kind of work (their synonyms are one task: "Describe" and "Discuss" are "Explain");
# in the others the verbs differ in what they do ("Add" is not "Set", "Delete" is not "Cancel"), so a name says
# the verb the prompts say most.
_TASK_FAMILIES = {"write", "summarize", "translate", "explain", "classify", "extract", "rewrite", "fix", "implement",
                  "analyze", "solve"}
_PARTICLES = {"up", "down", "on", "off", "out"}
# Verbs whose object reads as a kind of thing, so plural: "Write poems", "Book flights"; not "Turn up volume".
_COUNTED = {"write", "translate", "classify", "extract", "create", "rewrite", "fix", "implement", "analyze", "solve",
            "find", "list", "suggest", "format", "plan", "book", "set", "cancel", "check", "send", "order", "summarize"}
_FAMILY_OF = {v: family for family, verbs in _VERB_FAMILIES.items() for v in verbs}
_OPENERS = re.compile(
    r"^(?:(?:hey|hi|hello|ok|okay|so|yo|um|please|pls|kindly|now|quickly)[,!.]?\s+)*"
    r"(?:(?:can|could|would|will) (?:you|u) (?:please\s+)?|i (?:need|want|would like|'d like) (?:you )?to |"
    r"i need you to |help me (?:to )?|let's |lets |your task is to |you (?:must|should|will) )?"
    r"(?:please\s+)?", re.IGNORECASE)
_QUESTION_START = re.compile(
    r"^(?:what|what's|whats|how|why|when|where|who|whom|whose|which|is|are|am|was|were|do|does|did|can|could|"
    r"would|will|should|shall|may|might|have|has|had|isn't|aren't|don't|doesn't|didn't|can't|won't)\b", re.IGNORECASE)
_OBJECT_SKIP = {
    "me", "my", "us", "our", "you", "your", "it", "its", "them", "this", "that", "these", "those", "a", "an", "the",
    "some", "any", "one", "two", "three", "short", "brief", "quick", "simple", "new", "good", "detailed", "few",
    "list", "couple", "piece", "following", "above", "below", "more", "most", "very", "really", "about", "of",
    "for", "to", "in", "on", "with", "and", "or", "all", "each", "every", "out", "up", "down", "here", "there",
    "0", "i", "we", "he", "she", "they", "what", "how", "why", "who", "which", "where", "when", "please", "now",
    "also", "again", "just", "like", "into", "from", "by", "as", "at", "not", "no", "yes", "so", "if", "then",
    "engaging", "professional", "persuasive", "creative", "concise", "comprehensive", "step", "following:",
}
# Words c-TF-IDF may rank high that are no object of a task ("get", "know", "way").
_NOT_OBJECTS = {
    "get", "got", "getting", "know", "tell", "want", "need", "does", "did", "doing", "done", "way", "thing", "things",
    "able", "possible", "happen", "happened", "going", "let", "say", "said", "think", "sure", "really", "yes", "ok",
    "okay", "something", "anything", "someone", "today", "tomorrow", "yesterday", "still", "time", "one", "lot",
    "ll", "ve", "im", "dont", "cant", "pls", "u", "ur", "0", "much", "many", "long", "go", "use", "make", "take",
    "give", "see", "look", "come", "put", "try", "work", "works", "working", "day", "days", "new", "old", "good",
    "bad", "right", "wrong", "help", "hello", "hi", "hey", "thanks", "thank", "please", "question", "questions",
    "anymore", "currently", "already", "instead", "actually", "exactly", "soon", "far", "ago",
}
# Verbs outside the families that read as a second verb after the task's own ("Make change lights").
_ACTIONS = {"start", "change", "increase", "decrease", "lower", "raise", "reset", "update", "switch", "need",
            "want", "like", "going", "try", "trying", "let", "keep"}
_UNCOUNTABLE = {"sql", "json", "code", "data", "information", "feedback", "advice", "music", "weather", "money",
                "help", "news", "software", "math", "maths", "physics", "chemistry", "history", "traffic", "research",
                "content", "copy", "text", "poetry", "spanish", "french", "english", "german", "python", "javascript",
                "svg", "html", "css", "yaml", "xml", "csv", "homework", "writing", "shopping", "nutrition", "health",
                "insurance", "travel", "tax", "taxes", "status", "analysis", "series", "mail", "email", "pin",
                "balance", "cash", "security", "fraud", "identity", "verification"}
_WORD = re.compile(r"[a-z][a-z'-]*[a-z]|[a-z]")


def _opening(text: str) -> str:
    """The request without its greeting and politeness: 'Hi, could you please write ...' -> 'write ...'."""
    text = " ".join((text or "").split()).lstrip("\"'([{*#->: ").lower()
    if " | " in text[:210]:  # categorize's representation: system prompt head | user turn
        text = text.split(" | ", 1)[1]
    return _OPENERS.sub("", text, count=1)


def _verb_and_object(text: str) -> tuple[str | None, str | None, str | None]:
    """The task verb opening a request: its family, the verb as said (with a particle: "turn up"), and the
    first noun-like word after it."""
    words = _WORD.findall(_opening(text)[:200])
    if not words:
        return None, None, None
    said = words[0] if words[0] in _FAMILY_OF else words[0][:-1] if words[0].endswith("s") else ""
    family = _FAMILY_OF.get(said)
    if family is None:
        return None, None, None
    rest = words[1:6]
    if rest and rest[0] in _PARTICLES and (family in ("turn", "set") or said == "look"):
        family = f"{family} {rest[0]}" if family in ("turn", "set") else family
        said, rest = f"{said} {rest[0]}", rest[1:]
    for w in rest:
        if w not in _OBJECT_SKIP and w not in _NOT_OBJECTS and w not in _FAMILY_OF and w not in _PARTICLES and len(w) > 2:
            return family, said, w
    return family, said, None


def _is_question(text: str) -> bool:
    opening = _opening(text)
    return opening.rstrip().endswith("?") or bool(_QUESTION_START.match(opening))


def _plural(noun: str) -> str:
    if noun in _UNCOUNTABLE or noun.endswith("ing") or (noun.endswith("s") and not noun.endswith(("ss", "us", "is"))):
        return noun
    if noun.endswith(("s", "x", "z", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and len(noun) > 2 and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def _counted(term: str, texts: list[str]) -> bool:
    """Whether the prompts treat ``term`` as a thing one counts: they say its plural, or "a", "this" or "another"
    before it ("write a blog post" -> "Write blog posts"; "make coffee", "order chinese food" stay singular)."""
    words = term.split()
    plural = " ".join(words[:-1] + [_plural(words[-1])])
    if plural == term:
        return False
    pattern = re.compile(rf"\b(?:{re.escape(plural)}|(?:a|an|another|each|every|one|this) {re.escape(term)})\b")
    return sum(1 for t in texts if pattern.search(t.lower())) >= max(1, 0.05 * len(texts))


# Words that join two phrases rather than sit inside one: a keyword pair spanning one is no phrase.
_JOINERS = ("for", "of", "in", "to", "on", "with", "from", "at", "by", "about", "into", "than", "and", "or", "but",
            "instead", "like", "as", "so", "if", "when", "while", "because", "after", "before", "during")


def _said_together(term: str, texts: list[str]) -> bool:
    """A two-word keyword is a phrase when the prompts say its words in that order within one clause ("activate
    my card" -> "activate card", "card hasn't arrived" -> "card arrived"). c-TF-IDF also pairs words across a
    preposition ("ingredients for pasta" -> "ingredients pasta") or across two prompts, which no one would say."""
    if " " not in term:
        return True
    first, second = term.split(" ", 1)
    joiners = "|".join(_JOINERS)
    pattern = re.compile(rf"\b{re.escape(first)}\s+(?:(?!(?:{joiners})\b)[\w']+\s+){{0,2}}{re.escape(second)}\b")
    return sum(1 for t in texts if pattern.search(t.lower())) >= min(2, len(texts))


_CONTRACTIONS = {"that's", "it's", "what's", "there's", "here's", "he's", "she's", "let's", "who's", "where's",
                 "how's", "when's", "why's"}


def _no_object(word: str) -> bool:
    """Words that cannot name the object of a task: fillers, masked numbers ("dl0"), contractions ("won't")."""
    return (word in _NOT_OBJECTS or word in _CONTRACTIONS or word.endswith("n't") or len(word) < 2
            or any(ch.isdigit() for ch in word))


def object_candidates(keywords: list[str], avoid: set[str] | frozenset[str] = frozenset(),
                      texts: list[str] | None = None) -> list[str]:
    """Keywords that can be the object of a task: no verb, no filler, no masked number, not already said, and
    (given the prompts) a two-word keyword only as the prompts say it."""
    usable = []
    for term in keywords[:8]:
        words = term.split()
        if any(_no_object(w) or w in avoid for w in words):
            continue
        if len(words) == 1 and (words[0] in _FAMILY_OF or len(words[0]) < 3):
            continue
        if texts is not None and not _said_together(term, texts):
            continue
        usable.append(term)
    return usable


def _object_term(candidates: list[str], choose=None) -> str | None:
    """The candidate that names what a category is about: the one ``choose`` prefers (categorize passes the one
    nearest the category's centre and least like the other categories), else the first, or a two-word phrase
    near the top that contains it ("apple" -> "apple pay")."""
    if not candidates:
        return None
    if choose is not None:
        return choose(candidates)
    first = candidates[0]
    if " " not in first:
        phrase = next((t for t in candidates[1:4] if " " in t and first in t.split()), None)
        if phrase:
            return phrase
    return first


def _adds_words(term: str, other: str) -> bool:
    """Whether ``other`` says something ``term`` does not: no word of it shares a stem with one of ``term``'s
    ("pin blocked" adds nothing to "unblock pin", "expires" nothing to "card expire")."""
    said = term.split()
    return not any(w[:5] in s or s[:5] in w for w in other.split() for s in said)


def _noun_like(word: str, texts: list[str]) -> bool:
    """Whether the prompts use ``word`` as a noun or its modifier: a determiner stands before it somewhere
    ("the wemo plug", "a female voice"; never "the remind", "the increase")."""
    pattern = re.compile(rf"\b(?:a|an|the|my|your|our|this|that|some|any|new)\s+{re.escape(word)}\b")
    return any(pattern.search(t.lower()) for t in texts)


def _verb_object(family: str, verb: str, objects: Counter, count: int, texts: list[str], keywords: list[str],
                 choose=None) -> str | None:
    """The object of a task verb: what the prompts name after it, or a keyword phrase that extends it ("wemo" ->
    "wemo plug", "list" -> "grocery list"); the category's keywords only when no object recurs."""
    avoid = _VERB_FAMILIES.get(family.split()[0], set()) | set(verb.split())
    named = [o for o, c in objects.most_common(3) if c >= max(2, 0.1 * count) and o not in avoid]
    phrases = object_candidates(keywords, avoid, texts)
    extend = [p for p in phrases if " " in p and set(p.split()) & set(named) and _noun_like(p.split()[0], texts)
              and not any(w in _FAMILY_OF or w in _ACTIONS for w in p.split())]
    candidates = list(dict.fromkeys(named + extend)) or phrases
    if choose is not None:
        return _object_term(candidates, choose)
    if not named:
        return _object_term(candidates)
    return next((p for p in extend if named[0] in p.split()), named[0])


def task_phrase(texts: list[str], keywords: list[str], choose=None, qualify=None) -> str | None:
    """A task phrase, verb and object, from a category's own prompts (no LLM):

    - most prompts open with one kind of instruction ("Write a poem ...", "Add eggs to ..."): the verb most of
      them say, and an object: a word they name after it or a keyword ("Write poems", "Add grocery list");
    - most are questions: "Answer <keyword> questions" ("Answer card-delivery questions");
    - otherwise "Handle <keyword> requests".
    ``choose`` picks the object among the candidates (see ``_object_term``); ``qualify(object, others)`` may add a
    keyword that tells a question or request category from its neighbours ("Answer virtual-card questions:
    rejected"). None when there is neither an instruction nor a usable keyword."""
    texts = [t for t in texts if t and t.strip()]
    if not texts:
        return None
    families: Counter = Counter()
    verbs: dict[str, Counter] = {}
    objects: dict[str, Counter] = {}
    questions = 0
    for t in texts:
        family, verb_said, obj = _verb_and_object(t)
        if family:
            families[family] += 1
            verbs.setdefault(family, Counter())[verb_said] += 1
            if obj:
                objects.setdefault(family, Counter())[obj] += 1
        elif _is_question(t):
            questions += 1
    n = len(texts)
    family, count = families.most_common(1)[0] if families else (None, 0)
    if family and (count >= 0.3 * n or (count >= 0.15 * n and questions < 0.4 * n)) and family != "answer":
        verb = family if family in _TASK_FAMILIES else verbs[family].most_common(1)[0][0]
        term = _verb_object(family, verb, objects.get(family, Counter()), count, texts, keywords, choose)
        if term:
            head = term.split()
            last = _plural(head[-1]) if family in _COUNTED and _counted(term, texts) else head[-1]
            return _tidy_name(f"{verb} {' '.join(head[:-1] + [last])}")
        return _tidy_name(f"{verb} requests")
    candidates = object_candidates(keywords, set())
    term = _object_term(candidates, choose)
    if not term:
        return None
    topic = "-".join(term.split())
    name = f"answer {topic} questions" if questions >= 0.4 * n else f"handle {topic} requests"
    others = [t for t in candidates if _adds_words(term, t)]
    second = qualify(term, others) if qualify is not None and others else None
    return _tidy_name(f"{name}: {second}" if second else name)


def _tidy_name(phrase: str) -> str:
    words = [w.upper() if w.lower() in _ACRONYMS else w for w in phrase.split()]
    name = " ".join(words)
    return clip_name(name[:1].upper() + name[1:])


# --- task type ---------------------------------------------------------------------------------------------

_FENCE = re.compile(r"^\s*```[a-zA-Z0-9_+-]*\s*\n?(.*?)\n?```\s*$", re.DOTALL)
_CODE_FENCE = re.compile(r"```\s*(python|py|javascript|js|typescript|ts|java|go|golang|rust|c|cpp|c\+\+|csharp|cs|ruby|php|bash|sh|shell|kotlin|swift|scala|r|haskell|lua|perl)?\s*\n", re.IGNORECASE)
_CODE_START = re.compile(r"^\s*(def |class |import |from \S+ import |function |const |let |public |package |#include|fn |func |async def )", re.MULTILINE)
_SQL = re.compile(r"^\s*(select|with|insert|update|delete|create|alter|drop)\b[\s\S]*\b(from|into|table|set|as)\b", re.IGNORECASE)
_CLARIFY = re.compile(
    r"(could|can|would) you (please )?(clarify|specify|provide more|tell me more|share more|give me more)|"
    r"what do you mean|do you mean|could you be more specific|more (details|context|information) (about|on|would)|"
    r"i need more (details|context|information)|which (one|file|project|version) (do|are|did) you",
    re.IGNORECASE,
)
_CUES = [
    (tt.SUMMARIZATION, re.compile(r"\b(summari[sz]e|summary|tl;?dr|key (points|takeaways)|condense|recap)\b", re.I)),
    (tt.EXTRACTION, re.compile(r"\b(extract|pull out|parse out|identify (all|the) (fields|entities|names|dates)|named entit)", re.I)),
    (tt.CLASSIFICATION, re.compile(r"\b(classify|categori[sz]e|label|tag (this|the|each)|sentiment|triage|route (this|the)|which (category|class|intent)|one of the following (labels|categories))\b", re.I)),
    (tt.STRUCTURED_GENERATION, re.compile(r"\b(json|sql|svg|xml|yaml|csv)\b", re.I)),
    (tt.CODE_FROM_SPEC, re.compile(r"\b(write|implement|create) (a|an|the) (python|javascript|typescript|go|rust|java|c\+\+|sql)? ?(function|class|method|script|program)\b", re.I)),
]


def strip_fences(text: str) -> str:
    m = _FENCE.match(text or "")
    return m.group(1) if m else (text or "")


def response_form(response: str | None) -> str | None:
    """What a frontier response is, by parsing it: json | sql | svg | code | short | prose | None."""
    if not response or not response.strip():
        return None
    body = strip_fences(response).strip()
    if body[:1] in "{[":
        try:
            json.loads(body)
            return "json"
        except ValueError:
            pass
    low = body[:2000].lower()
    if "<svg" in low:
        return "svg"
    if _SQL.match(body[:4000]) and "```" not in body:
        return "sql"
    if _CODE_FENCE.search(response[:4000]) or _CODE_START.search(body[:2000]):
        if re.search(r"```\s*sql", response[:200], re.I):
            return "sql"
        return "code"
    words = len(body.split())
    if words <= 4 and len(body) <= 48:
        return "short"
    return "prose"


def _tags(response: str) -> list[str] | None:
    """'smart-home, electronics' -> ['smart-home', 'electronics']; None unless every part is a short tag."""
    body = strip_fences(response).strip().lower().rstrip(".")
    parts = [p.strip() for p in re.split(r"[,;\n]", body) if p.strip()]
    if not 1 <= len(parts) <= 8 or not all(re.fullmatch(r"[a-z0-9][a-z0-9 _/&-]{0,30}", p) and len(p.split()) <= 3
                                           for p in parts):
        return None
    return parts


def _pct(x: float) -> str:
    return f"{round(100 * x)}%"


def _evidence(samples: list[dict]) -> dict:
    """What a sample of requests shows: the forms of the frontier responses, short answers, clarifying
    questions, code in prompts, the instruction cue each prompt carries, and the median input size."""
    ev: dict[str, Any] = {"n": len(samples), "forms": Counter(), "short_answers": Counter(), "clarifying": 0, "cues": Counter(),
          "with_response": 0, "code_prompts": 0, "responses": []}
    prompt_chars, input_tokens = [], []
    for s in samples:
        response = s.get("response_text")
        form = response_form(response)
        if form:
            ev["responses"].append(response)
            ev["with_response"] += 1
            ev["forms"][form] += 1
            if form == "short":
                ev["short_answers"][re.sub(r"[^a-z0-9 _-]", "", strip_fences(response or "").strip().lower())] += 1
            if _CLARIFY.search((response or "")[:600]):
                ev["clarifying"] += 1
        prompt, system = s.get("prompt_text") or "", s.get("system_prompt") or ""
        prompt_chars.append(len(prompt) + len(system))
        if s.get("input_tokens"):
            input_tokens.append(s["input_tokens"])
        if _CODE_FENCE.search(prompt[:6000]) or re.search(r"^(?:diff --git|@@ .* @@|[+-]{3} [ab]/)", prompt[:6000], re.M) \
                or len(_CODE_START.findall(prompt[:6000])) >= 2:
            ev["code_prompts"] += 1
        instructions = system[:3000] + "\n" + prompt[:1500]
        kind = next((kind for kind, pattern in _CUES if pattern.search(instructions)), None)
        if kind:
            ev["cues"][kind] += 1
    ev["median_tokens"] = float(np.median(input_tokens)) if input_tokens else float(np.median(prompt_chars)) / 4.0
    return ev


def _type_from_responses(ev: dict) -> tuple[str, str] | None:
    """A task type the frontier responses settle on their own (labels, tags, structure, code), or None."""
    forms, with_response = ev["forms"], ev["with_response"]

    def share(count):
        return count / with_response if with_response else 0.0

    if share(ev["clarifying"]) >= 0.3:
        return tt.AMBIGUOUS_INSTRUCTION, f"{_pct(share(ev['clarifying']))} of frontier responses ask for clarification"
    if share(forms["short"]) >= 0.6:
        labels = len(ev["short_answers"])
        if labels <= max(12, 0.2 * forms["short"]):
            top = ", ".join(lbl for lbl, _ in ev["short_answers"].most_common(4))
            return tt.CLASSIFICATION, (f"{_pct(share(forms['short']))} of responses are short labels from a set of "
                                       f"{labels} ({top})")
    tag_lists = [t for t in (_tags(r) for r in ev["responses"]) if t]
    tag_vocabulary = {tag for tags in tag_lists for tag in tags}
    if share(len(tag_lists)) >= 0.6 and len(tag_vocabulary) <= min(40, 0.5 * len(tag_lists)):
        return tt.CLASSIFICATION, (f"{_pct(share(len(tag_lists)))} of responses are comma-separated tags from a "
                                   f"set of {len(tag_vocabulary)}")
    if share(forms["json"] + forms["sql"] + forms["svg"]) >= 0.5:
        kind = max(("json", "sql", "svg"), key=lambda f: forms[f])
        if kind == "json" and ev["cues"][tt.EXTRACTION] >= 0.3 * ev["n"]:
            return tt.EXTRACTION, f"{_pct(share(forms['json']))} of responses are JSON and prompts ask to extract"
        return tt.STRUCTURED_GENERATION, f"{_pct(share(forms[kind]))} of responses parse as {kind.upper()}"
    if share(forms["code"]) >= 0.5:
        return tt.CODE_FROM_SPEC, f"{_pct(share(forms['code']))} of responses are code"
    if ev["code_prompts"] >= 0.5 * ev["n"] and share(forms["prose"]) >= 0.5:
        # Code in, prose out: reviewing or explaining existing (often proprietary) code, not writing it
        # from a spec. The vocabulary has no closer type, and it must not pass for open-ended writing.
        return tt.OTHER, (f"{_pct(ev['code_prompts'] / ev['n'])} of prompts carry code and "
                          f"{_pct(share(forms['prose']))} of responses discuss it (code review or explanation)")
    return None


def infer_task_type(samples: list[dict]) -> tuple[str, str]:
    """The task type of a category and the evidence for it, from a sample of its requests
    (dicts with system_prompt, prompt_text, response_text, input_tokens)."""
    if not samples:
        return tt.OTHER, "no requests"
    ev = _evidence(samples)
    n, cues, forms, with_response = ev["n"], ev["cues"], ev["forms"], ev["with_response"]
    if with_response:
        found = _type_from_responses(ev)
        if found:
            return found
    if cues[tt.SUMMARIZATION] >= 0.4 * n:
        return tt.SUMMARIZATION, f"{_pct(cues[tt.SUMMARIZATION] / n)} of prompts ask for a summary"
    if ev["median_tokens"] >= 3000:
        return tt.LONG_DOCUMENT_REASONING, f"median input is {int(ev['median_tokens']):,} tokens"
    if cues:
        kind, votes = cues.most_common(1)[0]
        if votes >= 0.4 * n and kind != tt.STRUCTURED_GENERATION or votes >= 0.6 * n:
            return kind, f"{_pct(votes / n)} of prompts ask for it ({tt.LABELS[kind].lower()})"
    if with_response and forms["prose"] / with_response >= 0.5:
        return tt.OPEN_ENDED, f"{_pct(forms['prose'] / with_response)} of responses are free prose"
    if not with_response:
        return tt.OTHER, "no frontier responses logged and no clear cue in the prompts"
    top_form, count = forms.most_common(1)[0]
    return tt.OTHER, f"mixed responses (most common: {top_form}, {_pct(count / with_response)})"


# --- optional: names from an LLM, Clio-style -----------------------------------------------------------

_NAMING_SYSTEM = (
    "You name groups of requests that a company's software sends to an LLM API, for an engineering manager "
    "deciding which workloads could move to a local model. You get requests from inside one group and, for "
    "contrast, requests from neighbouring groups. Reply with JSON only: {\"name\": \"...\", \"description\": \"...\"}. "
    "The name has 2 to 6 words, says what task the requests ask for (e.g. \"Support ticket triage\", "
    "\"SQL for revenue questions\"), fits every inside request and none of the outside ones. The description is "
    "one sentence. Never copy personal data, names, numbers or secrets from the requests."
)


def llm_name(endpoint: str, model: str, inside: list[str], outside: list[str], keywords: list[str],
             *, timeout: float = 120.0) -> tuple[str, str] | None:
    """A (name, description) for a category from a local OpenAI-compatible model, or None when the answer is
    unusable. Samples are clipped: names need the gist, not the whole prompt."""
    from .llm_client import chat

    def block(texts):
        return "\n".join(f"- {' '.join(t.split())[:300]}" for t in texts) or "- (none)"

    user = (f"Inside the group:\n{block(inside)}\n\nOutside (neighbouring groups):\n{block(outside)}\n\n"
            f"Distinctive keywords of the group: {', '.join(keywords[:10])}")
    result = chat(endpoint, model, [{"role": "system", "content": _NAMING_SYSTEM}, {"role": "user", "content": user}],
                  params={"temperature": 0, "max_tokens": 200}, timeout=timeout, retries=1)
    text = strip_fences(result.text or "").strip()
    name, description = None, ""
    start, end = text.find("{"), text.rfind("}")
    if start >= 0 and end > start:
        try:
            obj = json.loads(text[start : end + 1])
            name, description = obj.get("name"), str(obj.get("description") or "")
        except ValueError:
            pass
    if name is None and text:
        name = text.splitlines()[0]
    if not isinstance(name, str):
        return None
    name = " ".join(name.replace('"', "").split()).strip(" .:-")
    if not name or len(name) > 80 or len(name.split()) > 10:
        return None
    return name[0].upper() + name[1:], " ".join(description.split())[:300]
