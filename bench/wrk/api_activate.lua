-- Activation apply through the API (POST .../activations/apply), one quantity line, token auth,
-- a fresh Idempotency-Key per request; the pairs and quantities are pairs.lua's.
seed_offset = 17
dofile(os.getenv("BENCH_LUA_DIR") .. "/pairs.lua")

local bearer = "Bearer " .. os.getenv("BENCH_TOKEN")

function request()
  local path, line, quantity = next_write()
  local body = '{"lines": [{"entitlement_id": ' .. line .. ', "quantity": ' .. quantity .. '}]}'
  local headers = {
    ["Authorization"] = bearer,
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = random_key(),
  }
  return wrk.format("POST", path, headers, body)
end
