"""tsched: a scheduling platform for a bank's money movements."""
