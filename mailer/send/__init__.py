"""Send: plan an issue as a ledger, then deliver it paced and resumable (ARCHITECTURE.md)."""
