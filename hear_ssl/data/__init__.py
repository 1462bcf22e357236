"""Pretraining data: audio file lists, the log-mel shard cache, and the crop sampler that reads it."""
