"""Moving bytes from a bank: SFTP and HTTP clients, address checks, the hashing sink."""
