-- Moves an account's record to its new address while spending what allowed it, in one step
-- on the account's slot (`{u:<id>}`): of concurrent moves spending one link, one succeeds.
-- KEYS[1] = what is spent (the pending change hash, or the account's revert links hash; the
-- record again for an administrator's change), KEYS[2] = the user record.
-- ARGV[1] = change | revert | admin, ARGV[2] = the pending change's data as read (change) or
-- the revert link's id (revert), ARGV[3] = the record as read, ARGV[4] = the new record,
-- ARGV[5..] = (revert) the ids of the account's newer revert links, used up with it.
-- Returns 1 (moved), 0 (the record changed since it was read: read again) or -1 (nothing to
-- spend: used, replaced or never there).
if ARGV[1] == 'change' then
  if redis.call('HGET', KEYS[1], 'data') ~= ARGV[2] then return -1 end
elseif ARGV[1] == 'revert' then
  if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 0 then return -1 end
end
if (redis.call('GET', KEYS[2]) or '') ~= ARGV[3] then return 0 end
redis.call('SET', KEYS[2], ARGV[4])
if ARGV[1] == 'revert' then
  redis.call('HDEL', KEYS[1], ARGV[2], unpack(ARGV, 5))
elseif ARGV[1] ~= 'admin' then
  redis.call('DEL', KEYS[1])
end
return 1
