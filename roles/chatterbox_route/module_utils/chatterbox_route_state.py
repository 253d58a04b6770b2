"""A line's failover record on Panda: root-only files written atomically, archived when done."""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import tempfile
import time


def write_atomically(path: str, data: bytes, mode: int, owner: str = "", group: str = "") -> None:
    """Write beside the file and rename over it: the daemon never reads half a file."""
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".chatterbox-route-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if owner:
            uid = int(owner) if owner.isdigit() else pwd.getpwnam(owner).pw_uid
            gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
            os.chown(temporary, uid, gid)
        os.chmod(temporary, mode)
        os.rename(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def archive_record(state_dir: str, line: str) -> str:
    """Move the line's record into history (a clean rollback, or a failed first flip undone)."""
    line_dir = os.path.join(state_dir, line)
    if not os.path.isdir(line_dir):
        return ""
    history = os.path.join(state_dir, "history")
    os.makedirs(history, mode=0o700, exist_ok=True)
    destination = os.path.join(history, f"{line}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}")
    shutil.move(line_dir, destination)
    return destination
