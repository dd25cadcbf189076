#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: contributors to the convox.volumes collection
from __future__ import annotations

DOCUMENTATION = r"""
module: convox_efs_mount
short_description: Mount a rack's EFS file system on an instance, or fall back to a local directory
version_added: 0.1.0
description:
  - Mounts the rack's EFS file system at O(path) over NFSv4.1 (or through amazon-efs-utils with
    O(tls)), keeps exactly one line for O(path) in O(fstab), and checks the result against the
    live mount table, not only against fstab.
  - "Source: an explicit O(source) wins; else O(mount_target_ip); else the AZ-specific DNS name
    C(<az>.<file system id>.efs.<region>.amazonaws.com) when it resolves on the instance; else
    the IP of the usable mount target of the instance's AZ from O(mount_targets); another AZ's
    target only with O(allow_cross_az). A live mount from the AZ-specific DNS name or from the
    IP of the instance's AZ's target is kept as it is (both reach the same target), so a DNS
    lookup that fails once does not unmount a working mount."
  - A different source, or a different value of an option the kernel shows in the mount table
    (V(vers), V(rsize), V(wsize), V(hard)/V(soft), V(timeo), V(retrans), V(noresvport), ...),
    means unmount and mount again, reported in the diff. Options that only live in fstab
    (V(_netdev), V(nofail)) never cause a remount; the order of options does not matter.
  - Never hides data. Mounting over a non-empty, unmounted O(path) fails with the number of
    entries there, unless O(migrate_local) is set.
  - Never hangs. Each mount attempt has a deadline, attempts are bounded, and the mount is
    checked from a child process with a deadline after mounting, before unmounting, and on
    every run, so an unreachable server fails the task with a message.
  - With no file system (O(file_system_id) empty and no O(source)) or O(supported=false),
    O(path) becomes a local directory with no fstab line, and a warning says that its volumes
    are instance-local.
  - Needs no boto3, since the AWS lookups happen on the controller with
    M(convox.volumes.convox_efs_info).
extends_documentation_fragment:
  - convox.volumes.attributes
options:
  file_system_id:
    description:
      - The EFS file system ID, for example V(fs-0123456789abcdef0).
      - Empty means no file system; with O(state=mounted), O(path) is a local directory.
    type: str
    default: ""
  supported:
    description:
      - Whether EFS exists in the region, as RV(convox.volumes.convox_efs_info#module:supported)
        returns it. V(false) gives the local directory like an empty O(file_system_id).
    type: bool
    default: true
  region:
    description:
      - The AWS region of the file system, used for its DNS names.
      - Defaults to the region of O(availability_zone).
    type: str
  availability_zone:
    description:
      - The AZ of this instance, for example V(us-east-1a), usually from the inventory
        variable C(ec2_availability_zone) or the instance metadata service.
      - Required to choose a mount target, unless O(source) or O(mount_target_ip) is given.
    type: str
  mount_targets:
    description:
      - The mount targets from M(convox.volumes.convox_efs_info), either its
        RV(convox.volumes.convox_efs_info#module:mount_targets) list (states included, so
        errors can name targets that are not available yet) or its
        RV(convox.volumes.convox_efs_info#module:mount_targets_by_az) mapping.
      - When not given, only the AZ-specific DNS name is tried.
    type: raw
  mount_target_ip:
    description:
      - Mount from this IP address instead of choosing a mount target.
    type: str
  allow_cross_az:
    description:
      - Mount from a target in another AZ when the instance's AZ has no usable one.
      - Traffic across AZs costs money, and the mount fails when that AZ does.
    type: bool
    default: false
  source:
    description:
      - An explicit V(host:/path) to mount. Overrides O(file_system_id), O(mount_targets) and
        O(mount_target_ip) for the choice of the source.
    type: str
  path:
    description:
      - The mount point. It is created when missing, and never removed.
    type: path
    default: /volumes
  options:
    description:
      - Mount options that change the defaults
        V(nfsvers=4.1,rsize=1048576,wsize=1048576,hard,timeo=600,retrans=2,noresvport) plus
        V(_netdev,nofail).
      - A mapping of option name to a value, V(true) for a flag, or V(false) to drop an
        option, also a default. Setting V(soft) drops V(hard), V(resvport) drops
        V(noresvport), and so on. V(vers) and V(nfsvers) are one option.
      - V(_netdev) is always written, so that the boot mounts the file system only once the
        network is up; V(_netdev=false) is an error. V(nofail=false) drops V(nofail).
    type: dict
    default: {}
  tls:
    description:
      - Mount with amazon-efs-utils (fstab type V(efs)) and encrypt the traffic with TLS.
      - Needs the C(amazon-efs-utils) package on the instance and O(file_system_id).
      - amazon-efs-utils applies the NFS defaults itself, so they are not written.
    type: bool
    default: false
  iam:
    description:
      - Authenticate with the instance's IAM role (amazon-efs-utils V(iam)). Needs O(tls).
    type: bool
    default: false
  accesspoint:
    description:
      - Mount through this EFS access point, for example V(fsap-0123456789abcdef0).
        Needs O(tls).
    type: str
  state:
    description:
      - V(mounted) mounts and writes the fstab line.
      - V(unmounted) writes the fstab line and makes sure nothing is mounted at O(path).
      - V(absent) unmounts and removes the fstab line; it never removes O(path) or anything in
        it.
    type: str
    choices: [mounted, unmounted, absent]
    default: mounted
  fstab:
    description:
      - The fstab file to keep the line in.
    type: path
    default: /etc/fstab
  migrate_local:
    description:
      - When O(path) is not mounted and not empty, rename it aside (to
        C(<path>.local-<UTC time>)), mount, and copy its content into the file system, with
        owners, modes and times kept, no existing file overwritten, and conflicts listed.
      - The renamed local directory stays for the operator to check and remove.
      - If the copy fails (an entry that cannot be copied, or O(migrate_timeout)), the file
        system is unmounted again and the local directory moved back, so a rerun tries again;
        files that an earlier attempt copied completely count as copied, not as conflicts.
    type: bool
    default: false
  timeout:
    description:
      - Seconds to wait for the check that the mount answers, and for DNS lookups. Both run in
        a child process, so a dead server cannot block the task.
    type: float
    default: 10
  mount_timeout:
    description:
      - Seconds one C(mount) or C(umount) command may take before it is stopped.
    type: float
    default: 60
  mount_retries:
    description:
      - How many times to try the mount before failing.
    type: int
    default: 3
  mount_retry_delay:
    description:
      - Seconds between mount attempts.
    type: float
    default: 5
  migrate_timeout:
    description:
      - Seconds the copy of O(migrate_local) may take.
    type: float
    default: 3600
attributes:
  check_mode:
    support: full
    details: Reports the fstab line, the mount or remount and any migration it would do.
  diff_mode:
    support: full
    details: Shows fstab before and after, and the mount at O(path) before and after.
  idempotent:
    support: full
    details: Compares with fstab and with the live mount table; a second run changes nothing.
notes:
  - On an NFS mount, C(mount -o remount) cannot change options such as V(timeo) or V(rsize),
    and a remount with a different source leaves the old one mounted; this module therefore
    unmounts and mounts again.
  - With O(tls), the kernel shows the local TLS tunnel (C(127.0.0.1)) as the source, so only
    the path of the source can be compared with the live mount.
  - The kernel rounds V(rsize) and V(wsize) down to whole pages and the server may lower them
    to its maximum, so a live value below the wanted one is no change while the fstab line
    asks for the wanted value (or there is no fstab line); a live value above it, or a wanted
    value that differs from the fstab line's, remounts.
  - Options the kernel hides at their default value (V(acregmin=3), V(lookupcache=all),
    V(port=2049), ...) compare as that default; options it never shows are not compared.
requirements:
  - The NFS client (C(nfs-common) or C(nfs-utils)); C(amazon-efs-utils) for O(tls).
seealso:
  - module: convox.volumes.convox_efs_info
author:
  - convox.volumes contributors (@convox-volumes)
"""

