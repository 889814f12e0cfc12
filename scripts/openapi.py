#!/usr/bin/env python3
"""Writes Sources/ArgusServer/OpenAPI/openapi.json, the OpenAPI 3.1 document of every argus-server route.

The JSON file is what the server serves at GET /openapi.json and what OpenAPITests checks against the router and
schemathesis checks against a live server; this script is how it is written (edit here, run it, commit both).
"""
import json, os, sys

S = lambda t: {"type": t}
def N(t):  # nullable
    return {"type": [t, "null"]}
STR, INT, NUM, BOOL = S("string"), S("integer"), S("number"), S("boolean")
NSTR, NINT, NNUM = N("string"), N("integer"), N("number")
TIME = {"type": ["string", "null"], "description": "UTC ISO-8601, e.g. 2026-12-02T10:00:00.123456Z"}
def ref(n): return {"$ref": f"#/components/schemas/{n}"}
def obj(props, required=None, extra=False, **kw):
    o = {"type": "object", "properties": props, "required": list(props) if required is None else required}
    if extra is not None:
        o["additionalProperties"] = extra
    o.update(kw)
    return o
def arr(item): return {"type": "array", "items": item}

BATCH_STATUS = {"type": "string", "enum": ["running", "stopping", "stalled", "done", "failed", "stopped"]}
JOB_STATUS = {"type": "string", "enum": ["running", "stopping", "stalled", "done", "failed", "stopped"]}
batch_list = {
    "id": STR, "project": NSTR, "status": BATCH_STATUS, "host": NSTR, "user": NSTR, "command": NSTR,
    "n_total": NINT, "n_done": INT, "n_failed": INT, "start_time": TIME, "end_time": TIME, "last_activity": TIME,
    "last_received": TIME, "last_seen": TIME,
}
env = obj({"git_sha": NSTR, "git_sha_short": NSTR, "command": NSTR, "cwd": NSTR, "hostname": NSTR, "user": NSTR})
batch_detail = dict(batch_list)
batch_detail.update({
    "experiment_type": NSTR, "failure_reason": NSTR, "end_reason": NSTR, "env_snapshot": ref("EnvSnapshot"), "stop_requested": BOOL,
    "stop_requested_at": TIME, "source_batch_id": NSTR, "agent_online": BOOL,
    "stop_detail": dict(NSTR, description="while a stop is asked for: how it reaches the run, as a sentence's end"),
})
gpu = obj({"index": INT, "mem_peak_mb": NNUM, "mem_total_mb": NNUM})
telemetry = obj({
    "status": JOB_STATUS, "elapsed_s": NNUM, "gpu_util_pct": NNUM, "gpu_mem_peak_mb": NNUM, "gpu_mem_total_mb": NNUM,
    "gpu_count": NINT, "gpus": arr(ref("GPUPeak")),
    "train_loss": NNUM, "val_loss": NNUM,
    "nonfinite": dict(arr({"type": "string", "enum": ["train_loss", "val_loss"]}), description=
        "Which of train_loss and val_loss the latest epoch reported as NaN or ±infinity (their value is then null)."),
    "epoch": NINT, "is_idle_flagged": BOOL, "idle_since": TIME,
    "best_val_loss": dict(NNUM, description="The lowest finite val_loss of any epoch (kept after retention)."),
    "best_val_epoch": dict(NINT, description="Its epoch; the earliest on a tie."),
    "total_epochs": dict(NINT, description="job_start's total_epochs, else job_done's train_epochs, else null."),
    "loss_spark": dict(arr(NUM), maxItems=32, description=
        "At most 32 points of the loss curve, oldest first: the mean of each non-empty bucket of 2^k epochs (aligned "
        "to multiples of 2^k; when a 33rd bucket would open, neighbours merge and the width doubles). Draw as is."),
    "loss_spark_metric": {"type": ["string", "null"], "enum": ["train_loss", "val_loss", None],
                          "description": "The metric loss_spark summarises: train_loss, or val_loss for a job without it."},
})
job = obj({
    "id": STR, "batch_id": STR, "model": NSTR, "dataset": NSTR, "status": JOB_STATUS, "start_time": TIME,
    "end_time": TIME, "elapsed_s": NNUM, "metrics": {"type": ["object", "null"]}, "failure_reason": NSTR,
    "is_idle_flagged": BOOL, "last_activity": TIME, "telemetry": ref("Telemetry"),
})
epoch = obj({"epoch": INT, "timestamp": STR, "train_loss": NNUM, "val_loss": NNUM, "lr": NNUM},
            required=["epoch", "timestamp"], extra=True,
            description="Every other numeric key the job_epoch event carried is kept beside these.")
