"""Authentication: password hashing, tokens, and the guards every endpoint uses."""
