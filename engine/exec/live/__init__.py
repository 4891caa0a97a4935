"""Live trading on Solana: instruction builders, transactions, routes read from the chain, guards, the send and
confirm paths, the live venue, the decision journal, metrics, and the session that drives them from the kernel."""