log_line = obj({"id": INT, "ts": STR, "job_id": NSTR, "level": STR, "line": STR})
resource = obj({"id": INT, "ts": STR, "job_id": NSTR}, extra=True,
               description="The snapshot's flat keys: gpu_util_pct, gpu_mem_mb, cpu_util_pct, ram_mb, …")
action_failure = obj({"reason": STR, "at": {"type": "string", "description": "UTC ISO-8601"}}, description=(
    "Why the host's agent did not carry out this action's latest command for the batch, and when that was known: "
    "on rerun until another rerun is asked for, on stop while the batch is stopping."))
action_state = obj({"enabled": BOOL, "reason": STR, "failed": action_failure,
                    "runs_in": {"type": "string", "description": "On rerun: where the rerun runs, the batch's recorded "
                                "working directory or \"the agent's home directory (no working directory was recorded)\"."}},
                   required=["enabled"])
actions = obj({k: ref("ActionState") for k in ["stop", "rerun", "share", "copy_command", "mark_failed"]})
NNUMS = arr({"type": ["number", "null"]})
epoch_columns = obj({
    "count": INT, "epoch": arr(INT), "timestamp_us": arr(INT),
    "columns": {"type": "object", "additionalProperties": NNUMS,
                "description": "One array per numeric key, `count` long; null where the epoch has no value."},
    "nonfinite": {"type": "object", "additionalProperties": arr(INT),
                  "description": "For each key the script reported as NaN or ±infinity, the row indexes where it did."},
}, description="The epochs as one array per key (`/view?epochs=columns`): row i is epoch[i], timestamp_us[i] "
               "(microseconds since 1970) and each column's i-th value.")
view = obj({
    "batch": ref("BatchDetail"), "job": ref("Job"),
    "epochs": {"oneOf": [arr(ref("Epoch")), ref("EpochColumns")],
               "description": "Rows (ascending), or columns when asked for with `epochs=columns`."},
    "log_tail": arr(ref("LogLine")),
    "resources_latest": {"oneOf": [ref("ResourceSnapshot"), {"type": "null"}]}, "env_snapshot": ref("EnvSnapshot"),
    "actions": ref("Actions"), "last_event_id": NINT,
})
error = obj({"detail": STR}, required=["detail"], extra=True,
            description="Every error: one readable sentence in `detail` (a few add fields beside it).")
event = obj({
    "event_id": {"type": "string", "minLength": 8, "maxLength": 64}, "schema_version": {"const": "1.1"},
    "event_type": {"type": "string", "enum": ["batch_start", "batch_done", "batch_failed", "job_start", "job_epoch", "job_done",
                                              "job_failed", "resource_snapshot", "log_line", "env_snapshot"]},
    "timestamp": {"type": "string", "format": "date-time", "description": "ISO-8601; at most 24 h ahead of the server's clock."}, "batch_id": {"type": "string", "minLength": 1, "maxLength": 128},
    "job_id": {"type": ["string", "null"], "maxLength": 256},
    "source": obj({"project": STR, "host": STR, "user": STR, "commit": STR, "command": STR}, required=["project"], extra=True),
    "data": {"type": "object"},
}, required=["event_id", "schema_version", "event_type", "timestamp", "batch_id", "source", "data"], extra=True,
   description="An event envelope (schema_version 1.1), as argus-reporter 0.1.3 sends it.")
single_ok = obj({"accepted": {"const": True}, "event_id": INT, "deduplicated": BOOL})
batch_item = obj({"event_id": {}, "status": {"type": "string", "enum": ["accepted", "deduplicated", "rejected"]},
                  "db_id": INT, "error": STR}, required=["event_id", "status"])
