-- Rewrites a user's record only if it is still the one read: a change written in between (a
-- factor added, the address moved) is not lost; the caller reads again and retries.
-- KEYS[1] = the record; ARGV[1] = the record as read, ARGV[2] = the new record.
-- -1: there is no record (the account is gone); 0: it changed since it was read; 1: written.
local current = redis.call('GET', KEYS[1])
if not current then return -1 end
if current ~= ARGV[1] then return 0 end
-- Written even when unchanged (a block sent again): the write is what the caller's wait for a
-- replica confirms.
redis.call('SET', KEYS[1], ARGV[2])
return 1
