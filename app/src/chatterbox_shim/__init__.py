"""Titan failover shim: Panda's Chatterbox TTS HTTP contract, served from Titan."""

__version__ = "0.1.0"
