-- wrk script: GET the URL with a random offset below $MAX_OFFSET appended, so that most pages are not cached.
math.randomseed(os.time())
local max_offset = tonumber(os.getenv("MAX_OFFSET") or "5000")

request = function()
  return wrk.format("GET", wrk.path .. "&offset=" .. math.random(0, max_offset - 1))
end