EXAMPLES = r"""
---
- name: Mount the rack's file system at /volumes from the instance's AZ
  convox.volumes.convox_efs_mount:
    file_system_id: fs-0123456789abcdef0
    region: us-east-1
    availability_zone: "{{ ec2_availability_zone }}"
    mount_targets: "{{ efs.mount_targets }}"

- name: Mount with a shorter timeout and without nofail
  convox.volumes.convox_efs_mount:
    file_system_id: fs-0123456789abcdef0
    availability_zone: us-east-1a
    mount_targets: {us-east-1a: 10.0.1.25}
    options:
      timeo: 300
      nofail: false

- name: Mount with TLS and IAM authorisation (needs amazon-efs-utils)
  convox.volumes.convox_efs_mount:
    file_system_id: fs-0123456789abcdef0
    tls: true
    iam: true

- name: Move existing local volumes into the file system
  convox.volumes.convox_efs_mount:
    source: 10.0.1.25:/
    migrate_local: true

- name: No file system in this region, so /volumes is a local directory
  convox.volumes.convox_efs_mount:
    file_system_id: ""

- name: Unmount and remove the fstab line; /volumes and its content stay
  convox.volumes.convox_efs_mount:
    state: absent
"""

RETURN = r"""
path:
  description: The mount point.
  returned: always
  type: str
  sample: /volumes
local:
  description: Whether O(path) is a local directory because there is no file system.
  returned: always
  type: bool
  sample: false
source:
  description: The source that is (or would be) mounted; null for the local directory and
    for O(state=absent).
  returned: always
  type: str
  sample: us-east-1a.fs-0123456789abcdef0.efs.us-east-1.amazonaws.com:/
source_reason:
  description: Why this source was chosen.
  returned: always
  type: str
  sample: "us-east-1a.fs-0123456789abcdef0.efs.us-east-1.amazonaws.com does not resolve
    (is DNS resolution enabled in the VPC?); using the mount target IP of us-east-1a"
fstab_line:
  description: The line for O(path) in O(fstab); null when there is none.
  returned: always
  type: str
  sample: "10.0.1.25:/ /volumes nfs4 nfsvers=4.1,rsize=1048576,wsize=1048576,hard,timeo=600,\
    retrans=2,noresvport,_netdev,nofail 0 0"
mounted:
  description: Whether O(path) is (or, in check mode, would be) mounted when the task ends.
  returned: always
  type: bool
  sample: true
actions:
  description: What was (or, in check mode, would be) done, in order.
  returned: always
  type: list
  elements: str
  sample: ["unmount 10.0.1.25:/ (timeo: live 600, wanted 300)", "mount 10.0.1.25:/",
           "update /etc/fstab"]
msg:
  description: What was decided and why, in one line.
  returned: always
  type: str
  sample: "/volumes mounted from 10.0.1.25:/ (mount_target_ip was given): mount 10.0.1.25:/;
    update /etc/fstab"
migrated:
  description: What O(migrate_local) copied; null when nothing was migrated.
  returned: always
  type: dict
  sample: {local_copy: /volumes.local-20260101T120000, files: 12, directories: 3, symlinks: 0,
           bytes: 40960, already_copied: 0, conflicts: [], skipped: [], errors: []}
"""