batch_ok = obj({"accepted": INT, "rejected": INT, "deduplicated": INT, "results": arr(ref("BatchResultItem"))})
stop_req = obj({"stop_requested": BOOL, "requested": BOOL, "requested_at": TIME, "requested_by": NSTR})
share = obj({"id": INT, "batch_id": STR, "created_by": STR, "created_at": TIME, "expires_at": TIME, "revoked": BOOL,
             "revoked_at": TIME})
share_created = obj({"id": INT, "token": STR, "url": STR, "created_at": TIME, "expires_at": TIME})
agent_cmd = obj({"id": INT, "kind": {"type": "string", "enum": ["rerun", "stop"]}, "batch_id": STR, "command": NSTR,
                 "cwd": NSTR, "pid": NINT,
                 "run_pid": {"type": ["integer", "null"], "description": "On stop: the pid the batch's run last reported; "
                             "the agent signals `pid`'s process group only when that process is in it or below it."}})

sse_event = obj({
    "event": {"type": "string", "description": "`hello`, `summary`, or the stored event's event_type."},
    "data": {"type": "string", "contentMediaType": "application/json",
             "description": "One line of JSON: hello `{channels, last_event_id, keepalive_s}` (keepalive_s: the server sends `: keepalive` after that many seconds of silence); summary `{id?, channel, event_type, batch, jobs}`; "
                            "otherwise the stored envelope plus `id` and `channel`."},
    "id": {"type": "string", "pattern": "^[0-9]+$", "description": "The server-wide event id (resume with Last-Event-ID)."},
    "retry": {"type": "integer", "const": 2000},
}, required=["event", "data"], description="One frame of the stream (OpenAPI 3.1: the media type's schema describes each event).")
schemas = {
    "Error": error,
    "BatchListItem": obj({**batch_list, "owner": {"type": ["string", "null"], "description":
        "The Argus user whose token created the batch (`user` is the OS user the run reported)."}}), "BatchDetail": obj(batch_detail), "EnvSnapshot": env,
    "Telemetry": telemetry, "GPUPeak": gpu, "Job": job, "Epoch": epoch, "LogLine": log_line, "ResourceSnapshot": resource,
    "ActionState": action_state, "Actions": actions, "JobView": view, "EpochColumns": epoch_columns, "Event": event, "IngestResult": single_ok,
    "BatchResultItem": batch_item, "BatchIngestResult": batch_ok, "StopRequested": stop_req, "Share": share,
    "ShareCreated": share_created, "AgentCommand": agent_cmd, "SSEEvent": sse_event,
}

def js(schema): return {"application/json": {"schema": schema}}
def ok(desc, schema, status="200"): return {status: {"description": desc, "content": js(schema)}}
ERR = {"$ref": "#/components/schemas/Error"}
REASONS = {
    "400": "The body did not arrive in time (ARGUS_BODY_TIMEOUT_S) or the connection ended mid-body.",
    "401": "Missing, unknown or revoked credential; `detail` says which of these it can (\"This token was revoked.\", a dead share link, a revoked agent).",
    "403": "The credential may not do this (share link, agent token, read-only token, or a cookie request without CSRF proof).",
    "404": "No such batch, job or item, or one the caller may not see.",
    "409": "The batch is not in a state that allows this.",
    "413": "The declared or actual body is over the route's limit.",
    "415": "Content-Type is not JSON (ingest: schema_version is not \"1.1\").",
    "422": "A parameter or the body is malformed.",
    "429": "Over the token's budget (ARGUS_INGEST_RATE, ARGUS_INGEST_MB_RATE, ARGUS_ACTION_RATE, ARGUS_MAX_STREAMS_PER_TOKEN); Retry-After says when to try again.",
    "431": "The request line and headers are over ARGUS_MAX_HEADER_KB; the connection is closed.",
    "503": "The database cannot be written or read for a disk fault (full, read-only, I/O error), and `detail` says which and "
           "whether anything from the request was stored (a stream is refused while new events cannot be stored); or ARGUS_MAX_CONNECTIONS connections are open and busy (answered before "
           "the request is read). Retry-After says when to try again.",
}
def errs(*codes): return {c: {"$ref": f"#/components/responses/E{c}"} for c in codes}
def p(name, where="path", schema=STR, desc=None, required=None):
    o = {"name": name, "in": where, "required": where == "path" if required is None else required, "schema": schema}
    if desc: o["description"] = desc
    return o
