"""The schema: the contract between stages.

Migrations are an ordered list of named functions; the ledger table
``schema_migrations`` records which ones a database has had. Never edit a
migration that has shipped: append a new one. Column names carry units.
"""

from __future__ import annotations

import re

MIGRATIONS: list = []


def migration(fn):
    MIGRATIONS.append(fn)
    return fn


@migration
def m001_requests(con):
    con.execute(
        """
        create table requests (
            id                  bigint primary key,  -- stable hash of the dedupe key
            source_id           varchar,             -- the log's own id for the call
            source_file         varchar,
            source_line         bigint,              -- line (JSONL/CSV) or record number
            source_format       varchar,
            provider            varchar,
            model               varchar,             -- as logged
            created_at          timestamp,           -- UTC
            system_prompt       varchar,
            messages_json       varchar,             -- the conversation sent, OpenAI chat shape
            prompt_text         varchar,             -- the text that represents the request
            response_text       varchar,
            input_tokens        bigint,              -- total input, cached included
            cached_input_tokens bigint,
            cache_write_tokens  bigint,
            output_tokens       bigint,
            reasoning_tokens    bigint,
            cost_usd            double,
            cost_source         varchar,             -- log | catalog | unknown
            is_batch            boolean,
            duration_ms         double,
            status              varchar,             -- ok | error | blocked | ...
            user_id             varchar,
            tags_json           varchar,
            params_json         varchar,             -- temperature, max_tokens, response_format, tools ...
            ingested_at         timestamp default (now()::timestamp)
        )
        """
    )
    con.execute(
        """
        create table rejects (
            id          bigint primary key,  -- hash of file + line + reason, so re-ingest adds nothing
            source_file varchar,
            source_line bigint,
            source_format varchar,
            reason      varchar,
            excerpt     varchar,
            rejected_at timestamp default (now()::timestamp)
        )
        """
    )
    con.execute(
        """
        create table ingested_files (
            path          varchar,
            sha256        varchar,
            size_bytes    bigint,
            source_format varchar,
            rows_added    bigint,
            rows_duplicate bigint,
            rows_rejected bigint,
            ingested_at   timestamp default (now()::timestamp)
        )
        """
    )
    con.execute(
        """
        create table stage_runs (
            stage        varchar,
            started_at   timestamp,
            finished_at  timestamp,
            params_json  varchar,
            summary_json varchar
        )
        """
    )


@migration
def m002_categories(con):
    con.execute(
        """
        create table embeddings (
            content_hash varchar,   -- md5 of the exact text embedded
            embedder     varchar,   -- embedder name, e.g. all-MiniLM-L6-v2
            vector       float[],   -- L2-normalised
            primary key (content_hash, embedder)
        )
        """
    )
    con.execute(
        """
        create table categories (
            category_id        integer primary key,  -- 0 = Other; stable across re-runs (see analyzer/categorize.py)
            name               varchar,
            name_source        varchar,              -- template | keywords | llm
            description        varchar,              -- one sentence, when an LLM named the category
            task_type          varchar,              -- analyzer/task_types.py
            task_type_evidence varchar,              -- why, e.g. "92% of responses parse as JSON"
            keywords_json      varchar,              -- ["keyword", ...] best first (c-TF-IDF)
            examples_json      varchar,              -- [{"request_id", "text"}] nearest the centre first
            requests           bigint,
            share_of_requests  double,
            share_ci_low       double,               -- 95% interval on share_of_requests
            share_ci_high      double,
            input_tokens       bigint,
            output_tokens      bigint,
            spend_usd          double,               -- requests with unknown cost count as 0
            share_of_spend     double,
            share_of_spend_ci_low  double,           -- 95% interval on share_of_spend
            share_of_spend_ci_high double,
            spend_ci_low_usd   double,               -- 95% interval on spend_usd
            spend_ci_high_usd  double,
            unpriced_requests  bigint,
            models_json        varchar,              -- [{"model", "requests", "spend_usd"}]
            first_at           timestamp,
            last_at            timestamp,
            is_other           boolean,
            spend_rank         integer,              -- 1 = highest spend; null for Other
            embedder           varchar,
            k                  integer,
            created_at         timestamp default (now()::timestamp)
        )
        """
    )
    con.execute(
        """
        create table request_categories (
            request_id  bigint primary key,  -- requests.id
            category_id integer,             -- categories.category_id
            cluster     integer,             -- raw cluster before folding into Other (-1: no prompt text)
            distance    double,              -- cosine distance to the cluster centre
            assigned_by varchar,             -- fit | exact (costly, embedded) | nearest | template | no_text
            template_id bigint               -- prompt_templates.template_id
        )
        """
    )
    con.execute(
        """
        create table prompt_templates (
            template_id    bigint primary key,  -- stable hash of kind + normalised template text
            kind           varchar,             -- system | user_prefix
            text           varchar,             -- normalised head of the template
            requests       bigint,
            spend_usd      double,
            category_id    integer,             -- the category most of its requests fall in
            category_share double               -- share of its requests in that category
        )
        """
    )


