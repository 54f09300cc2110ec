-- GET one path (the URL given to wrk) with the session cookie in BENCH_COOKIE (may be empty).
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")

local cookie = os.getenv("BENCH_COOKIE") or ""
if cookie ~= "" then
  wrk.headers["Cookie"] = cookie
end
