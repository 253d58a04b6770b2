"""Parity tools: Panda's baseline and contract, voice identity, and the canary's verdict.

`chatterbox-parity` (cli/parity.py) is the command line; each module here does one job.
"""
