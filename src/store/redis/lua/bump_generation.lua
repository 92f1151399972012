-- Moves an address's link generation on and keeps it for its TTL, in one step.
-- KEYS[1] = the generation; ARGV[1] = TTL seconds. Returns the new generation.
local generation = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[1])
return generation