import os
import socket
import tempfile
import time
import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.convox.volumes.plugins.module_utils import (
    _child, _efs, _fstab, _migrate, _mounts,
)
from ansible_collections.convox.volumes.plugins.module_utils._paths import (
    VolumeRuleError, normalise_absolute,
)

LOCAL_DIRECTORY_MODE = 0o755


class TaskError(Exception):
    """Ends the task with this message; raised before anything changed unless it says so."""


# ---------------------------------------------------------------- work in child processes

def _resolve(name: str) -> str | None:
    try:
        return socket.getaddrinfo(name, 2049, proto=socket.IPPROTO_TCP)[0][4][0]
    except (socket.gaierror, OSError):
        return None


def _probe(path: str) -> bool:
    """Touch the mount the way every user will: statvfs always asks the server."""
    os.statvfs(path)
    os.stat(path)
    return True


def resolver(timeout: float) -> t.Callable[[str], str | None]:
    def resolve(name: str) -> str | None:
        try:
            return _child.call_with_timeout(_resolve, (name,), timeout=timeout)
        except (_child.ChildTimeout, _child.ChildFailed):
            return None
    return resolve


def check_alive(path: str, source: str, timeout: float, when: str) -> None:
    try:
        _child.call_with_timeout(_probe, (path,), timeout=timeout)
    except _child.ChildTimeout:
        raise TaskError(
            f"{when}: the NFS mount at {path} (from {source}) does not answer within "
            f"{timeout:g} s, so its server is unreachable or stopped. Check the server and the "
            f"security group (TCP 2049); to get rid of the dead mount, run "
            f"'umount -f -l {path}' on the instance.")
    except _child.ChildFailed as exc:
        raise TaskError(f"{when}: the mount at {path} (from {source}) fails: {exc}")


