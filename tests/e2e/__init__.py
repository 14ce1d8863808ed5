"""End-to-end tests: the `tsched` process driven over real HTTP."""