B = p("b", desc="Batch id (percent-encoded).")
J = p("j", desc="Job id (percent-encoded).")
LIMIT = lambda hi, d: p("limit", "query", {"type": "integer", "minimum": 1, "maximum": hi, "default": d})
USER = [{"bearerToken": []}, {"sessionCookie": [], "csrfHeader": []}]
READ = USER + [{"shareToken": []}]
NONE = [{}]
def body(schema, required=True, desc=None):
    o = {"required": required, "content": js(schema)}
    if desc: o["description"] = desc
    return o
HTML = {"text/html": {"schema": STR}}
def page(summary, params=()):
    op = "page_" + summary.split()[0].lower()
    return {"get": {"operationId": op, "summary": summary, "tags": ["web"],
                    "security": NONE, "parameters": list(params),
                    "responses": {"200": {"description": "The page's HTML shell (its script fetches the data).", "content": HTML},
                                  **errs("401")}},
            "head": {"operationId": op + "_head", "summary": summary + " (GET's status and headers, no body)", "tags": ["web"],
                     "security": NONE, "parameters": list(params),
                     "responses": {"200": {"description": "The page's headers."}}}}

paths = {
    "/health": {"get": {"operationId": "health", "summary": "The database answers", "security": NONE, "tags": ["meta"],
        "responses": {**ok("Healthy.", obj({"status": {"const": "ok"}})),
                      "503": {"description": "The database does not answer.",
                              "content": js(obj({"status": {"const": "unavailable"}, "detail": STR}))}, **errs("401")}},
                "head": {"operationId": "healthHead", "summary": "The database answers (GET's status and headers, no body)",
                         "security": NONE, "tags": ["meta"],
                         "responses": {"200": {"description": "Healthy."},
                                       "503": {"description": "The database does not answer."}}}},
    "/metrics": {"get": {"operationId": "metrics", "summary": "Prometheus text format (ARGUS_METRICS: loopback, token or open)",
        "security": NONE + USER, "tags": ["meta"],
        "responses": {"200": {"description": "Counters, gauges and histograms of ingest, commits, SSE, the database, guardrails and agent commands.",
                              "content": {"text/plain": {"schema": {"type": "string"}}}}, **errs("401")}}},
    "/openapi.json": {"get": {"operationId": "openapi", "summary": "This document", "security": NONE, "tags": ["meta"],
        "responses": {**ok("The OpenAPI 3.1 document.", {"type": "object"}), **errs("401")}}},
    "/api/events": {"post": {"operationId": "ingestEvent", "summary": "Ingest one event", "tags": ["ingest"],
        "security": USER, "requestBody": body(ref("Event")),
        "responses": {**ok("Stored (or already stored), committed to disk.", ref("IngestResult")),
                      **errs("400", "401", "403", "413", "415", "422", "429")}}},
    "/api/events/batch": {"post": {"operationId": "ingestBatch", "summary": "Ingest 1–500 events", "tags": ["ingest"],
        "security": USER, "requestBody": body(obj({"events": {"type": "array", "items": ref("Event"), "minItems": 1, "maxItems": 500}})),
        "responses": {**ok("Each item accepted, deduplicated or rejected alone.", ref("BatchIngestResult")),
                      **errs("400", "401", "403", "413", "415", "422", "429")}}},
    "/api/batches": {"get": {"operationId": "listBatches", "summary": "Batches, newest first; with order=going_first those not ended first, then the ended ones, each newest first", "tags": ["read"],
        "security": USER, "parameters": [
            p("status", "query", {"type": "string", "enum": ["", "running", "stopping", "stalled", "done", "failed", "stopped"]}),
            LIMIT(1000, 50), p("order", "query", {"type": "string", "enum": ["newest", "going_first"], "default": "newest"})],
        "responses": {**ok("The batches the caller may see.", arr(ref("BatchListItem"))), **errs("401", "403", "422")}}},
    "/api/batches/{b}": {"get": {"operationId": "getBatch", "summary": "One batch", "tags": ["read"], "security": READ,
        "parameters": [B], "responses": {**ok("The batch.", ref("BatchDetail")), **errs("401", "403", "404")}}},
    "/api/batches/{b}/actions": {"get": {"operationId": "getActions", "summary": "What the caller may do to the batch now",
        "tags": ["read"], "security": READ, "parameters": [B],
        "responses": {**ok("Each action enabled, or disabled with a reason.", ref("Actions")), **errs("401", "403", "404")}}},
    "/api/batches/{b}/jobs": {"get": {"operationId": "listJobs", "summary": "A batch's jobs", "tags": ["read"],
        "security": READ, "parameters": [B],
        "responses": {**ok("The jobs, oldest first.", arr(ref("Job"))), **errs("401", "403", "404")}}},
    "/api/jobs/{b}/{j}": {"get": {"operationId": "getJob", "summary": "One job", "tags": ["read"], "security": READ,
        "parameters": [B, J], "responses": {**ok("The job.", ref("Job")), **errs("401", "403", "404")}}},
    "/api/jobs/{b}/{j}/epochs": {"get": {"operationId": "listEpochs", "summary": "A job's epochs, ascending",
        "tags": ["read"], "security": READ, "parameters": [B, J,
            p("format", "query", {"type": "string", "enum": ["csv", "jsonl", "columns"]},
              "Absent: the JSON array. csv: RFC 4180, header `epoch,timestamp,` then every other key sorted, an empty "
              "cell for a missing or non-finite value. jsonl: the array's objects, one per line. columns: the "
              "`/view?epochs=columns` form.")],
        "responses": {"200": {"description": "The epochs, in the form asked for.", "content": {
            "application/json": {"schema": {"oneOf": [arr(ref("Epoch")), ref("EpochColumns")]}},
            "text/csv": {"schema": STR}, "application/x-ndjson": {"schema": STR}}},
            **errs("401", "403", "404", "422")}}},
}
log_params = [LIMIT(2000, 200), p("before_id", "query", {"type": "integer", "minimum": 1},
                "The page before this line (its id): lines are ordered by timestamp, then id, so a line delivered late sits where it was written."),
              p("q", "query", {"type": "string", "maxLength": 200}, "Only lines whose text or level contains it, ignoring case."),
              p("include_heartbeats", "query", {"type": "string", "enum": ["1", "true", "yes", "0", "false", "no"]})]
