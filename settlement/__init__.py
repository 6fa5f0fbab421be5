"""The settlement engine: member store, per-shard kernels, the Ray debit job, reconciliation."""
