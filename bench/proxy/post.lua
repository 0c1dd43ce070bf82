-- wrk: POST the 4 KB chat body in BODY_FILE to the path in WRK_PATH.
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.path = os.getenv("WRK_PATH") or "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["api-key"] = "caller-key"
