-- wrk: POST one realistic StatsEvent per request to /api/v1/push: 8 sources, a fresh
-- microsecond timestamp each time, 0-7 detections over 3 classes, varying latency.
local counter = 0
local thread_id = 0
local classes = { "person", "car", "bicycle" }

function setup(thread)
  thread:set("thread_id", thread_id)
  thread_id = thread_id + 1
end

function init(args)
  math.randomseed(1000 + thread_id)
end

local function event()
  counter = counter + 1
  local now = os.time()
  local n1, n2, n3 = counter % 4, (counter * 7) % 3, (counter % 9 == 0) and 1 or 0
  local counts = {}
  if n1 > 0 then counts[#counts + 1] = string.format('"%s":%d', classes[1], n1) end
  if n2 > 0 then counts[#counts + 1] = string.format('"%s":%d', classes[2], n2) end
  if n3 > 0 then counts[#counts + 1] = string.format('"%s":%d', classes[3], n3) end
  return string.format(
    '{"schema_version":1,"source_id":"edge-%03d","ts_utc":"%s.%06dZ","total_detections":%d,' ..
    '"counts_by_class":{%s},"latency_ms":%.2f}',
    (counter + thread_id) % 8 + 1, os.date("!%Y-%m-%dT%H:%M:%S", now), (counter * 7919) % 1000000,
    n1 + n2 + n3, table.concat(counts, ","), 8 + math.random() * 40)
end

function request()
  return wrk.format("POST", "/api/v1/push", { ["Content-Type"] = "application/json" }, event())
end