@migration
def m003_replays(con):
    con.execute(
        """
        create table replays (
            id                  bigint primary key,  -- hash of request_id + model: one row per sampled request and model
            request_id          bigint,              -- requests.id
            category_id         integer,             -- categories.category_id at sampling time
            model               varchar,
            endpoint            varchar,             -- as the user gave it (URL, or 'embedded')
            output_text         varchar,             -- the answer, reasoning excluded
            reasoning_text      varchar,             -- reasoning_content / <think> block, when the model gave one
            tool_calls_json     varchar,             -- tool calls the local model made
            input_tokens        bigint,
            output_tokens       bigint,
            tokens_estimated    boolean,             -- true when the server reported no usage
            latency_ms          double,
            ttft_ms             double,              -- time to first token (streaming only)
            output_tokens_per_s double,              -- output tokens / latency
            finish_reason       varchar,
            error               varchar,             -- null when the call succeeded
            error_kind          varchar,             -- timeout | server_error | malformed | bad_request | not_replayable ...
            params_json         varchar,             -- parameters sent (temperature, max_tokens, response_format, tools ...)
            not_carried_json    varchar,             -- what could not be carried over: {kind: count}
            seed                bigint,
            stream              boolean,
            attempts            integer,
            started_at          timestamp,
            finished_at         timestamp
        )
        """
    )
    con.execute(
        """
        create table endpoint_throughput (
            endpoint            varchar,
            model               varchar,
            concurrency         integer,
            calls               bigint,
            output_tokens       bigint,
            tokens_estimated    boolean,   -- some calls' output tokens were estimated
            wall_s              double,
            output_tokens_per_s double,    -- aggregate over the run at this concurrency
            measured_at         timestamp default (now()::timestamp)
        )
        """
    )


@migration
def m004_judgments(con):
    con.execute(
        """
        create table judgments (
            replay_id     bigint,   -- replays.id
            request_id    bigint,
            category_id   integer,
            model         varchar,  -- the local model that answered
            check_name    varchar,  -- a check, or 'replay' (the call failed) or 'human' (a reviewer's verdict)
            passed        boolean,  -- NULL: the check did not apply to this answer
            score         double,
            reason        varchar,
            source        varchar,  -- auto | human
            runtime_check boolean,  -- needs no frontier answer, so it could gate a cascade in production
            judged_at     timestamp default (now()::timestamp),
            primary key (replay_id, check_name)
        )
        """
    )
    con.execute(
        """
        create table category_acceptance (
            category_id          integer primary key,
            name                 varchar,
            task_type            varchar,
            model                varchar,
            n                    bigint,   -- judged replays (human verdicts included)
            passed               bigint,
            acceptance           double,   -- fractions 0..1
            ci_low               double,   -- 95% Wilson interval
            ci_high              double,
            decision             varchar,  -- local | cascade | frontier | local-for-compliance
            decision_reason      varchar,
            caught_failures      bigint,   -- failures a runtime check (or a failed call) would catch
            human_reviewed       bigint,
            unjudged             bigint,   -- replays no check applied to
            margin               double,   -- the interval half-width n_needed is computed for
            n_needed             bigint,   -- replays for an interval of +-margin at the observed rate
            n_to_decide          bigint,   -- replays for the lower bound to clear the target at the observed rate
            checks_json          varchar,  -- {check: {n, passed}}
            criteria_json        varchar,  -- the checks applied, with their parameters
            failure_reasons_json varchar,  -- most common reasons, with counts and example replay ids
            examples_json        varchar,  -- example failures: replay ids, check and reason
            thresholds_json      varchar,
            judged_at            timestamp default (now()::timestamp)
        )
        """
    )
    con.execute(
        """
        create table human_reviews (
            replay_id     bigint primary key,
            passed        boolean,
            note          varchar,
            output_sha256 varchar,  -- the answer the reviewer saw; a changed answer makes the verdict stale
            source_file   varchar,
            reviewed_at   timestamp default (now()::timestamp)
        )
        """
    )


