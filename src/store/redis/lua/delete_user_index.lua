-- Removes an address's index entry only while it still names the deleted user (a new
-- account for the address may have claimed it since).
-- KEYS[1] = the index entry; ARGV[1] = the user id. Returns 1 when removed, 0 otherwise.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
