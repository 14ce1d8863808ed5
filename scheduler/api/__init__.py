"""The HTTP API for channels: request and response shapes, shared with the CLI."""

__all__ = ["schemas"]
