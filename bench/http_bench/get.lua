-- GET one URL (the driver passes the path and headers on wrk's command
-- line); only the report at the end.
dofile(os.getenv("HTTP_BENCH_DIR") .. "/report.lua")