def run_bounded(module: AnsibleModule, argv: list[str], timeout: float) -> tuple[int, str]:
    """Run a command under coreutils' timeout, which stops it (TERM, then KILL 5 s later)
    after `timeout` seconds. Returns (rc, output)."""
    rc, out, err = module.run_command(["timeout", "-k", "5", f"{timeout:g}"] + argv,
                                      environ_update={"LC_ALL": "C"})
    if rc in (124, 137):
        return rc, f"{' '.join(argv)} did not finish within {timeout:g} s and was stopped"
    return rc, "\n".join(part.strip() for part in (out, err) if part.strip())


# ---------------------------------------------------------------- validation

def validate(params: dict[str, t.Any]) -> dict[str, t.Any]:
    """Every option checked and normalised before anything is looked at or changed."""
    try:
        path = normalise_absolute(params["path"], "path")
    except VolumeRuleError as exc:
        raise TaskError(str(exc))
    if path == "/":
        raise TaskError("path '/' cannot be a mount point for volumes: use '/volumes'.")
    for name in ("timeout", "mount_timeout", "mount_retry_delay", "migrate_timeout"):
        if params[name] < 0 or (name != "mount_retry_delay" and params[name] == 0):
            raise TaskError(f"{name} must be a positive number of seconds; got {params[name]}.")
    if params["mount_retries"] < 1:
        raise TaskError(f"mount_retries must be at least 1; got {params['mount_retries']}.")

    source = params["source"]
    if source is not None:
        host, colon, export = source.partition(":")
        if not host or not colon or not export.startswith("/"):
            raise TaskError(f"source {source!r} is not 'host:/path': write it like "
                            f"'10.0.1.25:/' or 'fs-0123456789abcdef0.efs.us-east-1."
                            f"amazonaws.com:/'.")
    file_system_id = (params["file_system_id"] or "").strip()
    if file_system_id and not file_system_id.startswith("fs-"):
        raise TaskError(f"file_system_id {file_system_id!r} is not an EFS file system ID: "
                        f"they look like 'fs-0123456789abcdef0'.")
    if (params["iam"] or params["accesspoint"]) and not params["tls"]:
        raise TaskError("iam and accesspoint need tls=true: amazon-efs-utils supports them "
                        "only over TLS.")
    if params["tls"] and not file_system_id and source is None:
        raise TaskError("tls=true needs file_system_id: amazon-efs-utils mounts a file system "
                        "by its ID.")
    try:
        options = _efs.merge_options(params["options"], tls=params["tls"], iam=params["iam"],
                                     accesspoint=params["accesspoint"])
        mount_targets = _efs.normalise_mount_targets(params["mount_targets"])
    except _efs.EfsError as exc:
        raise TaskError(str(exc))

    local = params["state"] == "mounted" and source is None and (
        not file_system_id or not params["supported"])
    if params["state"] == "unmounted" and source is None and not file_system_id:
        raise TaskError("state=unmounted writes an fstab line, which needs file_system_id or "
                        "source.")
    return dict(path=path, source=source, file_system_id=file_system_id, options=options,
                mount_targets=mount_targets, local=local)


# ---------------------------------------------------------------- local fallback

