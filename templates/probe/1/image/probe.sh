#!/bin/sh
# The isolation proof. Runs inside the hardened scenario container, as the scenario would, and
# reports what it actually sees and can do, as one line of JSON written to /work/probe.json (an
# evidence path) and printed on stdout. It never decides pass or fail: the scorer does that,
# outside this container, from this report and the engine's own inspect of the container.
#
# The fork bomb and the memory hog run as child processes, bounded in count and size, so the
# probe always finishes: the bomb forks until the kernel refuses, then its EXIT trap kills every
# child it started; the hog asks for four times the memory limit and is expected to be OOM-killed.
# While the bomb holds every pid, this shell must not fork (a busybox shell that cannot fork
# exits), so from the bomb until the pids are free again it uses builtins only.
OUT=/work/probe.json
trap 'exit 0' TERM INT

# Numbers go into the JSON as they are, anything else as null: the report stays valid JSON.
num() { case "$1" in '' | *[!0-9]*) echo null ;; *) echo "$1" ;; esac; }
# "key value" counter files (pids.events, memory.events, memory.oom_control): value of one key.
counter() {
  [ -r "$1" ] || { echo ''; return; }
  while read -r k v; do [ "$k" = "$2" ] && { echo "$v"; return; }; done < "$1"
  echo ''
}

uid=$(id -u)
gid=$(id -g)

ifaces=''
for i in $(ls /sys/class/net 2>/dev/null); do ifaces="$ifaces${ifaces:+,}\"$i\""; done

if touch /.arbiter-probe 2>/dev/null; then root_writable=true; rm -f /.arbiter-probe; else root_writable=false; fi
if touch /work/.arbiter-probe 2>/dev/null; then work_writable=true; rm -f /work/.arbiter-probe; else work_writable=false; fi

# This shell's own status: the same credentials, capabilities and filters as the scenario.
cap_eff='' cap_bnd='' nnp='' seccomp=''
while read -r k v; do
  case $k in
    CapEff:) cap_eff=$v ;;
    CapBnd:) cap_bnd=$v ;;
    NoNewPrivs:) nnp=$v ;;
    Seccomp:) seccomp=$v ;;
  esac
done < /proc/$$/status

# gVisor answers dmesg with its own boot messages; runc refuses dmesg to an unprivileged user.
gvisor=false
dmesg 2>/dev/null | grep -q gVisor && gvisor=true

if [ -r /sys/fs/cgroup/pids/pids.max ]; then
  cgroup=v1
  PIDS_MAX=/sys/fs/cgroup/pids/pids.max PIDS_CUR=/sys/fs/cgroup/pids/pids.current PIDS_EVENTS=/sys/fs/cgroup/pids/pids.events
  MEM_MAX=/sys/fs/cgroup/memory/memory.limit_in_bytes MEM_EVENTS=/sys/fs/cgroup/memory/memory.oom_control
else
  cgroup=v2
  PIDS_MAX=/sys/fs/cgroup/pids.max PIDS_CUR=/sys/fs/cgroup/pids.current PIDS_EVENTS=/sys/fs/cgroup/pids.events
  MEM_MAX=/sys/fs/cgroup/memory.max MEM_EVENTS=/sys/fs/cgroup/memory.events
fi
pids_max=$(cat $PIDS_MAX 2>/dev/null)
mem_max=$(cat $MEM_MAX 2>/dev/null)

# --- fork bomb --------------------------------------------------------------------------------
hits_before=$(counter $PIDS_EVENTS max)
read -r pids_before < $PIDS_CUR 2>/dev/null
rm -f /work/.bomb
sh -c 'n=0; trap "kill \$kids 2>/dev/null; echo \$n > /work/.bomb" EXIT
  while [ $n -lt 4096 ]; do sleep 60 & kids="$kids $!"; n=$((n + 1)); done' 2>/dev/null &
wait $!
bomb_rc=$?
started=''
read -r started < /work/.bomb 2>/dev/null
# Builtins only until the killed children are reaped and the pid count is back where it was.
tries=0
while [ $tries -lt 200000 ]; do
  read -r cur < $PIDS_CUR 2>/dev/null || break
  [ "${cur:-0}" -le "${pids_before:-1}" ] && break
  tries=$((tries + 1))
done
hits_after=$(counter $PIDS_EVENTS max)
if [ $bomb_rc -ne 0 ] && [ -n "$started" ] && [ "$started" -lt 4096 ]; then refused=true; else refused=false; fi
pids_hits=null
[ -n "$hits_before" ] && [ -n "$hits_after" ] && pids_hits=$((hits_after - hits_before))

# --- memory hog -------------------------------------------------------------------------------
oom_before=$(counter $MEM_EVENTS oom_kill)
hog_rc=null
case $mem_max in
  '' | *[!0-9]*) ;;
  *)
    # Only under a real limit (at most 1 GiB): asking for four times the limit must not be able
    # to take the host down if the limit were somehow missing.
    if [ "$mem_max" -le 1073741824 ]; then
      (x=$(head -c $((mem_max * 4)) /dev/zero | tr '\0' a); echo "${#x}") > /dev/null 2>&1
      hog_rc=$?
    fi
    ;;
esac
oom_after=$(counter $MEM_EVENTS oom_kill)
oom_kills=null
[ -n "$oom_before" ] && [ -n "$oom_after" ] && oom_kills=$((oom_after - oom_before))

report=$(printf '{"probe":1,"uid":%s,"gid":%s,"interfaces":[%s],"rootWritable":%s,"workWritable":%s,"capEff":"%s","capBnd":"%s","noNewPrivs":%s,"seccomp":%s,"gvisor":%s,"cgroup":"%s","forkBomb":{"refused":%s,"started":%s,"pidsMax":%s,"pidsLimitHits":%s},"memoryHog":{"exitCode":%s,"oomKills":%s,"memoryLimitBytes":%s}}' \
  "$(num "$uid")" "$(num "$gid")" "$ifaces" "$root_writable" "$work_writable" "$cap_eff" "$cap_bnd" \
  "$(num "$nnp")" "$(num "$seccomp")" "$gvisor" "$cgroup" \
  "$refused" "$(num "$started")" "$(num "$pids_max")" "$pids_hits" \
  "$hog_rc" "$oom_kills" "$(num "$mem_max")")
printf '%s\n' "$report" > $OUT.tmp && mv $OUT.tmp $OUT
echo "arbiter-probe: $report"

# Then idle until the scenario ends, like any scenario (see templates/hello for why sleep is backgrounded).
while :; do
  sleep 1 &
  wait $!
done
