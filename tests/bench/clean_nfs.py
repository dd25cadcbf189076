# SPDX-License-Identifier: GPL-3.0-or-later
"""NFS part of the clean benchmark (needs the test bed: make testbed-up).

On guest-a, with a 2 ms netem delay on its interface (EFS-like metadata latency), 10,000
files (10 directories x 1,000) are deleted through the same NFSv4.1 mount by
convox_volume_clean and by `command: rm -rf`, each as one ad hoc Ansible task, alternated;
prints the medians and their ratio. Usage: .venv/bin/python tests/bench/clean_nfs.py [rounds]
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(CHECKOUT / "tests" / "testbed"))
from conftest import WORK, Bed  # noqa: E402  (the bed's own helpers)

MOUNT = "/mnt/convox-clean-bench"
GUEST = "guest-a"


def make_tree(base: Path) -> None:
    for directory in range(10):
        (base / f"d{directory}").mkdir(parents=True)
        for number in range(1000):
            (base / f"d{directory}" / f"f{number}").touch()


def adhoc(bed: Bed, module: str, arguments: str) -> float:
    env = {**os.environ, "ANSIBLE_CONFIG": str(CHECKOUT / "ansible.cfg"),
           "ANSIBLE_COLLECTIONS_PATH": str(CHECKOUT / ".collections"),
           "ANSIBLE_PIPELINING": "1"}
    started = time.monotonic()
    subprocess.run([str(Path(sys.executable).with_name("ansible")), GUEST, "-i",
                    str(bed.inventory), "-m", module, "-a", arguments], env=env, check=True,
                   capture_output=True, cwd=CHECKOUT, timeout=900)
    return time.monotonic() - started


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    bed = Bed(WORK)
    server = bed.server_ip[bed.guests[GUEST].availability_zone]
    bed.run_on_guest(GUEST, f"mkdir -p {MOUNT}; mountpoint -q {MOUNT} || mount -t nfs4 -o "
                            f"nfsvers=4.1,hard,timeo=600,retrans=2,noresvport {server}:/ {MOUNT}")
    bed.run_on_guest(GUEST, "tc qdisc replace dev vec0 root netem delay 2ms")
    module_seconds, rm_seconds = [], []
    try:
        for index in range(rounds):
            # A new root each round: the guest's NFS client caches what it saw of the last
            # one, and the trees are written on the server's side.
            name = f"clean-bench-{index}-{time.time_ns()}"
            base = bed.export / name
            make_tree(base / "bench-a1/db/data")
            make_tree(base / "rm/data")
            module_seconds.append(adhoc(bed, "convox.volumes.convox_volume_clean",
                                        f"rack=bench app=a1 service=db path=/data "
                                        f"root={MOUNT}/{name}"))
            rm_seconds.append(adhoc(bed, "ansible.builtin.command",
                                    f"rm -rf {MOUNT}/{name}/rm/data"))
            leftover = len(list(base.rglob("f*")))
            assert leftover == 0, f"{leftover} files were not deleted"
            subprocess.run(["rm", "-rf", str(base)], check=False)
            print(f"round: module {module_seconds[-1]:.2f} s, rm -rf {rm_seconds[-1]:.2f} s",
                  flush=True)
    finally:
        bed.run_on_guest(GUEST, "tc qdisc del dev vec0 root", check=False)
        bed.run_on_guest(GUEST, f"umount {MOUNT}", check=False)
        for leftover in bed.export.glob("clean-bench-*"):
            subprocess.run(["rm", "-rf", str(leftover)], check=False)
    module_median = statistics.median(module_seconds)
    rm_median = statistics.median(rm_seconds)
    print(f"NFS, 2 ms delay, 10,000 files, {rounds} rounds (whole ad hoc tasks):")
    print(f"convox_volume_clean: {module_median:.2f} s; command rm -rf: {rm_median:.2f} s")
    print(f"RATIO module / rm -rf: {module_median / rm_median:.2f}x (below 1 beats rm)")


if __name__ == "__main__":
    main()
