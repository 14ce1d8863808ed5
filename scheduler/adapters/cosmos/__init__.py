"""The history and audit archive in Cosmos DB: its items (`documents`), its containers
(`containers`) and the adapter (`archive.CosmosArchive`)."""

__all__ = ["archive", "containers", "documents"]
