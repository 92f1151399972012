-- Writes a new sign-in attempt with its TTL in one step: the hash never exists without it.
-- KEYS[1] = the attempt hash; ARGV[1] = data, ARGV[2] = expires (unix ms), ARGV[3] = TTL seconds.
redis.call('HSET', KEYS[1], 'data', ARGV[1], 'status', 'pending', 'expires', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
