#!/usr/bin/env python3
"""Phone-daemon simulator for the local lab (not production code).

Like Annie's phone daemon it takes CHATTERBOX_URL and CHATTERBOX_TOKEN from its environment (a
systemd EnvironmentFile), and it keeps going whatever happens ("mute, not crash"). Every few
seconds it asks for a sentence and logs one JSON line: which URL answered, the status, whether the
audio was valid (tts-probe's checks that hold for any Panda), and the answer's raw headers and
body length, which the lab compares between Panda and Titan.
"""

from __future__ import annotations

import json
import os
import sys
import time

from chatterbox_panda_kit.probe import probe

INTERVAL_S = float(os.environ.get("PHONE_DAEMON_INTERVAL_S", "2"))
LOG_PATH = os.environ.get("PHONE_DAEMON_LOG", "/var/log/phone-daemon.jsonl")
SENTENCES = (
    "Hi, this is Annie. How can I help you today?",
    "Your appointment is confirmed for tomorrow at ten.",
    "I have added that to the shopping list.",
)


def main() -> int:
    url = os.environ["CHATTERBOX_URL"]
    token = os.environ["CHATTERBOX_TOKEN"]
    line = os.environ.get("PHONE_LINE", "main")
    count = 0
    while True:
        result = probe(url, token, text=SENTENCES[count % len(SENTENCES)], timeout=30)
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "line": line,
            "pid": os.getpid(),
            "url": url,
            "status": result.status,
            "valid_audio": result.ok,
            "failed_check": result.failed_check,
            "audio_s": round(result.audio_s, 3) if result.audio_s else None,
            "latency_s": round(result.latency_s, 3) if result.latency_s else None,
            # The answer's head as the daemon received it (names, spelling, order, values) and the
            # body's length: what the lab compares between Panda and Titan.
            "headers": result.headers,
            "body_bytes": result.body_bytes,
        }
        text = json.dumps(entry)
        print(text, flush=True)
        with open(LOG_PATH, "a", encoding="utf-8") as log:
            log.write(text + "\n")
        count += 1
        time.sleep(INTERVAL_S)


if __name__ == "__main__":
    sys.exit(main())
