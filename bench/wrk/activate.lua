-- Activation confirm (POST .../activate/save/) as the real form posts it, one quantity line.
--
-- BENCH_PAIRS: "server_id:entitlement_id,..." - the (server, line) pairs to write; each wrk
-- thread takes every n-th pair so threads never share a server. Request i of a thread writes
-- pair i mod P with quantity BENCH_BASE + floor(i / P): strictly increasing per pair, so every
-- POST is a real committed change (the runner checks the audit log afterwards).
-- BENCH_PATH: the save URL with SERVER in place of the server id. CSRF: the csrftoken cookie
-- (in BENCH_COOKIE) and the same value in the csrfmiddlewaretoken field.
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")

local cookie = os.getenv("BENCH_COOKIE")
local csrf = os.getenv("BENCH_CSRF")
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
  math.randomseed(os.time() + thread_index * 7919)
end

local function token()
  local parts = {}
  for i = 1, 4 do parts[i] = string.format("%08x", math.random(0, 0x7fffffff)) end
  return table.concat(parts)
end

function request()
  local pair = pairs_mine[(counter % #pairs_mine) + 1]
  local quantity = base + math.floor(counter / #pairs_mine)
  counter = counter + 1
  local body = "csrfmiddlewaretoken=" .. csrf .. "&token=" .. token() .. "&deliver=download" ..
               "&qty_" .. pair[2] .. "=" .. quantity
  local headers = {
    ["Cookie"] = cookie,
    ["Content-Type"] = "application/x-www-form-urlencoded",
  }
  return wrk.format("POST", string.gsub(path_template, "SERVER", pair[1]), headers, body)
end