@migration
def m005_privacy(con):
    con.execute(
        """
        create table privacy_findings (
            request_id bigint,   -- requests.id
            kind       varchar,  -- EMAIL, AWS_KEY, ... never the value
            count      integer,
            primary key (request_id, kind)
        )
        """
    )
    con.execute(
        """
        create table privacy_scans (
            request_id bigint primary key,  -- requests.id, scanned once
            findings   integer
        )
        """
    )


@migration
def m006_category_stability(con):
    # How much a category depends on the particular fit (analyzer/categorize.py: refit_stability):
    # mean weighted Jaccard overlap with its match in refits (0..1), and the range of its share of spend.
    con.execute("alter table categories add column stability double")
    con.execute("alter table categories add column share_of_spend_refit_low double")
    con.execute("alter table categories add column share_of_spend_refit_high double")


@migration
def m007_requests_text_zstd(con):
    # The long texts of `requests` are mostly unique: zstd stores them smaller than DuckDB's default choice
    # (dictionary or FSST, picked by analysing every segment) and writes them about a third faster, which is what
    # keeps `plan ingest` of a big export near DuckDB's own load time (benchmarks/README.md). Scanning them is
    # slower (0.05 -> 0.17 s per million prompts), far below any stage's own cost. System prompts repeat, so they
    # keep the default (a dictionary).
    ddl = con.execute("select sql from duckdb_tables() where table_name = 'requests' and schema_name = 'main'").fetchall()[0][0]
    for column in ("messages_json", "prompt_text", "response_text"):
        ddl = re.sub(rf"\b{column} VARCHAR\b(?! USING)", f"{column} VARCHAR USING COMPRESSION zstd", ddl, count=1)
    con.execute(ddl.replace("CREATE TABLE requests(", "CREATE TABLE requests_m007(", 1))
    con.execute("insert into requests_m007 select * from requests")
    con.execute("drop table requests")
    con.execute("alter table requests_m007 rename to requests")


@migration
def m008_verdict_evidence(con):
    # A failed call is not an answer (analyzer/replay.py): its class says whether a rerun can fix it, and the
    # fallback steps taken when the endpoint refused a request field are kept per call.
    con.execute("alter table replays add column error_class varchar")      # transient | deterministic
    con.execute("alter table replays add column downgrades_json varchar")  # ["response_format:json_schema->json_object", ...]
    # What each category's decision rests on (analyzer/judge.py), and what kept answers out of it.
    con.execute("alter table category_acceptance add column answers bigint")          # calls that came back with an answer
    con.execute("alter table category_acceptance add column errors_json varchar")     # {calls, transient, deterministic, kinds, example}
    con.execute("alter table category_acceptance add column downgrades_json varchar") # {fallback step: calls}
    con.execute("alter table category_acceptance add column evidence varchar")        # objective | llm_judge | human | similarity | none
    con.execute("alter table category_acceptance add column evidence_json varchar")   # {evidence kind: judged answers}
    con.execute("alter table category_acceptance add column judge_model varchar")     # the llm_judge model, when one judged
    con.execute("alter table category_acceptance add column self_judged boolean")     # the judge was the model judged


