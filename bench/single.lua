-- wrk: one event per POST /api/events, unique ids, keep-alive connections.
local token = os.getenv("ARGUS_TOKEN")
local n = 0
-- setup runs in the main Lua state; thread:set puts `tid` into each thread's globals (no local may shadow it).
-- Several wrk processes at once (bench/replicas.sh) give each a different ARGUS_BENCH_THREAD_BASE, so that their
-- threads' ids, batches and random seeds differ (two processes started in the same second would otherwise send the
-- same event ids, and half would be deduplicated).
local threads_made = tonumber(os.getenv("ARGUS_BENCH_THREAD_BASE") or "0")
function setup(thread) thread:set("tid", threads_made); threads_made = threads_made + 1 end
-- A per-run prefix keeps event ids unique across runs (a repeat would be deduplicated, and fast for the wrong reason).
local run = ""
function init(args) math.randomseed(os.time() * 1000 + tid); run = string.format("%x%x", os.time(), math.random(1, 2000000000)) end
function request()
  n = n + 1
  local body = string.format('{"event_id":"%s-s%d-%d","schema_version":"1.1","event_type":"job_epoch","timestamp":"2026-04-23T09:23:20Z","batch_id":"single-%d","job_id":"j","source":{"project":"bench"},"data":{"epoch":%d,"train_loss":0.5,"val_loss":0.6}}', run, tid, n, tid, n)
  return wrk.format("POST", "/api/events", {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end
