-- PUBLISH: a notify.publish job's message, at most once per job and
-- channel. An attempt whose PUBLISH landed but whose answer never came
-- back (Redis paused past the job's limit, a dropped connection: the
-- command still sits in Redis' input buffer and runs when Redis resumes)
-- is retried; the retry finds the channel in the job's hash and returns the
-- first receiver count instead of publishing again, so subscribers get
-- each message once. The hash lives as long as the job's result record.
-- KEYS: published (P:{Q}:published:ID). ARGV: channel message ttl_ms.
need(KEYS[1], 'hash')
local seen = redis.call('HGET', KEYS[1], ARGV[1])
if seen then return tonumber(seen) end
local n = redis.call('PUBLISH', ARGV[1], ARGV[2])
redis.call('HSET', KEYS[1], ARGV[1], n)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return n
