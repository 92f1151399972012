-- Counts `cost` hits on a fixed-window rate-limit counter; the hit that finds it without a
-- window (the one that creates it) starts one. One key, one step, so no counter is ever left
-- without its window. The same three commands on every call, whether the counter existed or
-- not: the work does not tell whether someone else was counted first.
-- KEYS[1] = the counter; ARGV[1] = cost, ARGV[2] = window (ms).
-- Returns {count, ms left in the window}. Redis >= 7.0 (`PEXPIRE … NX`).
local count = redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2], 'NX')
return {count, redis.call('PTTL', KEYS[1])}
