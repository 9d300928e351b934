#!/usr/bin/env bash
# Install, configure and start a one-node SLURM cluster on localhost (Debian 12, as root,
# no systemd as PID 1: daemons are started directly). Idempotent: re-running restarts nothing
# that is already up and rewrites configs only when they changed.
# Exit 0 only when `sbatch --wrap hostname` finishes and `sacct -j <id>` reports COMPLETED.
# Env: SLURM_CLUSTER (default deepdraw), SLURM_DB_PASS (default slurmdbpass), SKIP_APT=1.
set -euo pipefail
die() { echo "start_local_slurm: ERROR: $*" >&2; exit 1; }
log() { echo "start_local_slurm: $*"; }
[ "$(id -u)" = 0 ] || die "must run as root"
T0=$(date +%s)
CLUSTER=${SLURM_CLUSTER:-deepdraw}
DBPASS=${SLURM_DB_PASS:-slurmdbpass}
HOST=$(hostname -s)

# 1. packages
missing=0
for c in slurmctld slurmd slurmdbd munged mariadbd sbatch; do command -v "$c" >/dev/null || missing=1; done
if [ "$missing" = 1 ] && [ "${SKIP_APT:-0}" != 1 ]; then
  log "installing packages (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed"
  apt-get install -y -qq munge mariadb-server slurmctld slurmd slurmdbd slurm-client >/dev/null \
    || die "apt-get install failed"
fi

# 2. munge
[ -s /etc/munge/munge.key ] || { /usr/sbin/mungekey --create --force 2>/dev/null \
  || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none; }
chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
mkdir -p /run/munge /var/log/munge /var/lib/munge; chown munge:munge /run/munge /var/log/munge /var/lib/munge
if ! pgrep -u munge -x munged >/dev/null; then
  log "starting munged"; runuser -u munge -- /usr/sbin/munged || die "munged failed to start"
fi
munge -n | unmunge >/dev/null || die "munge round trip failed"

# 3. MariaDB (sysv init script works without systemd)
if ! mariadb-admin ping >/dev/null 2>&1; then
  log "starting MariaDB"; /etc/init.d/mariadb start >/dev/null || die "MariaDB failed to start"
fi
for _ in $(seq 30); do mariadb-admin ping >/dev/null 2>&1 && break; sleep 1; done
mariadb -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
 CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '${DBPASS}';
 GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;" || die "MariaDB setup failed"

# 4. configuration
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/slurm
chown slurm:slurm /var/spool/slurmctld /var/log/slurm /run/slurm
CPUS=$(nproc)
MEM=$(awk '/MemTotal/{print int($2/1024*0.9)}' /proc/meminfo)   # 90% of RAM, MiB
write_if_changed() { # path mode owner ; content on stdin
  local tmp; tmp=$(mktemp); cat >"$tmp"
  if ! cmp -s "$tmp" "$1"; then install -m "$2" -o "$3" -g "$3" "$tmp" "$1"; CHANGED=1; fi
  rm -f "$tmp"; }
CHANGED=0
write_if_changed /etc/slurm/slurm.conf 644 root <<CONF
ClusterName=${CLUSTER}
SlurmctldHost=${HOST}
SlurmUser=slurm
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MpiDefault=none
GresTypes=gpu
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStorageTRES=gres/gpu
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
MinJobAge=300
DefMemPerCPU=1000
NodeName=${HOST} NodeAddr=127.0.0.1 CPUs=${CPUS} RealMemory=${MEM} Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes=${HOST} Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=${HOST} MaxTime=INFINITE State=UP
CONF
# No real GPU: one fake GPU backed by /dev/null so --gres=gpu:1 / --gpus=1 jobs can be scheduled.
write_if_changed /etc/slurm/gres.conf 644 root <<CONF
NodeName=${HOST} Name=gpu File=/dev/null
CONF
write_if_changed /etc/slurm/slurmdbd.conf 600 slurm <<CONF
AuthType=auth/munge
DbdHost=localhost
SlurmUser=slurm
PidFile=/run/slurm/slurmdbd.pid
LogFile=/var/log/slurm/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=${DBPASS}
StorageLoc=slurm_acct_db
CONF
if [ "$CHANGED" = 1 ]; then log "configuration written; restarting slurm daemons";
  for d in slurmd slurmctld slurmdbd; do pkill -x "$d" 2>/dev/null || true; done; sleep 2; fi

# 5. daemons
if ! pgrep -x slurmdbd >/dev/null; then log "starting slurmdbd"; /usr/sbin/slurmdbd || die "slurmdbd failed (see /var/log/slurm/slurmdbd.log)"; fi
for _ in $(seq 30); do sacctmgr -n list cluster >/dev/null 2>&1 && break; sleep 1; done
sacctmgr -n list cluster >/dev/null 2>&1 || die "slurmdbd not answering (see /var/log/slurm/slurmdbd.log)"
sacctmgr -n -P list cluster format=cluster | grep -qx "$CLUSTER" || sacctmgr -i add cluster "$CLUSTER" >/dev/null
sacctmgr -n -P list account format=account | grep -qx deepdraw || sacctmgr -i add account deepdraw Cluster="$CLUSTER" Description=deepdraw Organization=deepdraw >/dev/null
for u in root ${SUDO_USER:-}; do
  sacctmgr -n -P list assoc user="$u" account=deepdraw format=account | grep -qx deepdraw \
    || sacctmgr -i add user "$u" Account=deepdraw DefaultAccount=deepdraw >/dev/null
done
if ! pgrep -x slurmctld >/dev/null; then log "starting slurmctld"; /usr/sbin/slurmctld || die "slurmctld failed (see /var/log/slurm/slurmctld.log)"; fi
if ! pgrep -x slurmd >/dev/null; then log "starting slurmd"; /usr/sbin/slurmd || die "slurmd failed (see /var/log/slurm/slurmd.log)"; fi
for _ in $(seq 30); do sinfo -h -o %T 2>/dev/null | grep -Eq '^(idle|mixed|allocated)' && break; sleep 1; done
sinfo -h -o %T | grep -Eq '^(idle|mixed|allocated)' || { scontrol update nodename="$HOST" state=resume 2>/dev/null || true; sleep 2; }
sinfo -h -o %T | grep -Eq '^(idle|mixed|allocated)' || die "node not idle: $(sinfo -N -h -o '%N %T %E')"

# 6. proof: a job runs and accounting records it
JOB=$(sbatch --parsable --wrap hostname -o /dev/null) || die "sbatch failed"
STATE=""
for _ in $(seq 60); do
  STATE=$(sacct -n -X -P -j "$JOB" -o State 2>/dev/null | head -1)
  case "$STATE" in COMPLETED|FAILED|CANCELLED*|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY) break;; esac; sleep 1
done
[ "$STATE" = COMPLETED ] || die "test job $JOB state '${STATE:-none}' (sacct), expected COMPLETED"
GJOB=$(sbatch --parsable -p gpu --gres=gpu:1 --wrap 'echo gpu' -o /dev/null) || die "sbatch --gres=gpu:1 failed"
for _ in $(seq 60); do
  STATE=$(sacct -n -X -P -j "$GJOB" -o State 2>/dev/null | head -1); [ "$STATE" = COMPLETED ] && break; sleep 1; done
[ "$STATE" = COMPLETED ] || die "gpu test job $GJOB state '${STATE:-none}', expected COMPLETED"
log "OK: job $JOB and gpu job $GJOB COMPLETED per sacct; cluster=$CLUSTER node=$HOST cpus=$CPUS mem=${MEM}M; took $(( $(date +%s) - T0 )) s"