def local_fallback(module: AnsibleModule, path: str, fstab_text: str,
                   current: _mounts.MountEntry | None) -> dict[str, t.Any]:
    params = module.params
    reason = ("supported is false (no EFS in this region)" if not params["supported"]
              else "no file_system_id was given")
    module.warn(f"{reason}: {path} is a local directory on this instance. Its volumes are "
                f"instance-local: they do not persist across instance replacement and are not "
                f"shared with the rack's other instances.")
    result = dict(changed=False, path=path, local=True, source=None, source_reason=reason,
                  fstab_line=None, mounted=current is not None, actions=[], migrated=None,
                  msg=f"{path} is an instance-local directory ({reason})")
    if _fstab.entries_for(fstab_text, path):
        module.warn(f"{params['fstab']} still has a line for {path}; it was left as it is. "
                    f"Remove it with state=absent if that mount is no longer wanted.")
    if current is not None:
        # Something is mounted there (a local disk, or an earlier EFS mount): keep it.
        module.log(f"{path} is a mount point of {current.describe()}; left as it is")
        return result
    if os.path.lexists(path):
        if not os.path.isdir(path) or os.path.islink(path):
            raise TaskError(f"{path} exists but is not a directory: move it away, or choose "
                            f"another 'path'.")
        return result
    result.update(changed=True, actions=[f"create directory {path} (mode 0755)"])
    result["msg"] += f": create directory {path} (mode 0755)"
    if module._diff:
        result["diff"] = dict(before={"path": path, "state": "absent"},
                              after={"path": path, "state": "directory"})
    if not module.check_mode:
        os.makedirs(path, mode=LOCAL_DIRECTORY_MODE)
        os.chmod(path, LOCAL_DIRECTORY_MODE)
    return result


# ---------------------------------------------------------------- the plan

def wanted_source(module: AnsibleModule, settings: dict[str, t.Any],
                  current: _mounts.MountEntry | None) -> tuple[str, str]:
    params = module.params
    mounted_host = None
    if current is not None and current.fstype in _mounts.NFS_TYPES:
        mounted_host = current.source.partition(":")[0]
    if settings["source"] is not None:
        return settings["source"], "source was given"
    if params["tls"]:
        return f"{settings['file_system_id']}:/", "tls: amazon-efs-utils finds the mount target"
    if params["mount_targets"] == {} and not params["mount_target_ip"]:
        # The mapping lists usable targets only: empty can mean none, or none available yet.
        raise TaskError(
            f"mount_targets is an empty mapping: file system {settings['file_system_id']} has "
            f"no available mount target (none at all, or all still 'creating'). Pass "
            f"convox_efs_info's 'mount_targets' list instead to see their states, or wait "
            f"and run again.")
    try:
        choice = _efs.choose_source(
            file_system_id=settings["file_system_id"], region=params["region"],
            availability_zone=params["availability_zone"],
            mount_targets=settings["mount_targets"], allow_cross_az=params["allow_cross_az"],
            resolve=resolver(params["timeout"]), mount_target_ip=params["mount_target_ip"],
            mounted_host=mounted_host)
    except _efs.EfsError as exc:
        raise TaskError(str(exc))
    return f"{choice.host}:/", choice.reason


def describe_mount(entry: _mounts.MountEntry | None) -> str:
    return f"{entry.describe()}\n" if entry else ""


def plan_mount(module: AnsibleModule, settings: dict[str, t.Any], source: str | None,
               current: _mounts.MountEntry | None,
               asked_before: t.Sequence[str] = ()) -> dict[str, t.Any]:
    """What to do with the live mount: unmount, mount, both, or nothing; and why.
    `asked_before` are the options of the present fstab line for the path."""
    params = module.params
    path = settings["path"]
    plan = dict(unmount=False, mount=False, reasons=[], migrate_entries=0)
    if current is not None and current.fstype not in _mounts.NFS_TYPES:
        raise TaskError(f"{path} is a mount point of {current.describe()}, which is not NFS; "
                        f"it is left alone. Unmount it by hand or choose another 'path'.")

    if params["state"] != "mounted":
        plan["unmount"] = current is not None
        return plan

    if current is not None:
        if not _mounts.same_source(source, current.source, tls=params["tls"]):
            plan["reasons"].append(f"source: live {current.source}, wanted {source}")
        plan["reasons"].extend(_mounts.option_differences(settings["options"], current.options,
                                                          asked_before))
        plan["unmount"] = plan["mount"] = bool(plan["reasons"])
        unverifiable = _mounts.unverifiable_options(settings["options"])
        if unverifiable:
            module.log(f"not shown in the mount table, so not compared: "
                       f"{', '.join(unverifiable)}")
        return plan

    plan["mount"] = True
    if os.path.isdir(path) and not os.path.islink(path):
        count, first = _migrate.list_entries(path)
        if count and not params["migrate_local"]:
            raise TaskError(
                f"{path} is not mounted and holds {count} entr{'y' if count == 1 else 'ies'} "
                f"({', '.join(first)}{', ...' if count > len(first) else ''}); mounting over "
                f"it would hide them. Move them away, or set migrate_local=true to copy them "
                f"into the file system after mounting.")
        plan["migrate_entries"] = count
    elif os.path.lexists(path):
        raise TaskError(f"{path} exists but is not a directory, so it cannot be a mount point: "
                        f"move it away, or choose another 'path'.")
    return plan