@migration
def m009_ingest_conflicts_and_spans(con):
    # Calls logged twice with different content are conflicts (the first record is kept, the others listed here);
    # OpenTelemetry spans keep their trace and parent link; `operation` says what a call did (chat, embeddings...)
    # so embeddings are priced but not categorized. `requests` is rebuilt as m007 did, keeping rows and its key.
    ddl = con.execute("select sql from duckdb_tables() where table_name = 'requests' and schema_name = 'main'").fetchall()[0][0]
    added = "operation VARCHAR, trace_id VARCHAR, parent_span_id VARCHAR, "
    ddl = re.sub(r"(\bingested_at TIMESTAMP)", added + r"\1", ddl, count=1)
    con.execute(ddl.replace("CREATE TABLE requests(", "CREATE TABLE requests_m009(", 1))
    columns = [r[0] for r in con.execute(
        "select column_name from information_schema.columns where table_name = 'requests' order by ordinal_position"
    ).fetchall()]
    listed = ", ".join(columns)
    con.execute(f"insert into requests_m009 ({listed}) select {listed} from requests")
    con.execute("drop table requests")
    con.execute("alter table requests_m009 rename to requests")
    con.execute(
        """
        create table conflicts (
            request_id    bigint,   -- the stored (kept) request
            source_id     varchar,  -- the log's id for the call
            source_file   varchar,  -- where the conflicting record was
            source_line   bigint,
            source_format varchar,
            kept_file     varchar,  -- where the kept record came from
            kept_line     bigint,
            fields        varchar,  -- which fields differ, e.g. 'input_tokens, response_text'
            detected_at   timestamp default (now()::timestamp)
        )
        """
    )


@migration
def m010_category_hierarchy(con):
    # Categories form a hierarchy: workloads (a shared template, an app tag, a user) above intents (clusters).
    # Every node is a row; `named` marks the rows request_categories.category_id points at (the --top named
    # categories of the named level, and Other), the rows every per-category figure downstream is about.
    con.execute("alter table categories add column parent_id integer")     # the workload of an intent
    con.execute("alter table categories add column level varchar")         # workload | intent | other
    con.execute("alter table categories add column named boolean")
    con.execute("alter table categories add column workload_source varchar")  # template | tag | user | topic | untemplated | no_text
    con.execute("alter table categories add column workload_label varchar")   # the tag or user value of a workload
    con.execute("alter table categories add column named_level varchar")      # the level this run named
    # Keywords become a typed list (one writer, one reader) instead of a JSON string.
    con.execute("alter table categories add column keywords varchar[]")
    con.execute("update categories set keywords = cast(keywords_json as json)::varchar[] where keywords_json is not null")
    con.execute("update categories set named = true, level = case when is_other then 'other' else 'intent' end")
    con.execute("alter table categories drop column keywords_json")
    con.execute("alter table request_categories add column intent_id integer")  # categories.category_id of its intent


@migration
def m011_privacy_scan_engine(con):
    # Which detector set scanned a request (analyzer.redact.engine_version()). A request scanned by another set
    # is scanned again, so better detectors reach the stored findings; rows from before this column are NULL.
    con.execute("alter table privacy_scans add column engine varchar")


@migration
def m012_category_centroids(con):
    # What `plan route` classifies new prompts with: the centres categorize assigned by, and the templates that
    # complete a request's vector (analyzer/categorize/store.py writes both, analyzer/route reads them).
    con.execute(
        """
        create table category_centroids (
            cluster      integer primary key,  -- request_categories.cluster
            category_id  integer,              -- the named category it folds into (0 = Other)
            intent_id    integer,              -- categories.category_id of its intent
            embedder     varchar,              -- the embedder of the content block
            content_dims integer,              -- leading dimensions that embed the text; the rest embed the template
            centre       float[]               -- unit vector in categorize's space: [text, template] renormalised
        )
        """
    )
    con.execute(
        """
        create table template_vectors (
            template_id bigint primary key,  -- prompt_templates.template_id
            kind        varchar,             -- system | user_prefix
            match_key   varchar,             -- system: md5 of the normalised system prompt; user_prefix: the prefix
            embedder    varchar,
            vector      float[],             -- unit embedding of the template's text
            cluster     integer              -- set when every request of the template goes to this cluster
        )
        """
    )


