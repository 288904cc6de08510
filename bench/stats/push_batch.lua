-- wrk: POST batches of BATCH realistic StatsEvents to /api/v1/push/batch (set BATCH in the
-- environment, default 1000). Like an edge sender's backlog, a batch holds consecutive frames
-- of 8 sources, 1 ms apart, and every request moves on in time, as a live fleet does: each
-- wrk thread owns every n-th second of a virtual clock. The event text around the timestamp is
-- built once; a request only formats its second and joins the pieces.
local batch = tonumber(os.getenv("BATCH") or "1000")
local thread_id = 0
local heads, tails = {}, {}
local parts = {}
local clock = 0

function setup(thread)
  thread:set("thread_id", thread_id)
  thread_id = thread_id + 1
end

function init(args)
  math.randomseed(2000 + thread_id)
  clock = os.time() - 86400 + thread_id
  local classes = { "person", "car", "bicycle" }
  for i = 1, batch do
    local n1, n2, n3 = i % 4, (i * 7) % 3, (i % 9 == 0) and 1 or 0
    local counts = {}
    if n1 > 0 then counts[#counts + 1] = string.format('"%s":%d', classes[1], n1) end
    if n2 > 0 then counts[#counts + 1] = string.format('"%s":%d', classes[2], n2) end
    if n3 > 0 then counts[#counts + 1] = string.format('"%s":%d', classes[3], n3) end
    heads[i] = string.format('%s{"schema_version":1,"source_id":"edge-%03d","ts_utc":"',
                             i > 1 and "," or "", i % 8 + 1)
    tails[i] = string.format('.%06dZ","total_detections":%d,"counts_by_class":{%s},"latency_ms":%.2f}',
                             (i - 1) * 1000 % 1000000, n1 + n2 + n3, table.concat(counts, ","),
                             8 + math.random() * 40)
  end
end

function request()
  -- With the default two wrk threads, one sends the even seconds and the other the odd ones.
  clock = clock + 2
  local second = os.date("!%Y-%m-%dT%H:%M:%S", clock)
  local k = 1
  for i = 1, batch do
    parts[k] = heads[i]
    parts[k + 1] = second
    parts[k + 2] = tails[i]
    k = k + 3
  end
  return wrk.format("POST", "/api/v1/push/batch", { ["Content-Type"] = "application/json" },
                    "[" .. table.concat(parts) .. "]")
end
