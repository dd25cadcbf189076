#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: contributors to the convox.volumes collection
from __future__ import annotations

DOCUMENTATION = r"""
---
module: convox_volume_clean
short_description: Clear one Convox volume directory safely, or move it to a trash
version_added: 0.1.0
description:
  - Empties the host directory of one volume of a Convox service, the safe replacement for
    C(rm -rf /volumes/<rack>-<app>/<service>/<path>) on an instance.
  - Every rule is checked before anything is touched. The volume must lie strictly inside
    C(<root>/<rack>-<app>/<service>/) (O(target=local) uses C(<root>/<app>/<service>/)); the
    root, the app and the service directories themselves are refused, and so are empty
    paths, V(/), V(.) and V(..).
  - No component of the path below the root may be a symbolic link. A mount point at or
    below the volume fails the task, naming it, before anything is deleted.
  - After the checks and the lock, the path is opened again one directory at a time without
    following links, and each directory must be the one the checks saw (same device and
    inode); if a component was swapped in between (for a link or another directory), the
    task fails and nothing is deleted or moved. The delete, the rename into the trash and
    the recreate all go through these open directories, never through the path.
  - Deletion works on directory file descriptors opened without following links, so a link
    inside the tree is removed as a link and its target is never touched; a directory on
    another device is never entered.
  - One lock per service in C(<root>/.convox-locks/) lets only one host clean at a time; the
    other one fails naming the holder (host, process, since when). A lock older than
    O(lock_timeout), or left by a process of this same machine that has ended (same host name,
    boot id and PID namespace), is replaced. Judging and replacing a stale lock, and releasing
    one, happen under a POSIX record lock on C(<root>/.convox-locks/.guard), so two hosts can
    never both take over the same stale lock; the root's file system must support record locks
    (NFSv4 and EFS do).
  - Files that a process still holds open (on NFS they become C(.nfsXXXX) and cannot be
    removed) are retried until O(busy_timeout); then the task fails, saying how many remain,
    after everything else was deleted. A partial delete is never reported as a success;
    after a pass without errors the volume is listed again, and anything still there counts
    as busy. An entry that disappears while it is being deleted counts as gone.
  - With O(quarantine=true) the volume is renamed into C(<root>/.convox-trash/) instead,
    which is instant whatever its size and reversible with
    M(convox.volumes.convox_volume_restore).
author:
  - convox.volumes contributors (@convox-volumes)
extends_documentation_fragment:
  - convox.volumes.attributes
options:
  rack:
    description:
      - The rack name, the first half of the C(<rack>-<app>) directory. Required when
        O(target=rack); ignored for O(target=local).
    type: str
  app:
    description: The app whose volume is cleaned.
    type: str
    required: true
  service:
    description: The service whose volume is cleaned.
    type: str
    required: true
  path:
    description:
      - The container path of the volume, as written in the compose file, for example
        V(/var/lib/postgresql/data).
      - Exactly one of O(path) and O(host_path) is required.
    type: str
  host_path:
    description:
      - The volume directory on the host, instead of O(path). It must lie strictly inside the
        service directory.
    type: str
  target:
    description:
      - V(rack) for the rack layout C(<root>/<rack>-<app>/<service>/), V(local) for the local
        layout C(<root>/<app>/<service>/).
    type: str
    choices: [rack, local]
    default: rack
  root:
    description:
      - The volumes root. Defaults to V(/volumes) for O(target=rack) and to
        C(~/.convox/volumes) of the remote user for O(target=local).
      - An empty value, V(/), and roots inside C(/proc), C(/sys), C(/dev), C(/run) or
        C(/var/run) are refused.
    type: str
  quarantine:
    description:
      - Move the volume to C(<root>/.convox-trash/<time>-<rack>-<app>-<service>-<slug>)
        instead of deleting it. A rename on the same file system, so it takes the same time
        for ten files as for a million; the trash is emptied by hand.
    type: bool
    default: false
  recreate:
    description:
      - Leave an empty volume directory with the old owner and mode, as the service expects
        its mount source to exist. With V(false) the directory itself goes too.
    type: bool
    default: true
  busy_timeout:
    description:
      - Seconds to keep retrying files that a process holds open before failing.
    type: float
    default: 30
  lock_timeout:
    description:
      - Age in seconds after which another host's lock counts as stale and is replaced.
        Must be more than 0.
    type: float
    default: 3600
  timeout:
    description:
      - Seconds the volumes root may take to answer before the task gives up. The first
        access runs in a child process, so a dead NFS server fails the task instead of
        hanging it.
    type: float
    default: 30
attributes:
  check_mode:
    support: full
    details: Reports the files, directories and bytes that would go; touches nothing, takes
      no lock.
  diff_mode:
    support: full
    details: Shows the volume directory before (counts) and after (empty, absent or moved).
  idempotent:
    support: full
    details: >-
      A volume that is already empty (and kept by O(recreate=true)) or does not exist
      reports no change. Check mode and the real run follow the same decision.
notes:
  - From a checkout the short name C(ansible -m convox_volume_clean) works at the repository
    root, whose C(ansible.cfg) sets C(library = ./plugins/modules) (run C(make link) first so
    the collection imports resolve). Anywhere else use the FQCN.
  - If the NFS server dies in the middle of a delete, the task blocks like C(rm) would.
seealso:
  - module: convox.volumes.convox_volume_restore
  - module: convox.volumes.convox_volume_info
"""

