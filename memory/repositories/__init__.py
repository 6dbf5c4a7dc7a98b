"""Data access of the memory store: SQL on a caller's Session, plain memory.types values out, no
rules. MemoryStore (memory/store.py) opens the transaction, locks the scope, asks memory.policy and
then calls these; nothing outside memory/ imports them."""
