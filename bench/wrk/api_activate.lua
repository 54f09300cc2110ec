-- Activation apply through the API (POST .../activations/apply), one quantity line, token auth.
-- The pairs and quantities work as in activate.lua (every POST a real committed change); each
-- request carries a fresh Idempotency-Key. BENCH_PATH has SERVER in place of the server id.
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")

local bearer = "Bearer " .. os.getenv("BENCH_TOKEN")
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
  math.randomseed(os.time() + thread_index * 7919 + 17)
end

local function key()
  local parts = {}
  for i = 1, 4 do parts[i] = string.format("%08x", math.random(0, 0x7fffffff)) end
  return table.concat(parts)
end

function request()
  local pair = pairs_mine[(counter % #pairs_mine) + 1]
  local quantity = base + math.floor(counter / #pairs_mine)
  counter = counter + 1
  local body = '{"lines": [{"entitlement_id": ' .. pair[2] .. ', "quantity": ' .. quantity .. '}]}'
  local headers = {
    ["Authorization"] = bearer,
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = key(),
  }
  return wrk.format("POST", string.gsub(path_template, "SERVER", pair[1]), headers, body)
end
