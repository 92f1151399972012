-- Counts one hit on each fixed-window rate-limit counter in order, as `hit_limit.lua` does, and
-- stops at the first whose count goes over its maximum; the counters after it are not counted.
-- Every counter counted costs the same two commands whether it existed or not; the time left is
-- read only for a refusal, which the client sees anyway.
-- KEYS[i] = the i-th counter; ARGV[2i-1] = its window (ms), ARGV[2i] = its maximum.
-- Returns {} when every count is within its maximum, else {i, count, ms left in i's window}.
-- Redis >= 7.0 (`PEXPIRE … NX`).
for i = 1, #KEYS do
  local count = redis.call('INCR', KEYS[i])
  redis.call('PEXPIRE', KEYS[i], ARGV[2 * i - 1], 'NX')
  if count > tonumber(ARGV[2 * i]) then
    return {i, count, redis.call('PTTL', KEYS[i])}
  end
end
return {}
