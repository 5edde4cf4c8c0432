# Sourced by the run-*-bench.sh scripts: how busy the machine is, so that a benchmark phase waits
# for other processes to go idle and can tell afterwards how much CPU they took meanwhile.
clk=$(getconf CLK_TCK)
ncpu=$(nproc)
busy_ticks() { awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat; }   # user nice system irq softirq, all cores
# CPU ticks of shell $1's finished children (cutime + cstime: whole process trees, once waited for)
own_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $14 + $15}'; }
wait_idle() { # until the whole machine is under 10% busy over 2 s, for at most 120 s
  local waited=0 b0 b1
  while :; do
    b0=$(busy_ticks); sleep 2; b1=$(busy_ticks)
    if [ $(( (b1 - b0) * 100 )) -lt $(( 2 * clk * ncpu * 10 )) ]; then return 0; fi
    waited=$((waited + 2))
    if [ $waited -ge 120 ]; then echo "   (machine still busy after 120 s; measuring anyway)"; return 0; fi
    [ $waited -eq 2 ] && echo "   waiting for other processes to go idle..."
  done
}

# The fields of machine.json both reports share (date, host, CPU, memory, kernel, JDK), one per
# line with a trailing comma; the caller adds its own after them. Needs $date, $host_kind, $ncpu,
# $JAVA_HOME.
machine_fields() {
  cat <<EOF
  "date": "$date",
  "host_kind": "$host_kind",
  "nproc": $ncpu,
  "cpu": "$(grep -m1 '^model name' /proc/cpuinfo | sed 's/^[^:]*: *//; s/"/\\"/g')",
  "memory": "$(awk '/^MemTotal/{printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)",
  "kernel": "$(uname -sr)",
  "jdk": "$("$JAVA_HOME/bin/java" -version 2>&1 | sed -n 2p | sed 's/"/\\"/g')",
EOF
}