def summary(state: str, path: str, source: str | None, reason: str | None,
            actions: list[str]) -> str:
    """One line for -v output: what was decided and why."""
    done = "; ".join(actions) if actions else "nothing to change"
    if state == "absent":
        return f"{path}: {done}"
    return f"{path} {state} from {source} ({reason}): {done}"


# ---------------------------------------------------------------- applying it

def write_fstab(module: AnsibleModule, fstab: str, text: str) -> None:
    directory = os.path.dirname(fstab) or "."
    descriptor, temporary = tempfile.mkstemp(prefix=".fstab.", dir=directory)
    with os.fdopen(descriptor, "w", encoding="utf-8", errors="surrogateescape") as handle:
        handle.write(text)
    if not os.path.exists(fstab):
        os.chmod(temporary, 0o644)
    module.atomic_move(temporary, fstab, unsafe_writes=False)


def unmount(module: AnsibleModule, path: str, source: str) -> None:
    check_alive(path, source, module.params["timeout"], "before unmounting")
    rc, output = run_bounded(module, ["umount", path], module.params["mount_timeout"])
    if rc != 0:
        raise TaskError(f"unmounting {path} failed ({output}); fstab was left as it was. If the "
                        f"mount is busy, stop what uses it (fuser -vm {path}) and run again.")
    module.log(f"unmounted {source} from {path}")


def mount(module: AnsibleModule, path: str, source: str, options: list[str]) -> None:
    params = module.params
    kernel_options = _fstab.kernel_options(options)
    argv = ["mount", "-t", _efs.fstype_for(params["tls"])]
    if kernel_options:
        argv += ["-o", ",".join(kernel_options)]
    argv += [source, path]
    failures = []
    for attempt in range(1, params["mount_retries"] + 1):
        rc, output = run_bounded(module, argv, params["mount_timeout"])
        if rc == 0:
            module.log(f"mounted {source} at {path} (attempt {attempt})")
            return
        failures.append(f"attempt {attempt}: {output or f'exit code {rc}'}")
        if attempt < params["mount_retries"]:
            time.sleep(params["mount_retry_delay"])
    raise TaskError(f"mounting {source} at {path} failed {len(failures)} time(s) "
                    f"({'; '.join(failures)}). Check that the NFS client is installed, that "
                    f"the mount target is reachable on TCP 2049 and that its security group "
                    f"admits this instance.")


def undo_migration(module: AnsibleModule, path: str, aside: str, source: str,
                   failure: str) -> str:
    """After a migration that failed: unmount and move the local data back, so that nothing
    changed and a rerun tries again. Returns the message of the failed task."""
    try:
        unmount(module, path, source)
        _migrate.move_back(path, aside)
    except (TaskError, OSError) as exc:
        return (f"{failure}. Undoing the mount failed too ({exc}); the local data is complete "
                f"in {aside}: once {path} is unmounted, move it back to {path} by hand and run "
                f"again.")
    module.log(f"migration failed: unmounted {path} and moved {aside} back")
    return (f"{failure}. {path} was unmounted again and its local data moved back, so "
            f"{path} and {module.params['fstab']} are as they were (entries copied so far "
            f"stay in the file system and count as copied next time). Fix the cause and run "
            f"again.")