EXAMPLES = r"""
---
- name: Clear the corrupted postgres volume of service db
  convox.volumes.convox_volume_clean:
    rack: r1
    app: a1
    service: db
    path: /var/lib/postgresql/data

- name: Move it to the trash instead, so it can be restored
  convox.volumes.convox_volume_clean:
    rack: r1
    app: a1
    service: db
    path: /var/lib/postgresql/data
    quarantine: true
  register: cleaned

- name: Clear a volume of the local layout (~/.convox/volumes/<app>/<service>/...)
  convox.volumes.convox_volume_clean:
    target: local
    app: a1
    service: web
    path: /data
"""

RETURN = r"""
host_path:
  description: The resolved volume directory.
  returned: always
  type: str
  sample: /volumes/r1-a1/db/var/lib/postgresql/data
removed:
  description:
    - What was deleted, or in check mode what would be. All zero when nothing changed and
      when O(quarantine=true) (nothing is deleted then; see RV(quarantined_to)).
    - On a partial delete the failure result carries it too, with C(remaining).
  returned: always
  type: dict
  contains:
    files:
      description: Files, links and other non-directories.
      type: int
      returned: always
      sample: 1024
    directories:
      description: Directories below the volume directory.
      type: int
      returned: always
      sample: 12
    bytes:
      description: Their apparent size in bytes.
      type: int
      returned: always
      sample: 41943040
quarantined_to:
  description: Where the volume was moved, or V(null) without O(quarantine).
  returned: always
  type: str
  sample: /volumes/.convox-trash/20261203T174409Z-r1-a1-db-var-lib-postgresql-data
recreated:
  description: Whether an empty volume directory with the old owner and mode is left.
  returned: always
  type: bool
  sample: true
incomplete:
  description:
    - When the volume was moved to the trash but a later step failed (the task has failed,
      RV(quarantined_to) is set), what was not done and how to finish it by hand.
  returned: failure
  type: list
  elements: str
  sample: ["/volumes/r1-a1/db/data was not recreated (Permission denied): create it by hand"]
unreadable:
  description:
    - In check mode, the entries that cannot be read (at most 20), which would make the real
      delete stop partway; the task then fails without touching anything.
  returned: failure
  type: list
  elements: str
  sample: ["/volumes/r1-a1/db/data/base: Permission denied"]
remaining:
  description:
    - After a partial delete, or a clean stopped by an unexpected error, what is left (the
      task has failed). V(null) when it could not be counted.
  returned: failure
  type: dict
  sample: {"files": 1, "directories": 0, "bytes": 8192}
"""

