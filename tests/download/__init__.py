"""``i2i download`` against a real HTTP server on 127.0.0.1 (and gdown redirected to it)."""
