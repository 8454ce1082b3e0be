#!/usr/bin/env bash
# The board owner's path on an emulated arm64 Debian bookworm, as root, by hand (not `make test`):
#
#   sudo scripts/check-aarch64.sh [--root DIR] [--fresh] [--work DIR]
#
# 1. builds an arm64 Debian root with Debian's debootstrap and qemu-user-static (binfmt_misc),
#    kept in DIR (default /var/tmp/maikit-aarch64/root) and reused by later runs (--fresh: anew);
# 2. installs this checkout's `.[core,worker]` into a venv there (/opt/maikit-venv), as the
#    README tells a Raspberry Pi owner, and checks that no PyTorch came with it;
# 3. runs `mai inspect` and `mai eval` (a tiny isp/smallnet export, two small images) there and
#    on this x86 machine, fidelity also without XNNPACK, and compares the outputs;
# 4. starts `mai serve` here, submits the tiny model to a challenge of its own, and lets
#    `mai worker --once` in the arm64 root take its fidelity job and then its runtime job
#    (--backend litert-cpu), comparing the platform's metrics with the x86 `mai eval`;
# 5. starts sshd inside the root and measures over SSH from here (`--backend ssh`), first with
#    a Python that lacks maikit (the README's "not installed" message), then with the venv's.
#
# Under qemu-user there is no /sys of the emulated CPU: LiteRT's cpuinfo needs
# /sys/devices/system/cpu/{possible,present,online} (without them XNNPACK is silently off, and
# with the host's /sys it can crash), so the root gets these three files, listing this host's
# CPUs. Times under emulation are not a board's: they are printed to check that the steps ran,
# never as measurements. Exit status 0 when every check passed, 1 when one failed.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
ROOT=/var/tmp/maikit-aarch64/root
WORK=""
FRESH=0
while [ $# -gt 0 ]; do
  case "$1" in
    --root) ROOT=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    --fresh) FRESH=1; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "check-aarch64: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
HOST_PY=${HOST_PYTHON:-$REPO/.venv/bin/python}   # this checkout's full install (make venv)
VENV=/opt/maikit-venv                             # inside the root
WORK=${WORK:-$(mktemp -d /var/tmp/maikit-aarch64-run.XXXXXX)}
mkdir -p "$WORK"
T0=$(date +%s)
FAILED=0
PIDS=()

say() { printf '[check-aarch64 %4ds] %s\n' "$(( $(date +%s) - T0 ))" "$*" >&2; }
die() { say "FAILED: $*"; exit 1; }
check() {  # check NAME CONDITION-COMMAND...: a named pass/fail line, the run goes on
  local name=$1; shift
  if "$@"; then say "ok: $name"; else say "FAILED: $name"; FAILED=1; fi
}
host_mai() { PYTHONPATH="$REPO/src" "$HOST_PY" -m maikit "$@"; }
# a command in the root: a clean environment (the host's PIP_*/PYTHONPATH stay out)
in_root() { chroot "$ROOT" /usr/bin/env -i PATH=$VENV/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
              MAIKIT_STATE=/work/state "$@"; }
