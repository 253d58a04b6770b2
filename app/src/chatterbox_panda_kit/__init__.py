"""The Panda kit: what runs on Panda (and on any host with a bare python3), standard library only.

The probe, the contract recorder and checker, the drill window and its verdict, the outage watch,
the env-file reader and the voice allowlist's rules. The `chatterbox_probe` role ships this folder
whole; nothing here may import a third-party package or the service (`chatterbox_shim`), which
imports from here instead (app/tests/test_panda_kit_bare.py holds the rule).
"""
