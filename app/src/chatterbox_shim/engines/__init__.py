"""Synthesis engines: the real Chatterbox model, and a model-free lab engine."""
