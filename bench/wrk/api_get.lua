-- GET one API path (the URL given to wrk) with the bearer token in BENCH_TOKEN.
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")

wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