def migrate(module: AnsibleModule, path: str, aside: str, source: str) -> dict[str, t.Any]:
    """Copy the local data set aside into the mounted file system; on any failure, undo the
    mount (undo_migration) and fail."""
    timeout = module.params["migrate_timeout"]
    try:
        report = _child.call_with_timeout(_migrate.copy_tree, (aside, path), timeout=timeout)
    except _child.ChildTimeout:
        failure = (f"copying the local data from {aside} into {path} took longer than "
                   f"{timeout:g} s (migrate_timeout) and was stopped")
    except _child.ChildFailed as exc:
        failure = f"copying the local data from {aside} into {path} failed: {exc}"
    else:
        if not report["errors"]:
            report["local_copy"] = aside
            if report["conflicts"]:
                module.warn(f"{len(report['conflicts'])} local entr"
                            f"{'y' if len(report['conflicts']) == 1 else 'ies'} already existed "
                            f"in the file system and were not overwritten: "
                            f"{', '.join(report['conflicts'][:20])}. The local versions stay "
                            f"in {aside}.")
            if report["skipped"]:
                module.warn(f"not copied (sockets, FIFOs or devices): "
                            f"{', '.join(report['skipped'])}")
            module.warn(f"the local data of {path} was copied into the file system; the "
                        f"original stays in {aside} until you remove it.")
            return report
        failure = (f"{len(report['errors'])} entries could not be copied into the file system "
                   f"({'; '.join(report['errors'][:10])}); if root cannot change owners "
                   f"there, the file system needs ClientRootAccess")
    raise TaskError(undo_migration(module, path, aside, source, failure))


def apply(module: AnsibleModule, settings: dict[str, t.Any], plan: dict[str, t.Any],
          source: str | None, current: _mounts.MountEntry | None,
          fstab_changed: bool, new_fstab: str) -> dict[str, t.Any] | None:
    path = settings["path"]
    migrated = None
    if plan["unmount"] and current is not None:
        unmount(module, path, current.source)

    if plan["mount"]:
        aside = None
        if not os.path.exists(path):
            os.makedirs(path, mode=LOCAL_DIRECTORY_MODE)
        elif plan["migrate_entries"]:
            aside = _migrate.aside_path(path)
            _migrate.move_aside(path, aside)
            module.log(f"moved the local content of {path} to {aside} for the migration")
        try:
            mount(module, path, source, settings["options"])
        except TaskError as exc:
            if aside:
                _migrate.move_back(path, aside)
                raise TaskError(f"{exc} The local data was moved back to {path}.")
            if current is not None:
                raise TaskError(
                    f"{exc} {path} was unmounted from {current.source} first and is now not "
                    f"mounted; {module.params['fstab']} was not changed. Fix the new source (or "
                    f"the options) and run again.")
            raise
        try:
            check_alive(path, source, module.params["timeout"], "after mounting")
        except TaskError as exc:
            if aside:
                raise TaskError(f"{exc} The local data of {path} is complete in {aside}: once "
                                f"{path} is unmounted, move it back to {path} and run again.")
            raise
        if aside:
            migrated = migrate(module, path, aside, source)
    elif module.params["state"] == "mounted" and current is not None:
        check_alive(path, current.source, module.params["timeout"], "checking the mount")

    if fstab_changed:
        write_fstab(module, module.params["fstab"], new_fstab)
    return migrated


# ---------------------------------------------------------------- main

class MountModule(AnsibleModule):
    """AnsibleModule without the file details that exit_json and fail_json add for a
    returned 'path': they come from stat() of the mount point in this process, and on a
    dead NFS mount that stat blocks until the server returns, which would turn a liveness
    check that timed out into a task that hangs."""

    def add_path_info(self, kwargs: dict[str, t.Any]) -> dict[str, t.Any]:
        return kwargs