paths["/api/batches/{b}/log-lines"] = {"get": {"operationId": "batchLogLines", "summary": "A batch's log lines, newest first by timestamp",
    "tags": ["read"], "security": READ, "parameters": [B, p("job_id", "query")] + log_params,
    "responses": {**ok("The lines.", arr(ref("LogLine"))), **errs("401", "403", "404", "422")}}}
paths["/api/jobs/{b}/{j}/log-lines"] = {"get": {"operationId": "jobLogLines", "summary": "A job's log lines, newest first by timestamp",
    "tags": ["read"], "security": READ, "parameters": [B, J] + log_params,
    "responses": {**ok("The lines.", arr(ref("LogLine"))), **errs("401", "403", "404", "422")}}}
paths["/api/batches/{b}/resources"] = {"get": {"operationId": "batchResources", "summary": "Resource snapshots, newest first",
    "tags": ["read"], "security": READ, "parameters": [B, p("job_id", "query"), LIMIT(2000, 100)],
    "responses": {**ok("The snapshots.", arr(ref("ResourceSnapshot"))), **errs("401", "403", "404", "422")}}}
paths["/api/jobs/{b}/{j}/view"] = {"get": {"operationId": "jobView", "summary": "Everything the job screen needs",
    "tags": ["read"], "security": READ, "parameters": [B, J,
        p("epochs", "query", {"type": "string", "enum": ["rows", "columns"]},
          "The epochs' form: rows (the default), or columns (one array per key, smaller and cheaper to read).")],
    "responses": {**ok("The view, with the SSE id to resume from.", ref("JobView")), **errs("401", "403", "404", "422")}}}
