"""The SFTP client, its host-key checks and its errors."""
