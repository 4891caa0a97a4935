"""Live trading on Solana: instruction builders, transactions, guards, the decision journal and the live venue."""
