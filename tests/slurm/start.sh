#!/usr/bin/env bash
# A real one-node Slurm cluster on localhost for tests/test_slurm.py (Debian packages, run as root).
#
#   bash tests/slurm/start.sh          install what is missing, (re)write the config, start, wait
#   bash tests/slurm/start.sh stop     stop the daemons this script started
#   bash tests/slurm/start.sh status   exit 0 when the node answers and is idle or busy
#
# Daemons: munged (authentication), mariadb + slurmdbd (job accounting, so that `sacct` -- the
# slurm executor plugin's default status command -- answers), slurmctld and slurmd. The node has
# the machine's CPUs and memory and a GRES `gpu` of stand-in devices (empty files), so jobs that ask
# for `--gpus=1` are scheduled like on a GPU node. SLURM_TEST_ACCOUNTING=0 leaves accounting off
# (no mariadb/slurmdbd), the configuration under which the plugin's jobs finish but Snakemake waits
# forever (README, "On a cluster").
# Idempotent: running it again with the cluster up changes nothing; the config files are rewritten
# and the daemons restarted only when their content changes.
set -euo pipefail

ACCOUNTING=${SLURM_TEST_ACCOUNTING:-1}
NGPUS=${SLURM_TEST_GPUS:-2}
# jobs land in the default partition `debug` unless they ask for `gpu` (same node), and are charged
# to root's default account `root` unless they ask for `dynloss`: so a test can see that the
# profile's slurm_account / slurm_partition reached sbatch
ACCOUNT=dynloss
PARTITION=gpu
STATE=/var/lib/dynloss-slurm          # pid files, logs, spool, the database files
CONF=/etc/slurm

log() { echo "[slurm-test] $*" >&2; }

running() {  # the daemon of this pid file is alive (and the pid was not reused by another program)
  local pid
  [[ -f "$STATE/$1.pid" ]] || return 1
  pid=$(cat "$STATE/$1.pid")
  [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$1"* ]]
}

stop_one() {  # stop one daemon that this script started, by its pid file
  local name=$1 pid
  running "$name" || { rm -f "$STATE/$name.pid"; return 0; }
  pid=$(cat "$STATE/$name.pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
  rm -f "$STATE/$name.pid"
}

stop_all() {
  for name in slurmd slurmctld slurmdbd mariadb munged; do stop_one "$name"; done
  log "stopped"
}

node_ready() {  # the node is registered and can take jobs
  local s
  s=$(sinfo -h -N -o '%t' 2>/dev/null | head -1) || return 1
  [[ "$s" == idle || "$s" == mix || "$s" == alloc ]]  # a trailing '*' means not responding
}

case "${1:-start}" in
  stop) stop_all; exit 0 ;;
  status) node_ready && exit 0 || exit 1 ;;
  start) ;;
  *) echo "usage: $0 [start|stop|status]: unknown command '$1'" >&2; exit 2 ;;
esac

[[ $(id -u) == 0 ]] || { echo "tests/slurm/start.sh must run as root (it starts munged and the Slurm daemons)" >&2; exit 1; }

# --- packages ------------------------------------------------------------------------------------
pkgs=(slurm-wlm munge)
if [[ "$ACCOUNTING" == 1 ]]; then pkgs+=(slurmdbd mariadb-server); fi
missing=()
for p in "${pkgs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

mkdir -p "$STATE"/{log,spool/ctld,spool/d,mysql} "$CONF" /run/munge /run/mysqld
chown munge:munge /run/munge
chmod 0755 /run/munge
if [[ ! -f /etc/munge/munge.key ]]; then  # the package's postinst normally creates it
  mungekey --create --keyfile=/etc/munge/munge.key
  chown munge:munge /etc/munge/munge.key
  chmod 0400 /etc/munge/munge.key
fi

# --- configuration -------------------------------------------------------------------------------
HOST=$(hostname -s)
CPUS=$(nproc)
MEM=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)

new_conf() {  # write $2 (content on stdin) to $1 if different; print "changed" when it was
  local tmp
  tmp=$(mktemp)
  cat > "$tmp"
  if [[ -f "$1" ]] && cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv "$tmp" "$1"; chmod "$2" "$1"; echo changed; fi
}

if [[ "$ACCOUNTING" == 1 ]]; then
  ACCT_LINES="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819
AccountingStorageEnforce=associations
AccountingStorageTRES=gres/gpu"
else
  ACCT_LINES="AccountingStorageType=accounting_storage/none"
fi

