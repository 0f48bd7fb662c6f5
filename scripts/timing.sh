# Step timings for .ci/run and scripts/test.sh (sourced, not run).
#
#   timed NAME CMD...     runs CMD; when LK_TIMINGS names a file, appends a line
#                         "NAME<TAB>start<TAB>seconds<TAB>status" to it (start: seconds since
#                         LK_TIMINGS_T0, the epoch second the run began). Returns CMD's status.
#   timing_record NAME START_EPOCH END_EPOCH STATUS
#                         appends a line for a span measured elsewhere (rtf's groups).
#   timing_table          prints the recorded steps as a table, and the wall time so far.
#   cpu_sampler FILE      (in the background) appends the machine's busy and idle CPU
#                         time of every minute to FILE, from /proc/stat.
#   cpu_summary FILE      prints the run's busy and idle CPU-seconds and the idle share of
#                         each minute: where a run waits instead of computing.
#
# Steps that overlap (the background package build) show their own start, so the table
# says what ran beside what.

timed() {
    local name=$1 t0 st=0
    shift
    t0=$(date +%s)
    "$@" || st=$?
    timing_record "$name" "$t0" "$(date +%s)" "$st"
    return "$st"
}

timing_record() {
    [ -n "${LK_TIMINGS:-}" ] || return 0
    local t0=${LK_TIMINGS_T0:-$2}
    printf '%s\t%s\t%s\t%s\n' "$1" $(($2 - t0)) $(($3 - $2)) "$4" >> "$LK_TIMINGS"
}

timing_table() {
    [ -n "${LK_TIMINGS:-}" ] && [ -s "$LK_TIMINGS" ] || return 0
    local now t0=${LK_TIMINGS_T0:-0}
    now=$(date +%s)
    echo "== timings (start and time in seconds; start counts from the beginning of the run)"
    printf '| %-44s | %6s | %6s | %-6s |\n' step start time result
    printf '|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..46})" "--------" "--------" "--------"
    while IFS=$'\t' read -r name start secs st; do
        local res=ok
        [ "$st" = 0 ] || res="exit $st"
        printf '| %-44s | %6s | %6s | %-6s |\n' "$name" "$start" "$secs" "$res"
    done < "$LK_TIMINGS"
    printf '| %-44s | %6s | %6s | %-6s |\n' "whole run (wall clock)" 0 $((now - t0)) ""
}

# cpu_jiffies: "busy idle" CPU time of the whole machine so far, in clock ticks.
cpu_jiffies() {
    awk '$1 == "cpu" { idle = $5 + $6; busy = 0; for (i = 2; i <= 9; i++) busy += $i; print busy - idle, idle }' /proc/stat
}

cpu_sampler() {
    local busy idle b0 i0
    read -r b0 i0 < <(cpu_jiffies)
    while sleep 60; do
        read -r busy idle < <(cpu_jiffies)
        printf '%s\t%s\n' $((busy - b0)) $((idle - i0)) >> "$1"
        b0=$busy i0=$idle
    done
}

cpu_summary() {
    [ -s "$1" ] || return 0
    local hz
    hz=$(getconf CLK_TCK)
    awk -v hz="$hz" -v cores="$(nproc)" '
        { busy += $1; idle += $2; pct = ($1 + $2) ? int(100 * $2 / ($1 + $2) + 0.5) : 0; shares = shares " " pct }
        END {
            printf "== CPU over the run (%d cores): %d CPU-s busy, %d CPU-s idle\n", cores, busy / hz, idle / hz
            print "idle % of each minute:" shares
        }' "$1"
}