free_port() { "$HOST_PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for m in work dev proc; do mountpoint -q "$ROOT/$m" && umount -l "$ROOT/$m" || true; done
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || die "run as root (debootstrap, chroot, binfmt_misc)"
[ -x "$HOST_PY" ] || die "no $HOST_PY: run \`make venv\` first (the x86 side needs maikit[full,server])"

# -- 1. host tools and binfmt_misc ---------------------------------------------------------------
need=()
for tool in debootstrap:debootstrap qemu-aarch64-static:qemu-user-static update-binfmts:binfmt-support; do
  command -v "${tool%%:*}" >/dev/null || need+=("${tool##*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]} from this machine's Debian sources"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
if [ ! -e /proc/sys/fs/binfmt_misc/status ]; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc \
    || die "binfmt_misc cannot be mounted here (a container without it cannot run arm64 binaries)"
fi
update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
grep -qx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null \
  || die "qemu-aarch64 is not registered with binfmt_misc (update-binfmts --enable qemu-aarch64 failed)"
say "binfmt_misc: qemu-aarch64 enabled ($(sed -n 2p /proc/sys/fs/binfmt_misc/qemu-aarch64))"

# -- 2. the arm64 Debian root --------------------------------------------------------------------
if [ "$FRESH" = 1 ] && [ -d "$ROOT" ]; then
  cleanup
  say "removing $ROOT (--fresh)"
  rm -rf --one-file-system "$ROOT"
fi
if [ ! -e "$ROOT/.maikit-debootstrap-done" ]; then
  # the machine's own Debian archive (deb822 or one-line format); debootstrap's default otherwise
  mirror=$(grep -hs -A3 '^Types: deb' /etc/apt/sources.list.d/*.sources | awk '/^URIs:/ && $2 ~ /debian\/?$/ {print $2; exit}')
  [ -z "$mirror" ] && mirror=$(grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '$2 ~ /debian\/?$/ {print $2; exit}')
  say "debootstrap arm64 bookworm into $ROOT (${mirror:-the default mirror of debootstrap}); this takes a while under emulation"
  mkdir -p "$ROOT"
  debootstrap --arch=arm64 --variant=minbase --include=python3,python3-venv,ca-certificates,openssh-server \
    bookworm "$ROOT" ${mirror:+"$mirror"} >"$WORK/debootstrap.log" 2>&1 || die "debootstrap failed (see $WORK/debootstrap.log)"
  touch "$ROOT/.maikit-debootstrap-done"
fi
check "the root runs arm64 binaries" test "$(chroot "$ROOT" /usr/bin/uname -m)" = aarch64
mountpoint -q "$ROOT/proc" || mount -t proc proc "$ROOT/proc"
mountpoint -q "$ROOT/dev" || mount --bind /dev "$ROOT/dev"
mkdir -p "$ROOT/work" "$WORK/root-work"
mountpoint -q "$ROOT/work" || mount --bind "$WORK/root-work" "$ROOT/work"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
cpus="0-$(( $(nproc) - 1 ))"
mkdir -p "$ROOT/sys/devices/system/cpu"
for f in possible present online; do echo "$cpus" >"$ROOT/sys/devices/system/cpu/$f"; done
say "provided /sys/devices/system/cpu/{possible,present,online} = $cpus in the root (qemu-user has no /sys of its own; without them LiteRT's cpuinfo fails and XNNPACK is silently off)"

# -- 3. maikit[core,worker] in a venv, from this checkout ----------------------------------------
say "copying the checkout (tracked and new files) to /opt/maikit-src in the root"
rm -rf "$ROOT/opt/maikit-src" && mkdir -p "$ROOT/opt/maikit-src"
(cd "$REPO" && git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf -) | tar -xf - -C "$ROOT/opt/maikit-src"
t=$(date +%s)
# pip in the root trusts what this host trusts (a network whose proxy has its own CA needs it)
cp "${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}" "$ROOT/etc/ssl/certs/host-ca-bundle.crt"
pip_in_root() { in_root PIP_CERT=/etc/ssl/certs/host-ca-bundle.crt "$VENV/bin/pip" install -q --disable-pip-version-check "$@"; }
if [ ! -x "$ROOT$VENV/bin/python3" ]; then
  say "python3 -m venv $VENV && pip install '/opt/maikit-src[core,worker]' (Debian's pip refuses a system-wide install: externally-managed-environment)"
  in_root /usr/bin/python3 -m venv "$VENV"
  pip_in_root "/opt/maikit-src[core,worker]" >"$WORK/pip.log" 2>&1 || die "pip install in the root failed (see $WORK/pip.log)"
else  # a root kept from an earlier run: this checkout's maikit again, its dependencies as they are
  say "reinstalling maikit from this checkout into the existing $VENV"
  pip_in_root --no-deps --force-reinstall /opt/maikit-src >"$WORK/pip.log" 2>&1 || die "pip install in the root failed (see $WORK/pip.log)"
  in_root "$VENV/bin/pip" check >>"$WORK/pip.log" 2>&1 || die "the root's venv misses dependencies (see $WORK/pip.log; --fresh rebuilds it)"
fi
say "installed in $(( $(date +%s) - t )) s (under emulation)"
check "no PyTorch in the core install" sh -c "! chroot '$ROOT' $VENV/bin/python -c 'import torch' 2>/dev/null"
in_root "$VENV/bin/pip" list --format=freeze >"$WORK/arm64-packages.txt"
say "arm64 packages: $(grep -iE '^(ai-edge-litert|numpy|opencv-python-headless)=' "$WORK/arm64-packages.txt" | tr '\n' ' ')"

# -- 4. a tiny model and two small images (made on x86), inspect and eval on both sides ----------
say "x86: a tiny isp/smallnet export (1x32x48x4 runtime file, dynamic fidelity file) and 2 synthetic 176x176 images"
mkdir -p "$WORK/root-work/state"
PYTHONPATH="$REPO/src" "$HOST_PY" - "$WORK/root-work/model" >"$WORK/export.log" 2>&1 <<'EOF' || die "the x86 export failed (see $WORK/export.log)"
import sys
from maikit.export import export_model
r = export_model("isp/smallnet", sys.argv[1], input_hw=(32, 48))
print("dynamic", r["dynamic"], "builtin kernels", r["dynamic_builtin_kernels"])
EOF
host_mai data synth isp --out "$WORK/root-work/data" --count 4 --val-fraction 0.5 --patch 176 --seed 3 >/dev/null 2>&1 \
  || die "mai data synth failed"
M=/work/model D=/work/data/val
for side in x86 arm64; do
  if [ "$side" = x86 ]; then run=(host_mai); pre="$WORK/root-work"; else run=(in_root mai); pre=/work; fi
  t=$(date +%s)
  "${run[@]}" inspect "$pre/model/model.tflite" --json >"$WORK/inspect-$side.json" 2>"$WORK/inspect-$side.err" || die "$side: mai inspect failed"
  for x in xnnpack no-xnnpack; do
    flag=(); [ "$x" = no-xnnpack ] && flag=(--no-xnnpack)
    "${run[@]}" eval "$pre/model" --task isp --data "$pre/data/val" --runs 3 --min-seconds 0 "${flag[@]}" --json \
      >"$WORK/eval-$side-$x.json" 2>"$WORK/eval-$side-$x.err" || die "$side: mai eval ${flag[*]} failed (see $WORK/eval-$side-$x.err)"
  done
  say "$side: inspect and eval (with and without XNNPACK) in $(( $(date +%s) - t )) s"
done
compare() {  # compare KIND: the arm64 output against the x86 one (paths and machine facts aside)
  "$HOST_PY" - "$WORK" "$1" <<'EOF'
import json, sys
work, kind = sys.argv[1], sys.argv[2]
if kind == "inspect":
    a, b = (json.load(open(f"{work}/inspect-{s}.json")) for s in ("x86", "arm64"))
    drop = lambda d: {k: v for k, v in d.items() if k not in ("file", "path")}  # noqa: E731
    ok = drop(a) == drop(b)
    print(f"inspect: {'identical' if ok else 'DIFFERENT'} ({a.get('op_count')} ops, {a.get('params')} params)")
    sys.exit(0 if ok else 1)
worst = 0.0
for x in ("xnnpack", "no-xnnpack"):
    a, b = (json.load(open(f"{work}/eval-{s}-{x}.json")) for s in ("x86", "arm64"))
    for m in [m for m in ("psnr", "ssim", "ms_ssim") if m in a]:
        d = abs(a[m] - b[m])
        worst = max(worst, d / max(abs(a[m]), 1e-12))
        print(f"eval {x:10} {m:8} x86 {a[m]:.10f}  arm64 {b[m]:.10f}  |diff| {d:.3g}")
    print(f"eval {x:10} arm64 delegate: {b['bench'].get('delegate')}")
ok = worst <= 1e-6
print(f"eval: largest relative difference {worst:.3g} ({'within' if ok else 'OUTSIDE'} 1e-6)")
sys.exit(0 if ok else 1)
EOF
}
check "mai inspect: arm64 output equals x86" compare inspect
check "mai eval: arm64 metrics equal x86 (with and without XNNPACK)" compare eval
check "XNNPACK applied on arm64 (the /sys files above)" "$HOST_PY" -c "
import json, sys; d = json.load(open('$WORK/eval-arm64-xnnpack.json'))['bench']['delegate']
print('arm64 runtime delegate:', d); sys.exit(0 if d and d['applied'] else 1)"

# -- 5. the platform: mai serve here, mai worker --once in the root ------------------------------
PORT=$(free_port)
SRV="$WORK/server"
say "x86: mai serve --demo --workers 0 on 127.0.0.1:$PORT (data in $SRV)"
MAI_SERVER_DRIFT_CONTROL=false PYTHONPATH="$REPO/src" "$HOST_PY" -m maikit serve --demo --workers 0 --data-dir "$SRV" \
  --port "$PORT" >"$WORK/serve.log" 2>&1 &
PIDS+=($!)
URL=http://127.0.0.1:$PORT
PYTHONPATH="$REPO/src" "$HOST_PY" - "$URL" "$SRV" "$WORK" >"$WORK/platform-setup.log" 2>&1 <<'EOF' || die "platform set-up failed (see $WORK/platform-setup.log, $WORK/serve.log)"
"""Wait for the server and its demo seeding, cancel the demo's queued work (this check's worker
must get this check's jobs), create the check's own challenge, submit the tiny model as alice."""
import json, subprocess, sys, time
from datetime import datetime, timedelta, timezone
from pathlib import Path
import httpx

url, srv, work = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
deadline = time.monotonic() + 900
while not (srv / "demo-tokens.json").is_file() or not (srv / "demo" / "seeded").exists():
    if time.monotonic() > deadline:
        break  # seeding may be gone from a later demo: cancel what is there
    time.sleep(1)
tokens = json.loads((srv / "demo-tokens.json").read_text())
org = {"Authorization": f"Bearer {tokens['organiser']}"}
with httpx.Client(base_url=url, headers=org, timeout=60) as c:
    for ch in c.get("/api/challenges").json():
        for ph in ch["phases"]:
            rows = c.get(f"/api/challenges/{ch['slug']}/phases/{ph['slug']}/export").json()["submissions"]
            for r in rows:
                if r["status"] not in ("Finished", "Failed", "Cancelled"):
                    c.post(f"/api/submissions/{r['id']}/cancel").raise_for_status()
                    print("cancelled demo submission", r["id"])
now = datetime.now(timezone.utc)
(work / "challenge.json").write_text(json.dumps({
    "slug": "aarch64-check", "title": "aarch64 check", "task": "isp", "description": "scripts/check-aarch64.sh",
    "data": {"validation": str(work / "root-work" / "data" / "val")},
    "protocol": {"device": "aarch64-qemu", "target": "cpu", "threads": 2, "warmup_runs": 0, "warmup_seconds": 0.0,
                 "min_runs": 3, "min_seconds": 0.0, "max_seconds": 120.0, "statistic": "avg"},
    "phases": [{"slug": "validation", "title": "Validation", "kind": "validation",
                "start": (now - timedelta(days=1)).isoformat(), "end": (now + timedelta(days=1)).isoformat(),
                "execution_time_limit_s": 1800}]}))
mai = [sys.executable, "-m", "maikit"]
subprocess.run(mai + ["challenge", "create", str(work / "challenge.json"), "--server", url, "--token", tokens["organiser"]], check=True)
out = subprocess.run(mai + ["submit", str(work / "root-work" / "model"), "--server", url, "--challenge", "aarch64-check",
                            "--token", tokens["participants"]["alice"], "--json"], check=True, capture_output=True, text=True).stdout
sub = json.loads(out)
(work / "submission.json").write_text(json.dumps({"id": sub["id"], "worker_token": tokens["worker"],
                                                  "organiser": tokens["organiser"], "alice": tokens["participants"]["alice"]}))
print("submitted", sub["id"], sub["status"])
EOF
read -r SUB WT ORG ALICE < <("$HOST_PY" -c "import json; d=json.load(open('$WORK/submission.json')); print(d['id'], d['worker_token'], d['organiser'], d['alice'])")
say "submission $SUB queued; arm64 worker: the fidelity job, then the runtime job"
for role in fidelity runtime; do
  t=$(date +%s)
  extra=(--data "aarch64-check=/work/data/val")
  [ "$role" = runtime ] && extra=(--device aarch64-qemu --backend litert-cpu --per-op-top 3 --health-every 3600)
  in_root mai worker --server "$URL" --token "$WT" --once --roles "$role" --name arm64-qemu --wait 5 "${extra[@]}" \
    >"$WORK/worker-$role.log" 2>&1 || die "arm64 mai worker --once ($role) failed (see $WORK/worker-$role.log)"
  say "arm64 worker: $role job done in $(( $(date +%s) - t )) s (under emulation)"
done
host_mai status "$SUB" --server "$URL" --token "$ALICE" --json >"$WORK/status.json"
check "platform: arm64 worker's metrics equal the x86 mai eval, the result says what ran" "$HOST_PY" - "$WORK" "$URL" "$ORG" <<'EOF'
import json, sys, httpx
work, url, org = sys.argv[1], sys.argv[2], sys.argv[3]
st = json.load(open(f"{work}/status.json"))
x86 = json.load(open(f"{work}/eval-x86-xnnpack.json"))
print("platform status:", st["status"], "score", st.get("score"))
ok = st["status"] == "Finished"
for m in [m for m in ("psnr", "ssim", "ms_ssim") if m in x86]:
    got = (st.get("metrics") or {}).get(m)
    same = got is not None and abs(got - x86[m]) <= 1e-6 * max(abs(x86[m]), 1e-12)
    ok &= same
    print(f"platform {m:8} arm64 worker {got}  x86 mai eval {x86[m]}  {'same' if same else 'DIFFERENT'}")
rows = httpx.get(f"{url}/api/challenges/aarch64-check/phases/validation/export",
                 headers={"Authorization": f"Bearer {org}"}).json()["submissions"]
run = rows[-1]["runtime"]
fp = rows[-1]["fingerprint"]
print("runtime fingerprint: machine", fp.get("machine"), "| cpu", fp.get("cpu"), "| delegate", fp.get("delegate"))
print("runtime delegate:", run.get("delegate"))
ok &= fp.get("machine") == "aarch64" and bool(run.get("delegate")) and fp.get("delegate") is not None
sys.exit(0 if ok else 1)
EOF

# -- 6. SSH into the root from here --------------------------------------------------------------
SSHP=$(free_port)
K="$WORK/root-work/ssh"
mkdir -p "$K" "$ROOT/run/sshd"
for name in host client; do ssh-keygen -q -t ed25519 -N "" -f "$K/$name"; done
cp "$K/client.pub" "$K/authorized_keys"
printf 'Port %s\nListenAddress 127.0.0.1\nHostKey /work/ssh/host\nPidFile /work/ssh/sshd.pid\nAuthorizedKeysFile /work/ssh/authorized_keys\nStrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nSubsystem sftp internal-sftp\n' \
  "$SSHP" >"$K/sshd_config"
chroot "$ROOT" /usr/sbin/sshd -D -e -f /work/ssh/sshd_config >"$WORK/sshd.log" 2>&1 &
PIDS+=($!)
echo "[127.0.0.1]:$SSHP $(cut -d' ' -f1-2 "$K/host.pub")" >"$K/known_hosts"
for _ in $(seq 120); do "$HOST_PY" -c "import socket; socket.create_connection(('127.0.0.1', $SSHP), 1)" 2>/dev/null && break; sleep 1; done
ssh_opts=(--backend ssh --option host=127.0.0.1 --option "port=$SSHP" --option user=root --option "identity=$K/client"
          --option "known_hosts=$K/known_hosts" --option remote_dir=/tmp/maikit)
say "ssh: measuring with remote_python=/usr/bin/python3 (no maikit there)"
host_mai device measure "$WORK/root-work/model/model.tflite" "${ssh_opts[@]}" --option remote_python=/usr/bin/python3 \
  --runs 1 --min-seconds 0 >"$WORK/ssh-missing.out" 2>&1 && die "a measurement without maikit on the board succeeded"
check "ssh: a Python without maikit is named as such" grep -q "maikit is not installed for /usr/bin/python3 on 127.0.0.1" "$WORK/ssh-missing.out"
t=$(date +%s)
host_mai device measure "$WORK/root-work/model/model.tflite" "${ssh_opts[@]}" --option "remote_python=$VENV/bin/python3" \
  --threads 2 --runs 3 --min-seconds 0 --warmup-runs 1 --json >"$WORK/ssh-measure.json" 2>"$WORK/ssh-measure.err" \
  || die "the SSH measurement failed (see $WORK/ssh-measure.err)"
say "ssh measurement done in $(( $(date +%s) - t )) s (under emulation)"
check "ssh: measured in the arm64 root, with the delegate that ran" "$HOST_PY" -c "
import json, sys; r = json.load(open('$WORK/ssh-measure.json')); fp = r['fingerprint']
print('ssh fingerprint: machine', fp['machine'], '| host', fp['host'], '| delegate', fp.get('delegate'), '| runs', r['runs'])
sys.exit(0 if fp['machine'] == 'aarch64' and r['runs'] == 3 and r.get('delegate') else 1)"

say "logs and outputs in $WORK"
if [ "$FAILED" = 0 ]; then say "every check passed (times above are qemu's, not a board's)"; else say "some checks FAILED"; fi
exit "$FAILED"
