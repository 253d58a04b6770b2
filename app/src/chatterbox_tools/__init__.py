"""The tools: benches, the load test, voice and contract parity, and the test fixtures.

For developers, the canary and the benches, never on the serving path: the tools may import the
service (`chatterbox_shim`) and the Panda kit (`chatterbox_panda_kit`); neither imports the tools.
"""
