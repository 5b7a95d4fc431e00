# shellcheck shell=bash
# Timed steps, for .ci/run and tests/run.sh: every step's wall time is
# printed at the end of the run, so the cost of a change shows in every log.
#   timed NAME CMD...   run CMD; record NAME, its seconds and its exit status
#   timed_report TITLE  print one line per step, then the total
STEPS_TIMED=()
STEPS_STARTED=$SECONDS

timed() { # NAME CMD...
    local name=$1 start=$SECONDS status=0
    shift
    "$@" || status=$?
    STEPS_TIMED+=("$((SECONDS - start))|$status|$name")
    return "$status"
}

timed_report() { # TITLE
    local entry seconds status name result
    printf '\n== %s: seconds per step\n' "$1"
    for entry in "${STEPS_TIMED[@]}"; do
        IFS='|' read -r seconds status name <<<"$entry"
        case $status in
        0) result=ok ;;
        77) result=skipped ;;
        *) result="failed ($status)" ;;
        esac
        printf '%6d  %-12s %s\n' "$seconds" "$result" "$name"
    done
    printf '%6d  total (%d min %d s)\n' "$((SECONDS - STEPS_STARTED))" \
        "$(((SECONDS - STEPS_STARTED) / 60))" "$(((SECONDS - STEPS_STARTED) % 60))"
}
