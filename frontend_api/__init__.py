"""What people use: the web portal and the JSON API behind it (mounted by cloud.app)."""
