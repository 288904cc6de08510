-- wrk: POST batches of BATCH realistic StatsEvents to /api/v1/push/batch (set BATCH in the
-- environment, default 1000). Like an edge sender's backlog, a batch holds consecutive frames:
-- 8 sources interleaved, timestamps 1 ms apart. Bodies are built once per thread and cycled.
local batch = tonumber(os.getenv("BATCH") or "1000")
local bodies = {}
local next_body = 1
local thread_id = 0
local classes = { "person", "car", "bicycle" }

function setup(thread)
  thread:set("thread_id", thread_id)
  thread_id = thread_id + 1
end

function init(args)
  math.randomseed(2000 + thread_id)
  local now = os.time()
  local counter = 0
  for b = 1, 16 do
    local events = {}
    for i = 1, batch do
      counter = counter + 1
      local n1, n2, n3 = counter % 4, (counter * 7) % 3, (counter % 9 == 0) and 1 or 0
      local counts = {}
      if n1 > 0 then counts[#counts + 1] = string.format('"%s":%d', classes[1], n1) end
      if n2 > 0 then counts[#counts + 1] = string.format('"%s":%d', classes[2], n2) end
      if n3 > 0 then counts[#counts + 1] = string.format('"%s":%d', classes[3], n3) end
      -- Milliseconds since the start of the thread's 16 bodies, consecutive over all of them.
      local ms = ((b - 1) * batch + i) + thread_id * 16 * batch
      local t = now - 3600 + math.floor(ms / 1000)
      events[i] = string.format(
        '{"schema_version":1,"source_id":"edge-%03d","ts_utc":"%s.%03d%03dZ","total_detections":%d,' ..
        '"counts_by_class":{%s},"latency_ms":%.2f}',
        (counter + thread_id) % 8 + 1, os.date("!%Y-%m-%dT%H:%M:%S", t), ms % 1000, thread_id,
        n1 + n2 + n3, table.concat(counts, ","), 8 + math.random() * 40)
    end
    bodies[b] = "[" .. table.concat(events, ",") .. "]"
  end
end

function request()
  local body = bodies[next_body]
  next_body = next_body % #bodies + 1
  return wrk.format("POST", "/api/v1/push/batch", { ["Content-Type"] = "application/json" }, body)
end
