"""The image role's preflight refuses a Hugging Face revision that cannot be a pinned commit
(the vault example's zeros, a branch name, upper case) before any build starts. Controller only."""

from __future__ import annotations

import subprocess

import pytest

from .conftest import REPO, lab_env


@pytest.mark.parametrize("revision", ["0" * 40, "main", "ABCDEF" + "0" * 34, "a" * 39])
def test_a_revision_that_is_not_a_commit_is_refused_at_preflight(revision: str) -> None:
    run = subprocess.run(
        [
            "ansible-playbook",
            *("-i", "localhost,", "-c", "local", "-e", "image_hosts=localhost"),
            *("-e", "chatterbox_image_weights_source=huggingface", "-e", f"chatterbox_image_hf_revision={revision}"),
            "ansible/image.yml",
        ],
        cwd=REPO,
        env=lab_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode != 0
    assert "a 40-hex Hugging Face commit, not all zeros" in run.stdout
    assert "Ask the Docker engine" not in run.stdout  # refused before anything else ran