paths["/api/sse"] = {"get": {"operationId": "stream", "summary": "Server-Sent Events: replay after Last-Event-ID, then live",
    "tags": ["stream"], "security": READ + [{"sseQueryToken": []}],
    "parameters": [
        p("channels", "query", STR, "Comma-separated `batch:<b>` and `job:<b>:<j>`, each id percent-encoded.", required=True),
        p("last_event_id", "query", {"type": "integer", "minimum": 0}, "Replay from after this id (or the Last-Event-ID header)."),
        p("Last-Event-ID", "header", {"type": "integer", "minimum": 0}),
        p("token", "query", STR, "A token, for EventSource (which cannot set headers)."),
        p("keepalive", "query", {"type": "string", "enum": ["event", "comment"], "default": "comment"},
          "`event`: each keepalive is a `keepalive` event (data `{}`, no id) instead of a comment (`comment`, the default), which EventSource never shows; another value is 422."),
    ],
    "responses": {"200": {"description": "An endless text/event-stream: `retry: 2000`, a `hello` frame, the replay, one `summary` per batch, then live frames and `: keepalive` comments.",
                          "content": {"text/event-stream": {"schema": ref("SSEEvent")}}},
                  **errs("401", "403", "404", "422", "429")}}}
act = lambda op, summary, ok_resp, codes, **kw: {"post": {"operationId": op, "summary": summary, "tags": ["actions"],
    "security": USER, "parameters": [B], "responses": {**ok_resp, **errs(*codes)}, **kw}}
paths["/api/batches/{b}/stop"] = act("stopBatch", "Ask a batch to stop",
    ok("Stopping.", obj({"status": {"const": "stopping"}, "batch_id": STR,
                         "detail": dict(STR, description="how the stop reaches the run, as a sentence's end")})), ["401", "403", "404", "409", "429"])
paths["/api/batches/{b}/rerun"] = act("rerunBatch", "Queue the recorded command for the batch's agent",
    ok("Queued.", obj({"command_id": INT, "agent_id": INT, "host": NSTR}), "202"), ["401", "403", "404", "409", "429"])
paths["/api/batches/{b}/mark-failed"] = act("markFailed", "End a silent run as failed",
    ok("Marked failed.", obj({"status": {"const": "failed"}, "batch_id": STR})),
    ["400", "401", "403", "404", "409", "413", "415", "422", "429"],
    requestBody=body(obj({"reason": {"type": ["string", "null"], "maxLength": 2000}}, required=[]), required=False,
                     desc="Optional; an empty body is allowed."))
paths["/api/batches/{b}/stop-requested"] = {"get": {"operationId": "stopRequested", "summary": "Polled by the SDK",
    "tags": ["actions"], "security": READ, "parameters": [B],
    "responses": {**ok("The stop flag (under both names).", ref("StopRequested")), **errs("401", "403", "404")}}}
paths["/api/batches/{b}/shares"] = {
    "post": {"operationId": "createShare", "summary": "Mint a read-only share link", "tags": ["shares"], "security": USER,
        "parameters": [B],
        "requestBody": body(obj({"expires_in_s": {"type": ["number", "null"], "exclusiveMinimum": 0, "maximum": 315360000}},
                                required=[]), required=False, desc="Optional; an empty body is allowed."),
        "responses": {**ok("The link; its token is shown only now.", ref("ShareCreated"), "201"),
                      **errs("400", "401", "403", "404", "413", "415", "422", "429")}},
    "get": {"operationId": "listShares", "summary": "A batch's share links, without secrets", "tags": ["shares"],
        "security": USER, "parameters": [B],
        "responses": {**ok("The shares.", arr(ref("Share"))), **errs("401", "403", "404")}}}
paths["/api/batches/{b}/shares/{id}"] = {"delete": {"operationId": "revokeShare", "summary": "Revoke a share link",
    "tags": ["shares"], "security": USER, "parameters": [B, p("id", schema=INT)],
    "responses": {**ok("Revoked.", obj({"id": INT, "revoked": {"const": True}})), **errs("401", "403", "404")}}}
paths["/share/{token}"] = {"get": {"operationId": "openShare", "summary": "What a share link opens", "tags": ["shares", "web"],
    "security": NONE, "parameters": [p("token", desc="The share link's secret.")],
    "responses": {"200": {"description": "JSON for API clients; the read-only job page for a browser (Accept: text/html).",
                          "content": {**js(obj({"batch_id": STR, "expires_at": TIME, "read_only": {"const": True}})), **HTML}},
                  "404": {"description": "The link was revoked, has expired, or never existed (a page saying so for a browser).",
                          "content": {**js(ERR), **HTML}},
                  **errs("401")}}}
