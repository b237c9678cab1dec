"""FSM storage choices: Redis when REDIS_URL is set, else a storage kept in the database."""
