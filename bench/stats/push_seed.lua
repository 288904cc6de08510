-- wrk: POST the seed's example StatsEvent to /api/v1/push, the body the Python original was
-- measured with (bench/README.md).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"schema_version":1,"source_id":"edge-001","ts_utc":"2025-01-01T12:00:00Z","total_detections":3,"counts_by_class":{"person":2,"car":1},"latency_ms":42.5}'
