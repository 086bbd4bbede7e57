"""Sweeps that train, prune and evaluate models for the pruning and latency sections."""
