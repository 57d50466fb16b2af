"""Authentication: password hashes, signed tokens, the principal of a request, role guards."""