import os
import stat
import traceback
import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.convox.volumes.plugins.module_utils._child import (
    ChildFailed,
    ChildTimeout,
    call_with_timeout,
)
from ansible_collections.convox.volumes.plugins.module_utils._clean import (
    CleanError,
    VolumeTarget,
    check_lock_timeout,
    clean_volume,
    resolve_target,
    survey,
)
from ansible_collections.convox.volumes.plugins.module_utils._paths import (
    VolumeRuleError,
    current_user_home,
)

ARGUMENT_SPEC: dict[str, t.Any] = {
    "rack": {"type": "str"},
    "app": {"type": "str", "required": True},
    "service": {"type": "str", "required": True},
    "path": {"type": "str"},
    "host_path": {"type": "str"},
    "target": {"type": "str", "choices": ["rack", "local"], "default": "rack"},
    "root": {"type": "str"},
    "quarantine": {"type": "bool", "default": False},
    "recreate": {"type": "bool", "default": True},
    "busy_timeout": {"type": "float", "default": 30},
    "lock_timeout": {"type": "float", "default": 3600},
    "timeout": {"type": "float", "default": 30},
}


def reach_root(root: str, timeout: float) -> None:
    """Fail fast when the volumes root does not answer (a dead NFS server blocks forever)."""
    try:
        call_with_timeout(os.lstat, (root,), timeout=timeout)
    except ChildTimeout as exc:
        raise CleanError(f"the volumes root {root} did not answer within timeout={timeout:g} "
                         f"s: its file server may be down. Nothing was touched.") from exc
    except ChildFailed:
        pass  # a missing root is reported by the checks, with a better message


def what_remains(volume: VolumeTarget) -> dict[str, int] | None:
    """What is left in the volume after a failure, or None when it cannot be counted."""
    try:
        info = os.lstat(volume.host_path)
        if not stat.S_ISDIR(info.st_mode):
            return None
        return survey(volume.host_path, info.st_dev).counts()
    except (OSError, RecursionError):
        return None


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True,
                           required_if=[("target", "rack", ["rack"])])
    params = module.params
    for name in ("busy_timeout", "lock_timeout", "timeout"):
        if params[name] < 0:
            module.fail_json(msg=f"{name} must not be negative; got {params[name]:g}: give a "
                                 f"number of seconds, e.g. {name}={ARGUMENT_SPEC[name]['default']}")
    try:
        check_lock_timeout(params["lock_timeout"])
    except CleanError as exc:
        module.fail_json(msg=f"refused, nothing was touched: {exc}")

    try:
        volume = resolve_target(target=params["target"], rack=params["rack"], app=params["app"],
                                service=params["service"], path=params["path"],
                                host_path=params["host_path"], root=params["root"],
                                home=current_user_home())
    except VolumeRuleError as exc:
        module.fail_json(msg=f"refused, nothing was touched: {exc}")

    try:
        reach_root(volume.root, params["timeout"])
        result = clean_volume(volume, quarantine_it=params["quarantine"],
                              recreate=params["recreate"], busy_timeout=params["busy_timeout"],
                              lock_timeout=params["lock_timeout"], check_mode=module.check_mode,
                              log=module.log)
    except CleanError as exc:
        module.fail_json(**{"host_path": volume.host_path, **exc.details, "msg": str(exc)})
    except OSError as exc:
        module.fail_json(msg=f"cleaning {volume.host_path} failed: {exc}",
                         host_path=volume.host_path, remaining=what_remains(volume))
    except Exception as exc:  # pylint: disable=broad-exception-caught
        remaining = what_remains(volume)
        module.fail_json(
            msg=f"cleaning {volume.host_path} stopped on an unexpected "
                f"{type(exc).__name__}: {exc}. Part of it may be deleted already: what "
                f"remains is in 'remaining' (null when it could not be counted). Run the "
                f"task again with -vvv and report the error if it repeats.",
            host_path=volume.host_path, remaining=remaining,
            exception=traceback.format_exc())
    if not module._diff:
        result.pop("diff", None)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
