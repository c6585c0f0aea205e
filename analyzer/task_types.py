"""The fixed vocabulary of task types, matching the article's table. Categorize infers one per category;
judge picks default success criteria from it; the report shows it."""

STRUCTURED_GENERATION = "structured_generation"  # JSON, SQL, SVG, other markup with a checkable form
CODE_FROM_SPEC = "code_from_spec"                # a function from a clear specification
CLASSIFICATION = "classification"                # labelling, tagging, routing, sentiment
EXTRACTION = "extraction"                        # pulling fields out of text
SUMMARIZATION = "summarization"
LONG_DOCUMENT_REASONING = "long_document_reasoning"
OPEN_ENDED = "open_ended"                        # chat, writing
AMBIGUOUS_INSTRUCTION = "ambiguous_instruction"
OTHER = "other"

TASK_TYPES = (
    STRUCTURED_GENERATION,
    CODE_FROM_SPEC,
    CLASSIFICATION,
    EXTRACTION,
    SUMMARIZATION,
    LONG_DOCUMENT_REASONING,
    OPEN_ENDED,
    AMBIGUOUS_INSTRUCTION,
    OTHER,
)

LABELS = {
    STRUCTURED_GENERATION: "Structured generation (JSON, SQL, SVG)",
    CODE_FROM_SPEC: "Code from a clear spec",
    CLASSIFICATION: "Classification or tagging",
    EXTRACTION: "Extraction",
    SUMMARIZATION: "Summarisation",
    LONG_DOCUMENT_REASONING: "Long-document reasoning",
    OPEN_ENDED: "Open-ended chat or writing",
    AMBIGUOUS_INSTRUCTION: "Ambiguous instruction",
    OTHER: "Other",
}
