-- wrk script of benchmarks/serve_load.py: cycles through routes, a unique Idempotency-Key per request, percentiles
-- as JSON in done().
-- Arguments: TOKEN PREFIX DELAY_MS then groups of four: METHOD PATH BODY SLOTS. In PATH and BODY, {id} becomes a
-- request id unique in the run (PREFIX-thread-counter) and {slot} the counter modulo SLOTS (spreads the aggregates).
-- DELAY_MS > 0 paces each connection (a request, then that many ms of pause): the soak's rate limit.

local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  token = args[1]
  prefix = args[2]
  pause = tonumber(args[3])
  routes = {}
  local i = 4
  while args[i] ~= nil do
    table.insert(routes, { method = args[i], path = args[i + 1], body = args[i + 2], slots = tonumber(args[i + 3]) })
    i = i + 4
  end
  counter = 0
end

local function fill(text, id, slot)
  local out = text:gsub("{id}", id)
  out = out:gsub("{slot}", slot)
  return out
end

function request()
  counter = counter + 1
  local route = routes[(counter % #routes) + 1]
  local id = prefix .. "-" .. tid .. "-" .. counter
  local slot = tostring(counter % route.slots)
  local headers = { ["Authorization"] = "Bearer " .. token, ["Idempotency-Key"] = id }
  local body = nil
  if route.body ~= "" then
    body = fill(route.body, id, slot)
    headers["Content-Type"] = "application/json"
  end
  return wrk.format(route.method, fill(route.path, id, slot), headers, body)
end

function delay()
  return pause
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'SERVE_LOAD {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,' ..
      '"non_2xx":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, e.status, e.connect, e.read, e.write, e.timeout))
end
