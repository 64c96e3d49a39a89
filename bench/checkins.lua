-- wrk script for bench/api.py: POST check-ins, one fresh Idempotency-Key and client_uuid per request,
-- rotating the bearer tokens of many seeded patients. Used unchanged for the check-in API and the
-- bare-insert baseline (which ignores the token), so wrk does the same work against both.
--
--   wrk -t2 -c16 -d30s --timeout 10s -s bench/checkins.lua http://127.0.0.1:PORT \
--       -- TOKENS_FILE TAG PATH OUT_PREFIX PHQ9_EVERY
--
-- TAG: 8 hex digits, the first group of every client_uuid of this run (so the database rows of one
-- run can be counted). Every 2xx response's client_uuid is written to OUT_PREFIX.<thread>, one per
-- line, so bench/api.py can check that every acknowledged check-in is stored. PHQ9_EVERY: every n-th
-- request is a PHQ-9 (0 = never); the rest are daily quick check-ins. All answers are
-- non-concerning (no flag fires), as for the great majority of real submissions.

local threads = {}

function setup(thread)
   thread:set("tid", #threads + 1)
   table.insert(threads, thread)
end

function init(args)
   tokens = {}
   for line in io.lines(args[1]) do
      if #line > 0 then
         tokens[#tokens + 1] = line
      end
   end
   tag, path, out = args[2], args[3], args[4]
   phq9_every = tonumber(args[5]) or 0
   counter = 0
   ok, non2xx, statuses = 0, 0, ""
   acked = io.open(out .. "." .. tid, "w")
   acked:setvbuf("line")
   math.randomseed(os.time() * 100 + tid)
end

local DAILY = '{"client_uuid":"%s","instrument_id":"daily","instrument_version":"1.0",'
   .. '"answers":{"mood":%d,"anxiety":%d,"hours_slept":%s,"sleep_quality":%d,"energy":%d},'
   .. '"recorded_at":"%s"}'
local PHQ9 = '{"client_uuid":"%s","instrument_id":"phq9","instrument_version":"1.0",'
   .. '"answers":{"q1":1,"q2":1,"q3":1,"q4":1,"q5":1,"q6":0,"q7":0,"q8":0,"q9":0},'
   .. '"recorded_at":"%s"}'
local SLEEP = { "6.5", "7", "7.5", "8", "8.5" }

function request()
   counter = counter + 1
   local id = string.format("%s-%04x-4000-8000-%012x", tag, tid, counter)
   local token = tokens[((counter * #threads + tid) % #tokens) + 1]
   local at = os.date("!%Y-%m-%dT%H:%M:%S+00:00", os.time() - 60)
   local body
   if phq9_every > 0 and counter % phq9_every == 0 then
      body = string.format(PHQ9, id, at)
   else
      body = string.format(
         DAILY, id, math.random(5, 8), math.random(1, 4), SLEEP[math.random(1, #SLEEP)],
         math.random(2, 4), math.random(4, 8), at
      )
   end
   return wrk.format("POST", path, {
      ["Content-Type"] = "application/json",
      ["Authorization"] = "Bearer " .. token,
      ["Idempotency-Key"] = id,
   }, body)
end

function response(status, headers, body)
   if status >= 200 and status < 300 then
      ok = ok + 1
      local uuid = string.match(body, '"client_uuid": ?"([%x%-]+)"')
      if uuid then
         acked:write(uuid, "\n")
      end
   else
      non2xx = non2xx + 1
      statuses = statuses .. status .. " "
   end
end

function done(summary, latency, requests)
   local total_ok, total_bad, codes = 0, 0, ""
   for _, t in ipairs(threads) do
      total_ok = total_ok + t:get("ok")
      total_bad = total_bad + t:get("non2xx")
      codes = codes .. t:get("statuses")
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"requests":%d,"duration_us":%d,"ok":%d,"non2xx":%d,"statuses":"%s",'
         .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,'
         .. '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d}\n',
      summary.requests, summary.duration, total_ok, total_bad, codes,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
      e.connect, e.read, e.write, e.timeout
   ))
end
