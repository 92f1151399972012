-- Records an app (ARGV[1]) in the set of apps a session tells when it ends (KEYS[2]), only
-- while the session (KEYS[1]) lives, and makes the set expire with it.
local ttl = redis.call('PTTL', KEYS[1])
if ttl <= 0 then return 0 end
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ttl)
return 1
