-- Shared by every scenario: count non-200 answers per thread and print one JSON line.
-- Loaded with dofile() by the scenario scripts; wrk runs each thread in its own Lua state.
local threads = {}

function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

function init(args)
  bad = 0
  statuses = ""
  if on_init then on_init(args) end
end

function response(status, headers, body)
  if status >= 400 then  -- a saved activation answers 302 (to its result page)
    bad = bad + 1
    if #statuses < 60 then statuses = statuses .. status .. " " end
  end
end

function done(summary, latency, requests)
  local bad_total, seen = 0, ""
  for _, thread in ipairs(threads) do
    bad_total = bad_total + (thread:get("bad") or 0)
    seen = seen .. (thread:get("statuses") or "")
  end
  local seconds = summary.duration / 1e6
  local errors = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_s": %.3f, "rps": %.2f, "p50_ms": %.2f, "p95_ms": %.2f, ' ..
    '"p99_ms": %.2f, "max_ms": %.2f, "non_200": %d, "non_200_seen": "%s", "socket_errors": %d}\n',
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, bad_total, seen,
    errors.connect + errors.read + errors.write + errors.timeout))
end
