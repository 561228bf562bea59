-- wrk script: POST the JSON body in the file named by $BODY_FILE; count non-2xx answers.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local file = io.open(os.getenv("BODY_FILE"), "r")
wrk.body = file:read("*a")
file:close()

done = function(summary, latency, requests)
  io.write(string.format("Non-2xx: %d\n", summary.errors.status))
end