AGENT = [{"agentToken": []}]
AID = p("id", schema=INT, desc="The agent's id, which must be the caller's.")
paths["/api/agents/register"] = {"post": {"operationId": "registerAgent", "summary": "Register an argus-agent",
    "tags": ["agents"], "security": USER,
    "requestBody": body(obj({"hostname": {"type": "string", "minLength": 1, "maxLength": 255}, "version": STR,
                             "capabilities": {}}, required=["hostname"])),
    "description": "The agent answers to the token that registered it: revoking that token (or `argus-server agent revoke ID`) "
                   "makes every agent route answer it 401 within a second, a waiting long-poll included.",
    "responses": {**ok("The agent's id and token (shown once).",
                       obj({"agent_id": INT, "agent_token": STR, "poll_interval_s": INT}), "201"),
                  **errs("400", "401", "403", "413", "415", "422")}}}
INSTANCE = {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[!-~]+$"}
paths["/api/agents/{id}/jobs"] = {"get": {"operationId": "agentPoll", "summary": "Pending commands, oldest first",
    "tags": ["agents"], "security": AGENT,
    "parameters": [AID, p("wait", "query", {"type": "number", "minimum": 0, "maximum": 30, "examples": [0]}, "Long-poll up to this many seconds; outside 0–30, or not a number, 422."),
                   p("instance", "query", INSTANCE, "The `argus-agent run` process polling (pid, boot and start time): one process serves an agent at a time; another that served it within ARGUS_AGENT_ONLINE_S keeps it (409)."),
                   p("takeover", "query", INSTANCE, "The process a 409 named, found gone by a restarted agent on the same host: this one serves from now.")],
    "responses": {**ok("The commands (redelivered until acked).", arr(ref("AgentCommand"))),
                  "409": {"description": "Another `argus-agent run` process serves this agent (a copied state file, a home shared between hosts); `holder` names it.",
                          "content": {"application/json": {"schema": obj({"detail": STR, "holder": STR}, required=["detail", "holder"])}}},
                  **errs("401", "403", "422")}}}
paths["/api/agents/{id}/jobs/{cmd}/ack"] = {"post": {"operationId": "agentAck", "summary": "Acknowledge a command",
    "tags": ["agents"], "security": AGENT, "parameters": [AID, p("cmd", schema=INT)],
    "requestBody": body(obj({"status": {"type": "string", "enum": ["started", "failed", "exited"]}, "pid": NINT,
                             "exit_code": NINT, "error": NSTR,
                             "not_the_linked_run": {"type": "boolean", "description": "On a rerun's exit: the batch "
                                                    "linked to it reported a pid outside its process group (a Stop of it "
                                                    "was refused), so this end is not that batch's."}},
                            required=["status"])),
    "responses": {**ok("Recorded.", obj({"ok": {"const": True}})), **errs("400", "401", "403", "404", "413", "415", "422")}}}
paths["/api/agents/{id}/heartbeat"] = {"post": {"operationId": "agentHeartbeat", "summary": "The agent is alive",
    "tags": ["agents"], "security": AGENT, "parameters": [AID],
    "requestBody": body(obj({"home": {"type": "string", "pattern": "^/", "maxLength": 4096,
                                      "description": "Where the agent runs a rerun that has no recorded directory (its "
                                                     "user's home); the Rerun prompts name it."},
                             "instance": INSTANCE, "takeover": INSTANCE,
                             "runs": {"type": "array", "maxItems": 64, "description": "The processes of each rerun the "
                                      "agent started that still runs (its process group, and what runs below its leader): "
                                      "a batch whose resource snapshot names one is that rerun, whatever command it reports.",
                                      "items": obj({"command_id": INT, "pids": {"type": "array", "maxItems": 256,
                                                    "items": {"type": "integer", "minimum": 2, "maximum": 4194304}}})}},
                            required=["home", "instance", "takeover"]), required=False),
    "responses": {"204": {"description": "Seen."},
                  "409": {"description": "Another `argus-agent run` process serves this agent (see agentPoll); nothing was noted.",
                          "content": {"application/json": {"schema": obj({"detail": STR, "holder": STR}, required=["detail", "holder"])}}},
                  **errs("400", "401", "403", "413", "415", "422")}}}
paths["/api/session"] = {
    "post": {"operationId": "signIn", "summary": "Exchange an API token for the session cookie", "tags": ["web"],
        "security": NONE, "requestBody": body(obj({"token": STR, "replace": {"type": ["boolean", "null"]}}, required=["token"])),
        "responses": {"204": {"description": "Signed in: `Set-Cookie: argus_session=…; HttpOnly; SameSite=Strict; Path=/; Max-Age=2592000` (30 days, the session's lifetime).",
                              "headers": {"Set-Cookie": {"schema": STR}}},
                      **errs("400", "401", "403", "409", "413", "415", "422")}},
    "get": {"operationId": "whoAmI", "summary": "Who is signed in", "tags": ["web"], "security": USER,
        "responses": {**ok("The user.", obj({"user": STR, "is_admin": BOOL})), **errs("401", "403")}},
    "delete": {"operationId": "signOut", "summary": "Sign out (ends the session, clears the cookie)", "tags": ["web"],
        "security": USER + NONE,
        "responses": {"204": {"description": "Signed out.", "headers": {"Set-Cookie": {"schema": STR}}}, **errs("401", "403")}}}
paths["/"] = page("Index page: recent batches")
paths["/batches/{b}"] = page("Batch page", [B])
paths["/jobs/{b}/{j}"] = page("Job page", [B, J])
paths["/assets/{hash}/{name}"] = {"get": {"operationId": "asset", "summary": "The web page's files", "tags": ["web"],
    "security": NONE,
    "parameters": [p("hash", desc="This build's asset hash (12 hex digits); another build's answers 404."), p("name")],
    "responses": {"200": {"description": "The file, cached for a year (its URL changes with every build).",
                          "content": {t: {"schema": STR} for t in ["text/javascript", "text/css", "image/svg+xml"]}},
                  "404": {"description": "No such file in this build.", "content": {"text/plain": {"schema": STR}}},
                  **errs("401")}}}

# Any route may meet a disk fault (the token lookup reads the database), the connection cap or the header limit.
for ops in paths.values():
    for op in ops.values():
        for code in ("431", "503"):
            op["responses"].setdefault(code, {"$ref": f"#/components/responses/E{code}"})

doc = {
    "openapi": "3.1.0",
    "info": {"title": "argus-server", "version": "1.0",
             "description": "Live monitoring of training runs: ingest (wire-compatible with argus-reporter 0.1.3), reads, "
                            "Server-Sent Events, actions, share links, the argus-agent protocol and the web pages."},
    "servers": [{"url": "/"}],
    "security": USER,
    "paths": paths,
    "components": {
        "schemas": schemas,
        "responses": {f"E{c}": {"description": d, "content": js(ERR)} for c, d in REASONS.items()},
        "securitySchemes": {
            "bearerToken": {"type": "http", "scheme": "bearer", "description": "A user's API token (reporter or read scope)."},
            "shareToken": {"type": "http", "scheme": "bearer",
                           "description": "A share link's token: reads one batch (detail, jobs, epochs, log lines, resources, its SSE channels) and nothing else."},
            "agentToken": {"type": "http", "scheme": "bearer", "description": "The token POST /api/agents/register returned."},
            "sseQueryToken": {"type": "apiKey", "in": "query", "name": "token",
                              "description": "Any of the tokens above, as `?token=` on /api/sse only (for EventSource)."},
            "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "argus_session",
                              "description": "The web session (POST /api/session). A request other than GET/HEAD signed in by it alone must also carry X-Argus-CSRF and a same Origin."},
            "csrfHeader": {"type": "apiKey", "in": "header", "name": "X-Argus-CSRF",
                           "description": "Must be `1`, with an Origin of our own, on cookie-authenticated writes."},
        },
    },
}
# An optional argument writes elsewhere (OpenAPITests compares that with the committed file).
out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "Sources/ArgusServer/OpenAPI/openapi.json")
with open(out, "w") as f:
    json.dump(doc, f, indent=1, ensure_ascii=False)
    f.write("\n")
