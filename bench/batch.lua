-- wrk: POST /api/events/batch with 500 unique, realistic events per request (70% epochs, 25% logs, 5% snapshots).
-- Bodies are built in init (before the timed run) so the client's Lua does not eat the server's CPU.
local token = os.getenv("ARGUS_TOKEN")
local prebuilt = tonumber(os.getenv("ARGUS_BENCH_BODIES") or "1200")
local bodies = {}
local n = 0
local sent = 0
local run = ""
local t0 = os.time()

-- setup runs in the main Lua state; thread:set puts `tid` into each thread's globals (no local may shadow it).
-- Several wrk processes at once (bench/replicas.sh) give each a different ARGUS_BENCH_THREAD_BASE, so that their
-- threads' ids, batches and random seeds differ (two processes started in the same second would otherwise send the
-- same event ids, and half would be deduplicated).
local threads_made = tonumber(os.getenv("ARGUS_BENCH_THREAD_BASE") or "0")
-- ARGUS_BENCH_UUIDS=1: random UUIDs for event ids, as the SDK makes them (the default ids follow insertion order,
-- which the dedupe key's index takes far more cheaply; see argus-bench raw-sqlite).
local uuids = os.getenv("ARGUS_BENCH_UUIDS") == "1"
local function uuid4()
  return string.format("%08x-%04x-4%03x-%04x-%06x%06x", math.random(0, 0xffffffff), math.random(0, 0xffff),
    math.random(0, 0xfff), math.random(0x8000, 0xbfff), math.random(0, 0xffffff), math.random(0, 0xffffff))
end
function setup(thread) thread:set("tid", threads_made); threads_made = threads_made + 1 end

local function build()
  n = n + 1
  local parts = {}
  for i = 1, 500 do
    -- A per-run prefix keeps ids unique across runs: a repeat would be deduplicated, and fast for the wrong reason.
    local id = uuids and uuid4() or string.format("%s-%d-%d-%d", run, tid, n, i)
    local body
    local r = i % 20
    if r < 14 then
      body = string.format('"event_type":"job_epoch","job_id":"job%d","data":{"epoch":%d,"train_loss":0.%d,"val_loss":0.6,"lr":0.0001,"val_acc":0.9}', tid, n * 500 + i, i)
    elseif r < 19 then
      body = string.format('"event_type":"log_line","job_id":"job%d","data":{"line":"step %d: loss 0.%d, throughput 1234 img/s","level":"info"}', tid, i, i)
    else
      body = '"event_type":"resource_snapshot","job_id":null,"data":{"gpus":[{"index":0,"util_pct":91,"mem_mb":60000},{"index":1,"util_pct":88,"mem_mb":61000}],"cpu_util_pct":30}'
    end
    -- Timestamps move forward like a real run's (one request = half a second of training).
    local t = t0 + n * 0.5 + i * 0.001
    local sec = math.floor(t)
    local ts = os.date("!%Y-%m-%dT%H:%M:%S", sec) .. string.format(".%06dZ", math.floor((t - sec) * 1e6))
    parts[i] = string.format('{"event_id":"%s","schema_version":"1.1","timestamp":"%s","batch_id":"bench-%d","source":{"project":"bench","host":"gpu-1"},%s}', id, ts, tid, body)
  end
  return wrk.format("POST", "/api/events/batch", {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, '{"events":[' .. table.concat(parts, ",") .. ']}')
end

function init(args)
  math.randomseed(os.time() * 1000 + tid)
  run = string.format("%x%x", os.time(), math.random(1, 2000000000))
  t0 = os.time()
  for k = 1, prebuilt do bodies[k] = build() end
end

function request()
  sent = sent + 1
  if sent <= prebuilt then
    local b = bodies[sent]
    bodies[sent] = nil
    return b
  end
  return build()
end