def main() -> None:
    module = MountModule(
        argument_spec=dict(
            file_system_id=dict(type="str", default=""),
            supported=dict(type="bool", default=True),
            region=dict(type="str"),
            availability_zone=dict(type="str"),
            mount_targets=dict(type="raw"),
            mount_target_ip=dict(type="str"),
            allow_cross_az=dict(type="bool", default=False),
            source=dict(type="str"),
            path=dict(type="path", default="/volumes"),
            options=dict(type="dict", default={}),
            tls=dict(type="bool", default=False),
            iam=dict(type="bool", default=False),
            accesspoint=dict(type="str"),
            state=dict(type="str", default="mounted", choices=["mounted", "unmounted", "absent"]),
            fstab=dict(type="path", default="/etc/fstab"),
            migrate_local=dict(type="bool", default=False),
            timeout=dict(type="float", default=10),
            mount_timeout=dict(type="float", default=60),
            mount_retries=dict(type="int", default=3),
            mount_retry_delay=dict(type="float", default=5),
            migrate_timeout=dict(type="float", default=3600),
        ),
        mutually_exclusive=[("source", "mount_target_ip")],
        supports_check_mode=True,
    )
    params = module.params
    result: dict[str, t.Any] = dict(changed=False, path=params["path"], local=False,
                                    source=None, source_reason=None, fstab_line=None,
                                    mounted=False, actions=[], migrated=None)
    try:
        # Validate everything, then read the state of the instance.
        settings = validate(params)
        path = settings["path"]
        result["path"] = path
        fstab_text = ""
        if os.path.exists(params["fstab"]):
            with open(params["fstab"], encoding="utf-8", errors="surrogateescape") as handle:
                fstab_text = handle.read()
        current = _mounts.single_mount_at(_mounts.read_mountinfo(), path)

        if settings["local"]:
            module.exit_json(**local_fallback(module, path, fstab_text, current))

        # The plan: the fstab line and what to do with the live mount.
        source = reason = wanted_line = None
        if params["state"] != "absent":
            source, reason = wanted_source(module, settings, current)
            wanted_line = _fstab.render_line(source, path, _efs.fstype_for(params["tls"]),
                                             settings["options"])
            module.log(f"source {source}: {reason}")
        new_fstab = _fstab.update(fstab_text, path, wanted_line)
        fstab_changed = new_fstab != fstab_text
        present = _fstab.entries_for(fstab_text, path)
        plan = plan_mount(module, settings, source, current,
                          present[0].options if len(present) == 1 else ())

        actions = []
        if plan["unmount"]:
            why = f" ({'; '.join(plan['reasons'])})" if plan["reasons"] else ""
            actions.append(f"unmount {current.source}{why}")
        if plan["mount"]:
            actions.append(f"mount {source}")
        if plan["migrate_entries"]:
            actions.append(f"migrate {plan['migrate_entries']} local entries into {source}")
        if fstab_changed:
            actions.append(f"update {params['fstab']}")
        for action in actions:
            module.log(action)

        will_be_mounted = params["state"] == "mounted"
        kernel_options = _fstab.kernel_options(settings["options"])
        after_mount = (f"{source} {_efs.fstype_for(params['tls'])} {','.join(kernel_options)}\n"
                       if plan["mount"] else describe_mount(current) if will_be_mounted else "")
        result.update(source=source, source_reason=reason, fstab_line=wanted_line,
                      mounted=will_be_mounted, actions=actions, changed=bool(actions),
                      msg=summary(params["state"], path, source, reason, actions))
        if module._diff and actions:
            result["diff"] = [
                dict(before_header=params["fstab"], after_header=params["fstab"],
                     before=fstab_text, after=new_fstab),
                dict(before_header=f"mount at {path}", after_header=f"mount at {path}",
                     before=describe_mount(current), after=after_mount),
            ]

        # Apply it, unless this is check mode.
        if not module.check_mode:
            result["migrated"] = apply(module, settings, plan, source, current,
                                       fstab_changed, new_fstab)
    except (TaskError, _fstab.FstabError, _mounts.MountTableError) as exc:
        module.fail_json(**dict(result, msg=str(exc)))
    except OSError as exc:
        module.fail_json(**dict(result, msg=f"{exc.filename or params['path']}: "
                                            f"{exc.strerror or exc}"))

    module.exit_json(**result)


if __name__ == "__main__":
    main()
