#!/bin/sh
# check-config.sh CONFIG FRAGMENT...: fails naming each fragment line the final .config did not keep
# (an option whose dependencies are off is dropped silently by olddefconfig).
set -eu
cfg=$1; shift
bad=0
for f in "$@"; do
    while IFS= read -r line; do
        case "$line" in
            CONFIG_*=*)
                grep -qxF "$line" "$cfg" || { echo "$f: wanted $line, got: $(grep -E "^(# )?${line%%=*}[= ]" "$cfg" || echo absent)"; bad=1; } ;;
            "# CONFIG_"*" is not set")
                o=${line#\# }; o=${o%% *}
                if grep -qE "^$o=" "$cfg"; then echo "$f: wanted $o off, got: $(grep -E "^$o=" "$cfg")"; bad=1; fi ;;
        esac
    done < "$f"
done
exit $bad