changed=""
changed+=$(new_conf "$CONF/slurm.conf" 0644 <<EOF
# written by dynloss tests/slurm/start.sh: a one-node test cluster on localhost
ClusterName=dynloss
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
GresTypes=gpu
StateSaveLocation=$STATE/spool/ctld
SlurmdSpoolDir=$STATE/spool/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
ReturnToService=2
MinJobAge=300
SchedulerType=sched/backfill
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
$ACCT_LINES
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM Gres=gpu:$NGPUS State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
PartitionName=$PARTITION Nodes=$HOST Default=NO MaxTime=INFINITE State=UP
EOF
)
# Stand-in GPUs: slurmd drops a gpu GRES without device files ("Removing file-less GPU"), so each
# one is an empty regular file. With TaskPlugin=task/none nothing opens or constrains them; a job
# only gets CUDA_VISIBLE_DEVICES set, which a CPU-only JAX ignores.
for i in $(seq 0 $((NGPUS - 1))); do touch "$STATE/gpu$i"; done
changed+=$(new_conf "$CONF/gres.conf" 0644 <<EOF
NodeName=$HOST Name=gpu File=$STATE/gpu[0-$((NGPUS - 1))]
EOF
)
dbd_changed=""
if [[ "$ACCOUNTING" == 1 ]]; then
  dbd_changed=$(new_conf "$CONF/slurmdbd.conf" 0600 <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdPort=6819
SlurmUser=root
PidFile=$STATE/slurmdbd.pid
LogFile=$STATE/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageLoc=slurm_acct_db
StorageUser=root
EOF
)
fi

if [[ -n "$changed$dbd_changed" ]]; then
  log "configuration changed: restarting the Slurm daemons"
  stop_one slurmd; stop_one slurmctld
  if [[ -n "$dbd_changed" ]]; then stop_one slurmdbd; fi
fi
if [[ "$ACCOUNTING" != 1 ]]; then stop_one slurmdbd; stop_one mariadb; fi

# --- daemons -------------------------------------------------------------------------------------
if ! running munged; then
  runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid --force
  cp /run/munge/munged.pid "$STATE/munged.pid"
fi

wait_for() {  # wait_for SECONDS WHAT COMMAND...
  local secs=$1 what=$2
  shift 2
  for _ in $(seq $((secs * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  log "timed out after ${secs}s waiting for $what; logs in $STATE/log"
  tail -n 20 "$STATE"/log/*.log >&2 || true
  return 1
}

if [[ "$ACCOUNTING" == 1 ]]; then
  if ! running mariadb; then
    if [[ ! -d "$STATE/mysql/mysql" ]]; then
      mariadb-install-db --user=root --datadir="$STATE/mysql" --auth-root-authentication-method=normal \
        > "$STATE/log/mariadb-install.log" 2>&1
    fi
    # the default socket (/run/mysqld/mysqld.sock), where slurmdbd's client library looks for
    # StorageHost=localhost; no TCP port
    mariadbd --user=root --datadir="$STATE/mysql" --skip-networking --pid-file="$STATE/mariadb.pid" \
      --log-error="$STATE/log/mariadb.log" --innodb-buffer-pool-size=64M > /dev/null 2>&1 &
    wait_for 60 mariadb mariadb-admin -uroot ping
  fi
  if ! running slurmdbd; then
    slurmdbd
    wait_for 60 slurmdbd sacctmgr -n list cluster
  fi
fi

if ! running slurmctld; then slurmctld; fi
if ! running slurmd; then slurmd; fi

if [[ "$ACCOUNTING" == 1 ]]; then
  # the cluster registers itself with slurmdbd; then one account with root as its user
  wait_for 60 "cluster registration" bash -c "sacctmgr -n -P list cluster format=cluster | grep -qx dynloss"
  sacctmgr -i -Q add account "$ACCOUNT" Description=dynloss-tests Organization=dynloss >/dev/null 2>&1 || true
  sacctmgr -i -Q add user root Account="$ACCOUNT" >/dev/null 2>&1 || true
  sacctmgr -i -Q modify user root set DefaultAccount=root >/dev/null 2>&1 || true
fi

# a node left DOWN or DRAINED (e.g. by a restart with another config) comes back when told
if sinfo -h -N -o '%t' 2>/dev/null | grep -qE 'down|drain'; then
  scontrol update NodeName="$HOST" State=RESUME >/dev/null 2>&1 || true
fi
wait_for 60 "the node to become idle" node_ready
log "up: node $HOST, $CPUS CPUs, ${MEM} MB, gpu:$NGPUS, partitions debug (default) and $PARTITION, accounting=$ACCOUNTING"
sinfo
