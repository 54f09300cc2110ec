-- Shared by the activation scenarios (activate.lua: the web confirm, api_activate.lua: the API
-- apply): which (server, line) pair and quantity each request writes, and a random hex key.
--
-- BENCH_PAIRS: "server_id:entitlement_id,..." - the (server, line) pairs to write; each wrk
-- thread takes every n-th pair so threads never share a server. Request i of a thread writes
-- pair i mod P with quantity BENCH_BASE + floor(i / P): strictly increasing per pair, so every
-- POST is a real committed change (the runner checks the audit log afterwards).
-- BENCH_PATH: the URL with SERVER in place of the server id.
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")

local path_template = os.getenv("BENCH_PATH")
local base = tonumber(os.getenv("BENCH_BASE"))
local nthreads = tonumber(os.getenv("BENCH_THREADS"))

function on_init(args)
  pairs_mine = {}
  local index = 0
  for server, line in string.gmatch(os.getenv("BENCH_PAIRS"), "(%d+):(%d+)") do
    if index % nthreads == thread_index then
      table.insert(pairs_mine, {server, line})
    end
    index = index + 1
  end
  counter = 0
  math.randomseed(os.time() + thread_index * 7919 + (seed_offset or 0))
end

-- The next write: the path, the line id and its quantity.
function next_write()
  local pair = pairs_mine[(counter % #pairs_mine) + 1]
  local quantity = base + math.floor(counter / #pairs_mine)
  counter = counter + 1
  return string.gsub(path_template, "SERVER", pair[1]), pair[2], quantity
end

-- 32 random hex digits: a review token or an Idempotency-Key.
function random_key()
  local parts = {}
  for i = 1, 4 do parts[i] = string.format("%08x", math.random(0, 0x7fffffff)) end
  return table.concat(parts)
end