@migration
def m013_ingested_object_version(con):
    # Objects read from s3://, gs:// or az:// are skipped on the next run when their URL, size and this tag (ETag,
    # generation or version id) are unchanged, so a year of objects is not downloaded again (analyzer/ingest/remote.py).
    con.execute("alter table ingested_files add column object_version varchar")


@migration
def m014_request_sample_rate(con):
    # Exports that hold a sample of the traffic (tracing samplers, Langfuse sample_rate, a slice of S3 objects): the
    # fraction R of the calls each stored request stands for, so figures scale by 1/R (analyzer/sampling.py). NULL is
    # not sampled (R = 1). The source is 'stated' when the export said so per record, 'flag' when `plan ingest
    # --sample-rate` (or [ingest] sample_rate) said so for the file, which wins over a stated rate.
    con.execute("alter table requests add column sample_rate double")
    con.execute("alter table requests add column sample_rate_source varchar")  # flag | stated | NULL


@migration
def m015_acceptance_cut_short(con):
    # Answers the replay's output-token cap stopped (finish_reason 'length'): a check that fails on a cut answer
    # may be the cap's doing, not the model's, so every place that shows acceptance says how many were cut.
    con.execute("alter table category_acceptance add column cut_short integer")


@migration
def m016_requests_key_kept_by_ingest(con):
    # `requests.id` stays unique, kept so by ingest itself: every insert leaves out stored ids and takes the first
    # line of an id repeated among its rows, and the whole-file statement counts repeats after it runs (and is
    # undone when there are any). DuckDB's primary-key index cost a quarter of a million-line ingest (2.1 of
    # 8.7 s on Batch output lines), and nothing looks requests up one id at a time. Rebuilt as m007 did.
    ddl = con.execute("select sql from duckdb_tables() where table_name = 'requests' and schema_name = 'main'").fetchall()[0][0]
    if "PRIMARY KEY" not in ddl:
        return
    ddl = re.sub(r"\bid BIGINT PRIMARY KEY\b", "id BIGINT NOT NULL", ddl, count=1)
    con.execute(ddl.replace("CREATE TABLE requests(", "CREATE TABLE requests_m016(", 1))
    con.execute("insert into requests_m016 select * from requests")
    con.execute("drop table requests")
    con.execute("alter table requests_m016 rename to requests")


@migration
def m017_cache_writes_kept_an_hour(con):
    # Anthropic prices a cache write kept for an hour (cache_control ttl 1h) at twice the input price, one kept five
    # minutes at 1.25 times: of `cache_write_tokens`, how many were written for an hour, so that they are priced so.
    con.execute("alter table requests add column cache_write_1h_tokens bigint")


@migration
def m018_web_searches(con):
    # A web search a model ran for the call (Anthropic's server tool, OpenAI's web_search tool) is billed per search,
    # on top of the tokens: how many the call ran, so that the catalogue's per-search price is added.
    con.execute("alter table requests add column web_searches bigint")


def apply_migrations(con) -> list[str]:
    con.execute("create table if not exists schema_migrations (name varchar primary key, applied_at timestamp)")
    done = {r[0] for r in con.execute("select name from schema_migrations").fetchall()}
    applied = []
    for fn in MIGRATIONS:
        if fn.__name__ in done:
            continue
        con.execute("begin")
        try:
            fn(con)
            con.execute("insert into schema_migrations values (?, now()::timestamp)", [fn.__name__])
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise
        applied.append(fn.__name__)
    return applied
