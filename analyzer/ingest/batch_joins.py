"""Batch halves ingested in different runs: a batch's input file stored by one `plan ingest` and its output file
by a later one (or the other way round) are joined as they are when given together.

Within a run the format readers join an output line to its input line (``app_log.take_batch_input``). Across runs
the stored rows are joined here: an unanswered input row (status ``no_response``) and an output row without a
prompt that share a ``custom_id`` (``source_id``) become one row, the output's, with the input's conversation,
parameters, user and tags; the input row goes. A custom_id is joined only when it names exactly one unanswered
input row and one prompt-less output row (a Responses output's echoed instructions are no prompt) and their models
are of one family: batches often reuse ids such as ``request-1``, and an ambiguous id is left as it is. One of the
two must have come in this run. The output's provider may differ from the input's (Groq's batches write OpenAI's
format).
An input file read again after its lines were joined adds nothing: its lines are repeats of the joined rows.
"""

from __future__ import annotations

import pyarrow as pa

from .formats.app_log import model_family
from .incoming import FileResult

# (input format, output format) of each batch API whose halves are separate files.
BATCH_HALVES = (("openai-batch-input", "openai-batch-output"), ("anthropic-batch-requests", "anthropic-batch-results"))
FROM_INPUT = ("system_prompt", "prompt_text", "messages_json")  # what the input line sent
FROM_INPUT_IF_GIVEN = ("params_json", "user_id", "tags_json")


def join_stored_batch_halves(con, results: dict[str, FileResult], joined: dict[str, set], stamp) -> None:
    """Join this run's batch rows to the other halves stored before (see the module's docstring); counts each
    joined pair as a row filled in (a repeat, when the output held that input already) for the file of this run,
    not as one added, and notes input files' joins."""
    pairs = [p for halves in BATCH_HALVES for p in candidate_pairs(con, *halves, stamp)
             if not p["input_model"] or not p["output_model"]  # a failed call's output names no model
             or model_family(p["input_model"]) == model_family(p["output_model"])]
    if not pairs:
        return
    con.execute("begin transaction")
    try:
        merge_pairs(con, pairs)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    for p in pairs:
        newer = results.get(p["output_file"] if p["output_new"] else p["input_file"])
        if newer is not None:
            newer.rows_added -= 1
            if p["joined_before"]:
                newer.rows_duplicate += 1
            else:
                newer.rows_filled_in += 1
        if p["input_new"]:
            joined.setdefault(p["input_file"], set()).add(p["output_file"])


def candidate_pairs(con, input_format: str, output_format: str, stamp) -> list[dict]:
    """(input row, output row) of one custom_id, each the other's only match, one of them stored by this run. An
    output row matches an unanswered input row when it has no prompt, or when it holds that input's conversation
    already (the input file read again after the join: its lines are repeats, not new requests)."""
    rows = con.execute(
        """
        with inputs as (
            select id, source_id, model, source_file, ingested_at = $stamp as new, prompt_text, messages_json
            from requests where source_format = $input and status = 'no_response' and source_id is not null),
        outputs as (
            select id, source_id, model, source_file, ingested_at = $stamp as new, prompt_text, messages_json
            from requests where source_format = $output and source_id is not null),
        matches as (
            select i.id as i_id, o.id as o_id, i.model as i_model, o.model as o_model, i.source_file as i_file,
                   o.source_file as o_file, i.new as i_new, o.new as o_new, o.prompt_text is not null as joined_before
            from inputs i join outputs o using (source_id)
            where (o.prompt_text is null and o.messages_json is null)
               or (o.messages_json is not distinct from i.messages_json and o.prompt_text is not distinct from i.prompt_text))
        select * exclude (n_i, n_o) from (
            select *, count(*) over (partition by i_id) as n_i, count(*) over (partition by o_id) as n_o from matches)
        where n_i = 1 and n_o = 1 and i_new <> o_new
        """,
        {"stamp": stamp, "input": input_format, "output": output_format},
    ).fetchall()
    keys = ("input_id", "output_id", "input_model", "output_model", "input_file", "output_file", "input_new",
            "output_new", "joined_before")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def merge_pairs(con, pairs: list[dict]) -> None:
    """Each output row takes its input row's conversation (and what the output lacks); the input rows go."""
    table = pa.table({"input_id": pa.array([p["input_id"] for p in pairs], pa.int64()),
                      "output_id": pa.array([p["output_id"] for p in pairs], pa.int64())})
    sets = ", ".join([*(f"{c} = i.{c}" for c in FROM_INPUT), *(f"{c} = coalesce(i.{c}, r.{c})" for c in FROM_INPUT_IF_GIVEN),
                      "model = coalesce(r.model, i.model)"])
    con.register("_batch_pairs", table)
    try:
        con.execute(f"""update requests r set {sets}
                        from (select p.output_id, q.* from _batch_pairs p join requests q on q.id = p.input_id) i
                        where r.id = i.output_id""")
        con.execute("delete from requests where id in (select input_id from _batch_pairs)")
    finally:
        con.unregister("_batch_pairs")
